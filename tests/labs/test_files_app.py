"""Lesson 09's uploads (labs/apps/files_app.py): on the instance's disk ("memory") or in S3
("shared"), through the Flask test client.

Sessions live in the ``store`` fixture's Redis (fakeredis, or the real server of ``REDIS_URL``);
files in the "shared" state go to the S3 of the §5 rule (``S3_ENDPOINT_URL``, else the one
embedded server of this process), under a key prefix of each test's own, deleted afterwards.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from lab_stores import SECRETS
from werkzeug.test import TestResponse

from labs import object_store
from labs.apps import files_app
from labs.apps.files_app import INLINE_TYPES, content_disposition
from labs.apps.web import MAX_BODY_BYTES
from labs.cluster.process import free_port

ROOT = Path(__file__).resolve().parents[2]
ALL_BYTES = bytes(range(256)) * 4 + os.urandom(3000)  # every byte value, and then some


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its objects are deleted when the test ends."""
    name = f"test-files-{uuid.uuid4().hex[:10]}"
    yield name + ":"
    try:
        s3 = object_store.get_s3()
        object_store.delete_prefix(s3, object_store.bucket_name(), name)
    except Exception:  # a test that broke S3 on purpose has nothing to delete
        pass


@pytest.fixture
def uploads_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where "memory" instances make their directories during this test (the local disk)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture
def make_app(store: redis.Redis, prefix: str, uploads_dir: Path) -> Callable[..., Flask]:
    """``make_app(instance, state, **config)``: an instance on the shared Redis (and S3)."""

    def make(instance: str = "A", state: str = "shared", **config: object) -> Flask:
        settings = {**SECRETS, "STATE": state, "KEY_PREFIX": prefix, **config}
        app = files_app.create_app(instance, redis=store, config=settings)
        app.testing = True
        return app

    return make


def logged_in(app: Flask, user: str = "alice", password: str = "wonderland") -> FlaskClient:
    client = app.test_client()
    answer = client.post("/login", json={"username": user, "password": password})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return client


def upload(
    client: FlaskClient,
    data: bytes = b"hello, stateless",
    name: str = "hello.txt",
    content_type: str | None = "text/plain",
) -> TestResponse:
    part = (
        (io.BytesIO(data), name) if content_type is None else (io.BytesIO(data), name, content_type)
    )
    return client.post("/files", data={"file": part})


