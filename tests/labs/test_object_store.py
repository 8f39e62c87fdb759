"""The §5 rule for object storage (labs.object_store): an embedded S3 server by default,
the endpoint named by S3_ENDPOINT_URL when set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from labs import object_store
from labs.object_store import (
    EmbeddedS3Server,
    InvalidBucketName,
    InvalidKey,
    S3Unavailable,
    client,
    delete_prefix,
    ensure_bucket,
    prefixed,
)


def fresh_bucket() -> str:
    # moto's buckets are process-wide and outlive a server: never reuse a name.
    return f"test-{uuid.uuid4().hex[:12]}"


def listening(port: int) -> bool:
    """Whether anything listens on 127.0.0.1:``port`` (from /proc/net/tcp, no connection made)."""
    wanted = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1] == wanted and r.split()[3] == "0A" for r in rows)  # 0A: LISTEN


def wait_for(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedS3Server]:
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    with EmbeddedS3Server() as running:
        yield running


def test_put_get_delete_through_the_embedded_server(server: EmbeddedS3Server) -> None:
    assert object_store.s3_mode() == "embedded"
    s3 = client(server.url)
    bucket = fresh_bucket()
    assert ensure_bucket(s3, bucket) is True  # created it
    assert ensure_bucket(s3, bucket) is False  # already there: not ours to delete twice
    key = prefixed("sbd-test", "uploads/report.txt")
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello, stateless")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello, stateless"
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key=key)


def test_two_clients_see_the_same_object(server: EmbeddedS3Server) -> None:
    # The point of the lesson: the instance that stored an upload need not be the one serving it.
    writer, reader = client(server.url), client(server.url)
    assert writer is not reader
    bucket = fresh_bucket()
    ensure_bucket(writer, bucket)
    writer.put_object(Bucket=bucket, Key="a/photo.png", Body=b"\x89PNG")
    assert reader.get_object(Bucket=bucket, Key="a/photo.png")["Body"].read() == b"\x89PNG"


def test_s3_endpoint_url_selects_the_endpoint(
    server: EmbeddedS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", server.url)
    assert object_store.s3_mode() == "real"
    s3 = client()
    assert s3.meta.endpoint_url == server.url
    assert s3.meta.region_name == "us-east-1"
    bucket = fresh_bucket()
    ensure_bucket(s3, bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_explicit_url_wins_and_no_url_at_all_says_what_to_do(
    server: EmbeddedS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:1")
    assert client(server.url).meta.endpoint_url == server.url
    monkeypatch.delenv("S3_ENDPOINT_URL")
    with pytest.raises(S3Unavailable, match="S3_ENDPOINT_URL"):
        client()


def test_s3_bucket_names_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S3_BUCKET", raising=False)
    assert object_store.bucket_name() == "stateless-course"
    monkeypatch.setenv("S3_BUCKET", "my-course-bucket")
    assert object_store.bucket_name() == "my-course-bucket"
    monkeypatch.setenv("S3_BUCKET", "My_Bucket")
    with pytest.raises(InvalidBucketName):
        object_store.bucket_name()


def test_an_instance_process_uses_the_server_through_the_environment(
    server: EmbeddedS3Server,
) -> None:
    # Another process does not know the server is embedded: S3_ENDPOINT_URL + AWS variables.
    bucket = fresh_bucket()
    ensure_bucket(client(server.url), bucket)
    code = (
        "import json, sys; from labs.object_store import client\n"
        f"s3 = client(); s3.put_object(Bucket={bucket!r}, Key='from-child', Body=b'hi')\n"
        "print(json.dumps({'endpoint': s3.meta.endpoint_url}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | server.environ()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["endpoint"] == server.url
    body = client(server.url).get_object(Bucket=bucket, Key="from-child")["Body"].read()
    assert body == b"hi"


@pytest.mark.parametrize(
    ("name", "moto_refuses"),
    [
        ("ab", True),
        ("x" * 64, True),
        ("Upper-Case", False),
        ("under_score", False),
        ("-starts-with-dash", False),
        ("two..dots", False),
        ("192.168.0.1", False),
    ],
)
def test_a_bucket_name_s3_refuses_is_refused_before_it_is_sent(
    server: EmbeddedS3Server, name: str, moto_refuses: bool
) -> None:
    s3 = client(server.url)
    with pytest.raises(InvalidBucketName, match="not a valid S3 bucket name"):
        ensure_bucket(s3, name)
    # moto checks only the length; AWS refuses them all. The course's own check is the one
    # that keeps embedded and real S3 alike.
    if moto_refuses:
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidBucketName"):
            s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name)
        s3.delete_bucket(Bucket=name)  # this test created it


def test_a_missing_key_or_bucket_is_a_clear_error(server: EmbeddedS3Server) -> None:
    s3 = client(server.url)
    bucket = fresh_bucket()
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket=bucket, Key="nothing")
    ensure_bucket(s3, bucket)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="nothing")


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("a/b", "k"), ("..", "k"), ("p", ""), ("p", "/abs"), ("p", "k" * 1100), (None, "k")],
)
def test_bad_prefixes_and_keys_are_refused(prefix: object, key: str) -> None:
    with pytest.raises(InvalidKey):
        prefixed(prefix, key)  # type: ignore[arg-type]


def test_cleanup_deletes_one_clusters_prefix_only(server: EmbeddedS3Server) -> None:
    s3 = client(server.url)
    bucket = fresh_bucket()
    ensure_bucket(s3, bucket)
    for cluster in ("sbd-one", "sbd-onemore"):  # one prefix starts the other
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=prefixed(cluster, f"f{i}"), Body=b".")
    assert delete_prefix(s3, bucket, "sbd-one") == 3
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(left) == ["sbd-onemore/f0", "sbd-onemore/f1", "sbd-onemore/f2"]
    with pytest.raises(InvalidKey):
        delete_prefix(s3, bucket, "")  # never the whole bucket


def test_an_unreachable_endpoint_fails_fast_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        started = time.perf_counter()
        with pytest.raises(S3Unavailable, match=url):
            ensure_bucket(client(url), fresh_bucket())
    assert time.perf_counter() - started < 5


def test_stop_leaves_no_thread_or_listening_socket() -> None:
    before = set(threading.enumerate())
    idle = socket.socket()
    server = EmbeddedS3Server().start()
    port = int(server.url.rsplit(":", 1)[1])
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert listening(port)
        s3 = client(server.url)
        ensure_bucket(s3, fresh_bucket())
        # moto answers "Connection: close", so served requests' threads end by themselves...
        assert wait_for(lambda: len(set(threading.enumerate()) - before) == 1)  # the server's
        # ... but a client that connected and has not finished its request (a stalled upload)
        # holds a handler thread, waiting for the rest.
        idle.connect(("127.0.0.1", port))
        idle.sendall(b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\n")
        assert wait_for(lambda: len(set(threading.enumerate()) - before) == 2)
    finally:
        started = time.perf_counter()
        server.stop()
        took = time.perf_counter() - started
        idle.close()
    assert took < 1
    assert set(threading.enumerate()) - before == set()
    assert not listening(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.stop()  # twice is harmless


# --- get_s3: the §5 rule in one call -----------------------------------------------------------


def test_get_s3_without_an_endpoint_shares_one_embedded_server_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    writer, reader = object_store.get_s3(), object_store.get_s3()
    assert writer is not reader
    assert writer.meta.endpoint_url == reader.meta.endpoint_url == object_store.process_server().url
    assert object_store.process_server() is object_store.process_server()
    bucket = fresh_bucket()
    ensure_bucket(writer, bucket)
    writer.put_object(Bucket=bucket, Key="k", Body=b"shared")
    assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == b"shared"


def test_get_s3_takes_an_explicit_url_else_s3_endpoint_url(
    server: EmbeddedS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", server.url)
    assert object_store.get_s3().meta.endpoint_url == server.url
    assert object_store.get_s3("http://127.0.0.1:1").meta.endpoint_url == "http://127.0.0.1:1"


def test_the_process_server_starts_again_if_someone_stopped_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    object_store.process_server().stop()
    s3 = object_store.get_s3()  # a new port; moto's buckets live on in the process
    ensure_bucket(s3, fresh_bucket())


def test_the_process_server_is_stopped_when_the_interpreter_exits() -> None:
    # An exit hook registered *before* the server starts runs *after* its stop (atexit is LIFO).
    code = (
        "import atexit, os; from labs import object_store\n"
        "def check():\n"
        "    server = object_store._process_server\n"
        "    print('stopped' if server is not None and server._server is None else 'running')\n"
        "atexit.register(check)\n"
        "s3 = object_store.get_s3()\n"
        "object_store.ensure_bucket(s3, 'exit-check')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "S3_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