def uploaded(client: FlaskClient, **kwargs: object) -> str:
    """Upload; the file's url."""
    answer = upload(client, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["url"]


def raw_multipart(content: bytes, name: str = "a.bin", boundary: str = "b") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


def chunked(client: FlaskClient, body: bytes) -> TestResponse:
    """POST ``body`` with no Content-Length, from a server that marks where it ends (gunicorn)."""
    return client.open(
        "/files",
        method="POST",
        environ_overrides={
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "CONTENT_TYPE": "multipart/form-data; boundary=b",
            "HTTP_TRANSFER_ENCODING": "chunked",
        },
    )


def assert_error(answer: TestResponse, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.is_json and list(answer.get_json()) == ["error"]
    return answer.get_json()["error"]


class Listener:
    """A TCP port that counts the connections made to it and closes each at once."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # no credential lookups: straight to S3
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    running = Listener()
    yield running
    running.close()


STATES = pytest.mark.parametrize("state", files_app.STATES)


# --- the happy path, in both states --------------------------------------------------------------


@STATES
def test_an_upload_answers_201_with_its_id_and_url(
    make_app: Callable[..., Flask], state: str
) -> None:
    answer = upload(logged_in(make_app("A", state)))
    assert answer.status_code == 201
    body = answer.get_json()
    assert list(body) == ["file_id", "url"]
    assert files_app.FILE_ID.fullmatch(body["file_id"])  # token_urlsafe(16): 22 characters
    assert body["url"] == f"/files/{body['file_id']}" == answer.headers["Location"]
    assert answer.headers["X-Instance"] == "A"


@STATES
def test_binary_data_round_trips_byte_for_byte(make_app: Callable[..., Flask], state: str) -> None:
    client = logged_in(make_app("A", state))
    url = uploaded(client, data=ALL_BYTES, name="noise.png", content_type="image/png")
    answer = make_app("A", state).test_client().get(url) if state == "shared" else client.get(url)
    assert answer.status_code == 200
    assert answer.data == ALL_BYTES
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Content-Length"] == str(len(ALL_BYTES))


@STATES
def test_an_empty_file_and_a_file_of_exactly_the_limit_are_accepted(
    make_app: Callable[..., Flask], state: str
) -> None:
    client = logged_in(make_app("A", state, MAX_UPLOAD_BYTES=5000))
    for data in (b"", b"z" * 5000):
        url = uploaded(client, data=data, name="f.bin", content_type="application/octet-stream")
        assert client.get(url).data == data


@STATES
def test_reading_needs_no_login_the_id_is_the_capability(
    make_app: Callable[..., Flask], state: str
) -> None:
    app = make_app("A", state)
    url = uploaded(logged_in(app))
    stranger = app.test_client()
    assert stranger.get("/me").status_code == 401
    assert stranger.get(url).data == b"hello, stateless"


def test_ids_are_fresh_for_every_upload_so_nothing_is_overwritten(
    make_app: Callable[..., Flask],
) -> None:
    client = logged_in(make_app("A", "shared"))
    first = uploaded(client, data=b"one")
    second = uploaded(client, data=b"two")
    assert first != second
    assert client.get(first).data == b"one" and client.get(second).data == b"two"


# --- across instances, and across a restart ------------------------------------------------------


def test_shared_any_instance_serves_a_file_another_stored(make_app: Callable[..., Flask]) -> None:
    url = uploaded(logged_in(make_app("A", "shared")))
    answer = make_app("B", "shared").test_client().get(url)
    assert answer.status_code == 200
    assert answer.data == b"hello, stateless"
    assert answer.headers["X-Instance"] == "B"


def test_memory_another_instance_answers_404(make_app: Callable[..., Flask]) -> None:
    a, b = make_app("A", "memory"), make_app("B", "memory")
    url = uploaded(logged_in(a))
    assert a.test_client().get(url).status_code == 200  # it is there, on A's disk
    assert_error(b.test_client().get(url), 404)  # B has a disk of its own


def test_shared_a_restarted_instance_still_serves_the_file(
    make_app: Callable[..., Flask],
) -> None:
    url = uploaded(logged_in(make_app("A", "shared")))
    restarted = make_app("A", "shared")  # a new app object: a new process's memory
    assert restarted.test_client().get(url).status_code == 200


def test_memory_a_restarted_instance_has_a_new_empty_directory(
    make_app: Callable[..., Flask], uploads_dir: Path
) -> None:
    first = make_app("A", "memory")
    url = uploaded(logged_in(first))
    directory = Path(first.extensions["files"]["files"].directory)
    assert directory.parent == uploads_dir and directory.name.startswith("sbd-uploads-")
    restarted = make_app("A", "memory")
    assert_error(restarted.test_client().get(url), 404)
    url_2 = uploaded(logged_in(restarted))
    assert Path(restarted.extensions["files"]["files"].directory) != directory
    assert restarted.test_client().get(url_2).status_code == 200


def test_memory_the_upload_directory_is_removed_when_the_process_exits(tmp_path: Path) -> None:
    # A real process: upload, then exit normally; its directory under TMPDIR must be gone.
    script = """
import io, sys, fakeredis
from labs.apps import files_app
store = fakeredis.FakeRedis(decode_responses=True)
app = files_app.create_app("A", redis=store, config={"STATE": "memory", "SECRET_KEY": "t"})
client = app.test_client()
client.post("/login", json={"username": "alice", "password": "wonderland"})
answer = client.post("/files", data={"file": (io.BytesIO(b"x"), "x.txt")})
assert answer.status_code == 201, answer.data
print(app.extensions["files"]["files"].directory)
"""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    directory = Path(done.stdout.strip())
    assert directory.parent == tmp_path and directory.name.startswith("sbd-uploads-")
    assert not directory.exists()
    assert list(tmp_path.iterdir()) == []


# --- bad input: 400, 401, 404, 411, 413 ----------------------------------------------------------


@STATES
def test_uploading_needs_a_login(make_app: Callable[..., Flask], state: str) -> None:
    client = make_app("A", state).test_client()
    assert_error(upload(client), 401)
    client.set_cookie("session", "forged")
    assert_error(upload(client), 401)


@STATES
@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (lambda: {"data": {"other": (io.BytesIO(b"x"), "a.txt")}}, "missing"),
        (
            lambda: {
                "data": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--b--\r\n',
                "content_type": "multipart/form-data; boundary=b",
            },
            "form field",
        ),
        (lambda: {"data": {"file": (io.BytesIO(b"x"), "")}}, "file name"),
        (lambda: {"data": {"file": (io.BytesIO(b"x"), "a", "not a type")}}, "type/subtype"),
        (
            lambda: {"data": {"file": (io.BytesIO(b"x"), "a", 'text/plain; charset="a b"')}},
            "charset",
        ),
        (
            lambda: {"data": {"file": [(io.BytesIO(b"x"), "a"), (io.BytesIO(b"y"), "b")]}},
            "one file",
        ),
        (lambda: {"json": {"file": "x"}}, "multipart"),
        (
            lambda: {"data": b"file=x", "content_type": "application/x-www-form-urlencoded"},
            "multipart",
        ),
        (
            lambda: {"data": b"--b\r\ngarbage", "content_type": "multipart/form-data; boundary=b"},
            "missing",
        ),
        (lambda: {"data": raw_multipart(b"x"), "content_type": "multipart/form-data"}, "missing"),
        (
            lambda: {
                "data": raw_multipart(b"x", "a\x01b"),
                "content_type": "multipart/form-data; boundary=b",
            },
            "control",
        ),
        (
            lambda: {
                "data": raw_multipart(b"x", "/"),
                "content_type": "multipart/form-data; boundary=b",
            },
            "file name",
        ),
        (
            lambda: {
                "data": raw_multipart(b"x", "n" * 256),
                "content_type": "multipart/form-data; boundary=b",
            },
            "longer",
        ),
    ],
)
def test_a_bad_upload_is_a_clear_400_and_stores_nothing(
    make_app: Callable[..., Flask], state: str, sent: Callable[[], dict], says: str
) -> None:
    app = make_app("A", state)
    client = logged_in(app)
    kept = uploaded(client, data=b"kept")
    assert says in assert_error(client.post("/files", **sent()), 400)
    assert client.get(kept).data == b"kept"  # nothing already stored is lost
    if state == "memory":
        directory = Path(app.extensions["files"]["files"].directory)
        assert len(list(directory.iterdir())) == 2  # the kept file and its metadata, no more


def test_directories_in_the_file_name_are_dropped(make_app: Callable[..., Flask]) -> None:
    client = logged_in(make_app("A", "memory"))
    for name in ("dir/sub/report.pdf", "C:\\\\Users\\\\me\\\\report.pdf"):  # sent as \\ in quotes
        body = raw_multipart(b"%PDF", name)
        answer = client.post("/files", data=body, content_type="multipart/form-data; boundary=b")
        served = client.get(answer.get_json()["url"])
        assert served.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'


@STATES
def test_a_file_over_the_limit_is_413_announced_or_chunked(
    make_app: Callable[..., Flask], state: str
) -> None:
    app = make_app("A", state, MAX_UPLOAD_BYTES=1000)
    client = logged_in(app)
    assert "1000 bytes" in assert_error(upload(client, data=b"x" * 1001), 413)  # a file too big
    assert "1000 bytes" in assert_error(upload(client, data=b"x" * 200_000), 413)  # a body too
    assert chunked(client, raw_multipart(b"y" * 1000)).status_code == 201
    assert_error(chunked(client, raw_multipart(b"y" * 1001)), 413)
    assert_error(chunked(client, raw_multipart(b"y" * 5_000_000)), 413)  # stops reading early
    if state == "memory":
        directory = Path(app.extensions["files"]["files"].directory)
        assert len(list(directory.iterdir())) == 2  # the one chunked upload that fit


def test_the_default_limit_is_one_mebibyte(make_app: Callable[..., Flask]) -> None:
    client = logged_in(make_app("A", "memory"))
    assert upload(client, data=b"m" * 1024 * 1024).status_code == 201
    assert_error(upload(client, data=b"m" * (1024 * 1024 + 1)), 413)


def test_a_chunked_body_is_refused_from_a_server_that_does_not_end_it(
    make_app: Callable[..., Flask],
) -> None:
    client = logged_in(make_app("A", "memory"))
    answer = client.open(
        "/files",
        method="POST",
        environ_overrides={
            "wsgi.input": io.BytesIO(raw_multipart(b"x")),
            "CONTENT_TYPE": "multipart/form-data; boundary=b",
            "HTTP_TRANSFER_ENCODING": "chunked",
        },
    )
    assert_error(answer, 411)


def test_only_post_files_gets_the_larger_limit(make_app: Callable[..., Flask]) -> None:
    client = logged_in(make_app("A", "memory", MAX_UPLOAD_BYTES=1024 * 1024))
    big = b'{"sku": "pen", "qty": 1, "pad": "' + b"p" * MAX_BODY_BYTES + b'"}'
    assert_error(client.post("/cart/items", data=big, content_type="application/json"), 413)
    assert_error(client.post("/login", data=big, content_type="application/json"), 413)
    assert upload(client, data=b"u" * (MAX_BODY_BYTES * 4)).status_code == 201


@STATES
@pytest.mark.parametrize(
    "file_id",
    ["x1", "a" * 21, "a" * 23, "a" * 21 + "!", "a" * 21 + ".", "..", "%2e%2e%2fetc", "ä" * 22],
)
def test_a_malformed_id_is_404_and_no_store_is_asked(
    make_app: Callable[..., Flask], listener: Listener, state: str, file_id: str
) -> None:
    app = make_app("A", state, S3_ENDPOINT_URL=listener.url)
    assert_error(app.test_client().get(f"/files/{file_id}"), 404)
    assert listener.connections == 0
    if state == "memory":
        assert app.extensions["files"]["files"].directory is None


@STATES
def test_an_unknown_id_is_404(make_app: Callable[..., Flask], state: str) -> None:
    app = make_app("A", state)
    uploaded(logged_in(app))  # the store exists and holds something else
    assert_error(app.test_client().get(f"/files/{files_app.new_file_id()}"), 404)


def test_a_missing_bucket_is_404_not_500(make_app: Callable[..., Flask]) -> None:
    bucket = f"test-missing-{uuid.uuid4().hex[:8]}"
    app = make_app("A", "shared", S3_BUCKET=bucket)
    files = app.extensions["files"]["files"]
    files._s3 = object_store.get_s3()  # a client that skipped ensure_bucket: the bucket is gone
    assert_error(app.test_client().get(f"/files/{files_app.new_file_id()}"), 404)


# --- how a file is served ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "inline"),
    [
        ("image/png", True),
        ("image/jpeg", True),
        ("image/gif", True),
        ("text/plain", True),
        ("text/plain; charset=utf-8", True),
        ("text/html", False),
        ("text/html; charset=utf-8", False),
        ("image/svg+xml", False),
        ("application/pdf", False),
        ("application/javascript", False),
        ("application/octet-stream", False),
    ],
)
def test_only_allow_listed_types_are_shown_inline_and_every_file_has_nosniff(
    make_app: Callable[..., Flask], content_type: str, inline: bool
) -> None:
    client = logged_in(make_app("A", "memory"))
    answer = client.get(uploaded(client, data=b"<svg onload=alert(1)>", content_type=content_type))
    assert answer.headers["Content-Type"] == content_type
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    kind = answer.headers["Content-Disposition"].split(";")[0]
    assert kind == ("inline" if inline else "attachment")
    assert "text/html" not in INLINE_TYPES and "image/svg+xml" not in INLINE_TYPES


@STATES
def test_content_types_are_normalised_and_missing_means_octet_stream(
    make_app: Callable[..., Flask], state: str
) -> None:
    client = logged_in(make_app("A", state))
    shouted = uploaded(client, content_type="Text/HTML; Charset=UTF-8; boundary=zzz")
    assert client.get(shouted).headers["Content-Type"] == "text/html; charset=utf-8"
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="n"\r\n\r\nbytes'
    body += b"\r\n--b--\r\n"  # a part without a Content-Type header
    answer = client.post("/files", data=body, content_type="multipart/form-data; boundary=b")
    served = client.get(answer.get_json()["url"])
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment;")


@STATES
def test_the_file_name_is_sent_back_safely_encoded(
    make_app: Callable[..., Flask], state: str
) -> None:
    client = logged_in(make_app("A", state))
    name = "résumé; 2026 «final».txt"
    disposition = client.get(uploaded(client, name=name)).headers["Content-Disposition"]
    assert disposition == (
        'inline; filename="resume_ 2026 final.txt"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%3B%202026%20%C2%ABfinal%C2%BB.txt"
    )
    disposition.encode("ascii")  # a header value any client can read


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ('a"b\\c.pdf', "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"),
        ("日本.pdf", "attachment; filename=\".pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"),
        ("日本", "attachment; filename=\"download\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC"),
    ],
)
def test_content_disposition_escapes_quotes_and_keeps_an_ascii_fallback(
    name: str, expected: str
) -> None:
    assert content_disposition("application/pdf", name) == expected


# --- S3: lazy, and a JSON 503 when it is down ----------------------------------------------------


def test_the_factory_does_not_contact_s3(
    make_app: Callable[..., Flask], listener: Listener
) -> None:
    app = make_app("A", "shared", S3_ENDPOINT_URL=listener.url)
    client = logged_in(app)
    assert client.get("/healthz").status_code == 200
    assert client.get("/me").status_code == 200
    assert listener.connections == 0  # made, logged in, answered: S3 not asked yet
    assert_error(client.get(f"/files/{files_app.new_file_id()}"), 503)  # not S3: closes at once
    assert listener.connections >= 1


def test_s3_down_is_a_json_503_never_a_500(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app = make_app("A", "shared", S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    client = logged_in(app)
    assert assert_error(upload(client), 503) == files_app.S3_DOWN
    assert assert_error(client.get(f"/files/{files_app.new_file_id()}"), 503) == files_app.S3_DOWN
    assert client.get("/healthz").status_code == 200  # the process itself is fine


def test_the_environment_names_the_endpoint_too(
    make_app: Callable[..., Flask], listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", listener.url)
    app = make_app("A", "shared")
    assert listener.connections == 0
    assert_error(app.test_client().get(f"/files/{files_app.new_file_id()}"), 503)
    assert listener.connections >= 1


def test_memory_never_touches_s3(make_app: Callable[..., Flask], listener: Listener) -> None:
    client = logged_in(make_app("A", "memory", S3_ENDPOINT_URL=listener.url))
    assert client.get(uploaded(client)).status_code == 200
    assert listener.connections == 0


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"STATE": "disk"}, "STATE"),
        ({"MAX_UPLOAD_BYTES": 0}, "MAX_UPLOAD_BYTES"),
        ({"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
        ({"MAX_UPLOAD_BYTES": 2**40}, "MAX_UPLOAD_BYTES"),
        ({"KEY_PREFIX": "a/b:"}, "prefix"),
        ({"S3_BUCKET": "Not_A_Bucket"}, "bucket"),
    ],
)
def test_bad_settings_stop_the_app_at_start_up(store: redis.Redis, config: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        files_app.create_app("A", redis=store, config={**SECRETS, **config})


def test_settings_come_from_the_environment_too(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch, uploads_dir: Path
) -> None:
    monkeypatch.setenv("STATE", "memory")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "10")
    app = files_app.create_app("A", redis=store, config=SECRETS)
    assert app.extensions["files"]["state"] == "memory"
    client = logged_in(app)
    assert upload(client, data=b"0123456789").status_code == 201
    assert_error(upload(client, data=b"0123456789!"), 413)


class InvalidChunkSize(Exception):
    """What gunicorn raises from a malformed chunk: a plain Exception, not an OSError."""


class BrokenFraming(io.RawIOBase):
    """A request body whose framing breaks while it is read (gunicorn: a malformed chunk)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        raise InvalidChunkSize("Invalid chunk size: b'zz'")


def test_a_body_whose_framing_breaks_is_a_400_not_a_500(make_app: Callable[..., Flask]) -> None:
    client = logged_in(make_app("A", "memory"))
    answer = client.open(
        "/files",
        method="POST",
        environ_overrides={
            "wsgi.input": io.BufferedReader(BrokenFraming()),
            "wsgi.input_terminated": True,
            "CONTENT_TYPE": "multipart/form-data; boundary=b",
            "HTTP_TRANSFER_ENCODING": "chunked",
        },
    )
    assert "malformed framing" in assert_error(answer, 400)


def test_too_many_form_parts_is_a_400_that_says_so(make_app: Callable[..., Flask]) -> None:
    client = logged_in(make_app("A", "memory"))
    fields = {f"field{i}": "x" for i in range(files_app.MAX_FORM_PARTS)}
    answer = client.post("/files", data={**fields, "file": (io.BytesIO(b"1"), "a.txt")})
    assert f"in at most {files_app.MAX_FORM_PARTS} form parts" in assert_error(answer, 400)


@pytest.mark.parametrize("name", ["evil\u202egnp.exe", "a\u2066b.txt", "zero\u200dwidth.txt"])
def test_invisible_format_characters_in_a_file_name_are_a_400(
    make_app: Callable[..., Flask], name: str
) -> None:
    client = logged_in(make_app("A", "memory"))
    answer = client.post("/files", data={"file": (io.BytesIO(b"x"), name)})
    assert "invisible" in assert_error(answer, 400)
