"""Lesson 13's shop: the starter (labs/apps/shop_app.py, every kind of state in the instance), the
reference solution (labs/solutions/capstone_shop.py, every part shared) and the half-fixed
variants of tests/capstone_variants/, through the Flask test client.

Sessions, quota, jobs, events and payments go to the ``store`` fixture's Redis (fakeredis, or the
real server of ``REDIS_URL``); the solution's files go to the S3 of the §5 rule (the process's
embedded server unless ``S3_ENDPOINT_URL`` is set), under a key prefix of each test's own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from lab_stores import SECRETS
from werkzeug.test import TestResponse

from labs import object_store
from labs.apps import APPS, app_module, draining, shop_app
from labs.apps.quota_app import HeldClock
from labs.apps.users import login_body
from labs.apps.web import MAX_BODY_BYTES
from labs.jobs.queue import JobQueue, new_job_id
from labs.jobs.worker import Worker
from labs.solutions import capstone_shop

PAY = {"amount_cents": 1250, "currency": "EUR"}
VARIANTS = (
    "quota_local",
    "jobs_local",
    "files_local",
    "sessions_local",
    "payments_unscoped",
    "payments_racy",
    "liveness_pings_redis",
)
SHOPS = [pytest.param(shop_app, id="starter"), pytest.param(capstone_shop, id="solution")]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its S3 objects are deleted when the test ends."""
    name = f"test-shop-{uuid.uuid4().hex[:10]}"
    yield name + ":"
    with contextlib.suppress(Exception):  # nothing was uploaded, or S3 was unreachable
        object_store.delete_prefix(object_store.get_s3(), object_store.bucket_name(), name)


@pytest.fixture(autouse=True)
def uploads_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the starter's instances make their upload directories (its "local disk")."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture
def make(store: redis.Redis, prefix: str) -> Callable[..., Flask]:
    """``make(module, instance, **config)``: an instance of a shop (module) on the test's stores."""

    def build(module: ModuleType, instance: str = "A", **config: object) -> Flask:
        settings = {**SECRETS, "KEY_PREFIX": prefix, "STREAM_SECONDS": 0, **config}
        app = module.create_app(instance, redis=store, config=settings)
        app.testing = True
        return app

    return build


def variant(name: str) -> ModuleType:
    return importlib.import_module(f"capstone_variants.{name}")


def logged_in(app: Flask, user: str = "alice") -> FlaskClient:
    client = app.test_client()
    answer = client.post("/login", json=login_body(user))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return client


def upload(client: FlaskClient, data: bytes = b"hello", name: str = "a.txt", kind="text/plain"):
    return client.post("/files", data={"file": (io.BytesIO(data), name, kind)})


def pay(client: FlaskClient, key: str | None = "key-1", body: Any = None) -> TestResponse:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/payments", json=PAY if body is None else body, headers=headers)


def charges(client: FlaskClient) -> list[dict]:
    answer = client.get("/payments")
    assert answer.status_code == 200
    return answer.get_json()["payments"]


def run_jobs(store: redis.Redis, prefix: str) -> None:
    """What a worker process does, in this process: run every queued job once."""
    worker = Worker(JobQueue(store, prefix), "w1", log=lambda line: None)
    while worker.run_once():
        pass


def job_of(client: FlaskClient, job_id: str) -> dict:
    """The job's record, once the starter's thread (or a worker) has finished it."""
    for _ in range(200):
        answer = client.get(f"/jobs/{job_id}")
        if answer.status_code != 200 or answer.get_json()["status"] in ("done", "failed"):
            return answer.get_json()
        threading.Event().wait(0.01)
    return answer.get_json()


def assert_error(answer: TestResponse, status: int) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.is_json and list(answer.get_json()) == ["error"], answer.get_data(as_text=True)
    return answer.get_json()["error"]


def unreachable_redis() -> redis.Redis:
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return redis.Redis(port=port, decode_responses=True, socket_connect_timeout=0.2)


# --- the registry ------------------------------------------------------------------------------


def test_the_starter_is_registered_as_shop() -> None:
    assert APPS["shop"] == "labs.apps.shop_app"
    assert app_module("shop") is shop_app


# --- every route, on one instance of either shop --------------------------------------------


@pytest.mark.parametrize("module", SHOPS)
def test_every_route_of_6_and_6b_answers_on_one_instance(
    make: Callable[..., Flask], store: redis.Redis, prefix: str, module: ModuleType
) -> None:
    app = make(module, "A")
    client = logged_in(app)
    assert client.get("/me").get_json() == {"user": "alice", "instance": "A"}
    assert client.post("/cart/items", json={"sku": "pen", "qty": 2}).status_code == 200
    assert client.get("/cart").get_json() == {"user": "alice", "items": {"pen": 2}, "total_qty": 2}
    assert client.get("/quota").get_json() == {"remaining": 9}

    sent = upload(client, b"<script>", "x.html", "text/html")
    assert sent.status_code == 201
    url = sent.get_json()["url"]
    assert url == f"/files/{sent.get_json()['file_id']}"
    got = client.get(url)
    assert got.status_code == 200 and got.data == b"<script>"
    assert got.content_type == "text/html" and got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert (
        client.get(upload(client).get_json()["url"])
        .headers["Content-Disposition"]
        .startswith("inline")
    )  # text/plain is on the allow-list

    submitted = client.post("/jobs", json={"kind": "echo", "params": {"n": 1}})
    assert submitted.status_code == 202
    job_id = submitted.get_json()["job_id"]
    if module is capstone_shop:
        run_jobs(store, prefix)
    assert job_of(client, job_id) == {"job_id": job_id, "status": "done", "result": {"n": 1}}

    published = client.post("/events", json={"message": "hi"})
    assert published.status_code == 202 and "event_id" in published.get_json()
    stream = client.get("/events")
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    assert stream.get_data().startswith(b"retry: ")

    paid = pay(client)
    assert paid.status_code == 201
    assert paid.get_json() == {
        **PAY,
        "payment_id": paid.get_json()["payment_id"],
        "status": "confirmed",
    }
    assert [c["payment_id"] for c in charges(client)] == [paid.get_json()["payment_id"]]

    assert client.get("/healthz").get_json() == {"status": "ok", "instance": "A"}
    assert client.get("/readyz").status_code == 200
    assert client.post("/logout").status_code == 204
    assert_error(client.get("/me"), 401)
    assert client.get("/quota").headers["X-Instance"] == "A"


@pytest.mark.parametrize("module", SHOPS)
def test_the_quota_is_a_fixed_window_of_rate_limit_requests(
    make: Callable[..., Flask], module: ModuleType
) -> None:
    clock = HeldClock.in_next_window(60, into=45.5)
    client = logged_in(make(module, RATE_LIMIT=3, RATE_WINDOW=60, CLOCK=clock))
    assert [client.get("/quota").get_json()["remaining"] for _ in range(3)] == [2, 1, 0]
    refused = client.get("/quota")
    assert_error(refused, 429)
    assert refused.headers["Retry-After"] == "15"  # whole seconds to the window's end
    clock.advance(15)  # the next window
    assert client.get("/quota").get_json() == {"remaining": 2}


BAD_REQUESTS = [
    pytest.param("POST", "/login", {"json": {"username": "alice"}}, 400, id="login-no-password"),
    pytest.param("POST", "/cart/items", {"json": {"sku": "a b", "qty": 1}}, 400, id="bad-sku"),
    pytest.param("POST", "/cart/items", {"json": {"sku": "pen", "qty": 100}}, 400, id="qty-100"),
    pytest.param("POST", "/files", {"json": {"file": "x"}}, 400, id="files-not-multipart"),
    pytest.param("POST", "/files", {"data": {"other": "x"}}, 400, id="files-no-file-part"),
    pytest.param("POST", "/files", {"upload": b"x" * 101}, 413, id="files-big"),
    pytest.param("GET", "/files/" + "A" * 22, {}, 404, id="files-unknown"),
    pytest.param("GET", "/files/..%2Fetc", {}, 404, id="files-bad-id"),
    pytest.param("POST", "/jobs", {"json": {"kind": "rm"}}, 400, id="jobs-bad-kind"),
    pytest.param(
        "POST", "/jobs", {"json": {"kind": "sleep", "params": {"seconds": 11}}}, 400, id="sleep-11"
    ),
    pytest.param(
        "POST", "/jobs", {"data": b"[", "content_type": "application/json"}, 400, id="jobs-bad-json"
    ),
    pytest.param("GET", f"/jobs/{new_job_id()}", {}, 404, id="jobs-unknown"),
    pytest.param("GET", "/jobs/nope", {}, 404, id="jobs-bad-id"),
    pytest.param("POST", "/events", {"json": {"message": ""}}, 400, id="events-empty"),
    pytest.param("POST", "/events", {"json": {"message": "x" * 1001}}, 400, id="events-long"),
    pytest.param("GET", "/events", {"headers": {"Last-Event-ID": "x"}}, 400, id="last-event-id"),
    pytest.param("POST", "/payments", {"json": PAY}, 400, id="payments-no-key"),
    pytest.param(
        "POST", "/payments", {"json": PAY, "headers": {"Idempotency-Key": "a b"}}, 400, id="bad-key"
    ),
    pytest.param(
        "POST",
        "/payments",
        {"json": {"amount_cents": 0, "currency": "EUR"}, "headers": {"Idempotency-Key": "k"}},
        400,
        id="payments-zero",
    ),
    pytest.param(
        "POST",
        "/payments",
        {"json": {"amount_cents": 5, "currency": "XXX"}, "headers": {"Idempotency-Key": "k"}},
        400,
        id="payments-currency",
    ),
    pytest.param(
        "POST",
        "/payments",
        {
            "data": json.dumps({"p": "x" * MAX_BODY_BYTES}),
            "content_type": "application/json",
            "headers": {"Idempotency-Key": "k"},
        },
        413,
        id="payments-17kb",
    ),
    pytest.param("DELETE", "/payments", {}, 405, id="payments-delete"),
]


@pytest.mark.parametrize("module", SHOPS)
@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_REQUESTS)
def test_bad_input_is_a_json_4xx_and_charges_nothing(
    make: Callable[..., Flask],
    module: ModuleType,
    method: str,
    path: str,
    kwargs: dict,
    status: int,
) -> None:
    client = logged_in(make(module, MAX_UPLOAD_BYTES=100))
    if "upload" in kwargs:  # a fresh file object for each run
        kwargs = {"data": {"file": (io.BytesIO(kwargs["upload"]), "a.bin")}}
    assert_error(client.open(path, method=method, **kwargs), status)
    assert charges(client) == []


@pytest.mark.parametrize("module", SHOPS)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("GET", "/cart"), ("GET", "/quota"), ("POST", "/files"), ("POST", "/jobs"),
     ("GET", "/events"), ("POST", "/events"), ("POST", "/payments"), ("GET", "/payments")],
)  # fmt: skip
def test_without_a_session_every_user_route_is_401(
    make: Callable[..., Flask], module: ModuleType, method: str, path: str
) -> None:
    client = make(module).test_client()
    assert_error(client.open(path, method=method, json={}), 401)


@pytest.mark.parametrize("module", SHOPS)
def test_readyz_is_503_while_draining_and_healthz_stays_200(
    make: Callable[..., Flask], module: ModuleType
) -> None:
    client = make(module).test_client()
    draining.start_draining()
    try:
        assert_error(client.get("/readyz"), 503)
        assert client.get("/healthz").status_code == 200
    finally:
        draining.reset()


# --- the starter: two instances share nothing ------------------------------------------------


def test_starter_sessions_and_carts_stay_in_their_instance(make: Callable[..., Flask]) -> None:
    a, b = make(shop_app, "A"), make(shop_app, "B")
    alice = logged_in(a)
    cookie = alice.get_cookie("session").value
    on_b = b.test_client()
    on_b.set_cookie("session", cookie)
    assert_error(on_b.get("/me"), 401)


def test_starter_quota_counts_per_instance(make: Callable[..., Flask]) -> None:
    a, b = (
        logged_in(make(shop_app, "A", RATE_LIMIT=2)),
        logged_in(make(shop_app, "B", RATE_LIMIT=2)),
    )
    assert [a.get("/quota").status_code for _ in range(3)] == [200, 200, 429]
    assert [b.get("/quota").status_code for _ in range(3)] == [200, 200, 429]  # 2 × the limit


def test_starter_files_stay_on_the_instance_disk_and_die_with_it(
    make: Callable[..., Flask], uploads_dir: Path
) -> None:
    a = logged_in(make(shop_app, "A"))
    url = upload(a).get_json()["url"]
    assert a.get(url).status_code == 200
    assert list(uploads_dir.iterdir())  # on the local disk
    assert_error(make(shop_app, "B").test_client().get(url), 404)
    assert_error(make(shop_app, "A").test_client().get(url), 404)  # A restarted: a new directory


def test_starter_jobs_run_in_their_instance_only(
    make: Callable[..., Flask], store: redis.Redis
) -> None:
    a, b = logged_in(make(shop_app, "A")), logged_in(make(shop_app, "B"))
    job_id = a.post("/jobs", json={"kind": "echo", "params": {"n": 2}}).get_json()["job_id"]
    assert job_of(a, job_id)["status"] == "done"
    assert_error(b.get(f"/jobs/{job_id}"), 404)
    assert store.keys("*") == []  # nothing reached the shared store


def test_starter_events_reach_only_streams_on_the_same_instance(make: Callable[..., Flask]) -> None:
    a, b = make(shop_app, "A"), make(shop_app, "B")
    on_a = a.extensions["shop"].events.subscribe("alice", None)
    on_b = b.extensions["shop"].events.subscribe("alice", None)
    try:
        assert logged_in(b).post("/events", json={"message": "hi"}).status_code == 202
        assert on_a.read(0) == []
        assert b'"message": "hi"' in b"".join(on_b.read(0))
    finally:
        on_a.close()
        on_b.close()


def test_starter_charges_every_retry_and_keeps_charges_per_instance(
    make: Callable[..., Flask],
) -> None:
    a, b = logged_in(make(shop_app, "A")), logged_in(make(shop_app, "B"))
    first, again = pay(a), pay(a)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert first.get_json()["payment_id"] != again.get_json()["payment_id"]
    assert len(charges(a)) == 2  # the retry charged again
    assert charges(b) == []  # B has its own ledger


# --- the solution: two instances given the same stores share everything --------------------


def test_solution_instances_share_sessions_and_carts(make: Callable[..., Flask]) -> None:
    a, b = make(capstone_shop, "A"), make(capstone_shop, "B")
    alice = logged_in(a)
    alice.post("/cart/items", json={"sku": "pen", "qty": 2})
    on_b = b.test_client()
    on_b.set_cookie("session", alice.get_cookie("session").value)
    assert on_b.get("/me").get_json() == {"user": "alice", "instance": "B"}
    assert on_b.post("/cart/items", json={"sku": "pen", "qty": 1}).get_json()["items"] == {"pen": 3}
    assert on_b.post("/logout").status_code == 204
    assert_error(alice.get("/me"), 401)  # logged out everywhere


def test_solution_instances_share_one_quota(make: Callable[..., Flask]) -> None:
    a = logged_in(make(capstone_shop, "A", RATE_LIMIT=3))
    b = logged_in(make(capstone_shop, "B", RATE_LIMIT=3))
    answers = [client.get("/quota").status_code for client in (a, b, a, b)]
    assert answers == [200, 200, 200, 429]


def test_solution_files_are_read_from_any_instance(
    make: Callable[..., Flask], uploads_dir: Path
) -> None:
    a = logged_in(make(capstone_shop, "A"))
    url = upload(a, b"\x00\xffbytes", "b.bin", "application/octet-stream").get_json()["url"]
    got = make(capstone_shop, "B").test_client().get(url)
    assert got.status_code == 200 and got.data == b"\x00\xffbytes"
    assert list(uploads_dir.iterdir()) == []  # nothing on the local disk


def test_solution_jobs_are_run_by_a_worker_and_reported_by_any_instance(
    make: Callable[..., Flask], store: redis.Redis, prefix: str
) -> None:
    a, b = logged_in(make(capstone_shop, "A")), logged_in(make(capstone_shop, "B"))
    job_id = a.post("/jobs", json={"kind": "echo", "params": {"n": 3}}).get_json()["job_id"]
    assert b.get(f"/jobs/{job_id}").get_json()["status"] == "queued"  # no thread in the instance
    run_jobs(store, prefix)  # the worker reads the stream the app wrote: same prefix, same name
    assert b.get(f"/jobs/{job_id}").get_json() == {
        "job_id": job_id,
        "status": "done",
        "result": {"n": 3},
    }


def test_solution_events_published_on_one_instance_stream_from_another(
    make: Callable[..., Flask],
) -> None:
    a, b = logged_in(make(capstone_shop, "A")), logged_in(make(capstone_shop, "B"))
    event_id = a.post("/events", json={"message": "hello"}).get_json()["event_id"]
    streamed = b.get("/events", headers={"Last-Event-ID": "0-0"}).get_data(as_text=True)
    assert f"id: {event_id}" in streamed and '"published_by": "A"' in streamed


def test_solution_charges_once_per_key_replays_and_refuses_another_body(
    make: Callable[..., Flask],
) -> None:
    a, b = logged_in(make(capstone_shop, "A")), logged_in(make(capstone_shop, "B"))
    first, again = pay(a), pay(b)  # the retry reaches another instance
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(charges(a)) == 1
    assert_error(pay(b, body={"amount_cents": 999, "currency": "EUR"}), 422)
    bob = logged_in(make(capstone_shop, "A"), "bob")
    assert pay(bob).get_json()["payment_id"] != first.get_json()["payment_id"]  # scoped per user
    assert len(charges(bob)) == 1 and len(charges(a)) == 1


def test_solution_does_not_contact_redis_when_created() -> None:
    client = capstone_shop.create_app("A", redis=unreachable_redis(), config=SECRETS).test_client()
    assert client.get("/healthz").status_code == 200  # liveness: the process only
    assert_error(client.get("/readyz"), 503)
    client.set_cookie("session", "x" * 43)
    assert_error(client.get("/me"), 503)


# --- the half-fixed variants: each still breaks its one property --------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_serves_the_contract(make: Callable[..., Flask], name: str) -> None:
    client = logged_in(make(variant(name), "Q"))
    assert client.get("/me").get_json() == {"user": "alice", "instance": "Q"}
    assert client.get("/healthz").status_code == 200
    assert pay(client).status_code == 201
    assert variant(name).__doc__


def test_quota_local_lets_two_instances_allow_twice_the_limit(make: Callable[..., Flask]) -> None:
    shop = variant("quota_local")
    a = logged_in(make(shop, "A", RATE_LIMIT=2))
    b = logged_in(make(shop, "B", RATE_LIMIT=2))
    assert a.get_cookie("session")  # sessions are shared: b is the same user's other request
    answers = [client.get("/quota").status_code for client in (a, b, a, b)]
    assert answers == [200, 200, 200, 200]  # the solution: [200, 200, 429, 429]


def test_jobs_local_keeps_the_job_in_its_instance(make: Callable[..., Flask]) -> None:
    shop = variant("jobs_local")
    a, b = logged_in(make(shop, "A")), logged_in(make(shop, "B"))
    job_id = a.post("/jobs", json={"kind": "echo"}).get_json()["job_id"]
    assert job_of(a, job_id)["status"] == "done"  # run by A's own thread
    assert_error(b.get(f"/jobs/{job_id}"), 404)
    url = upload(a).get_json()["url"]
    assert b.get(url).status_code == 200  # files, though, are shared


def test_files_local_keeps_the_upload_on_its_disk(make: Callable[..., Flask]) -> None:
    shop = variant("files_local")
    a, b = logged_in(make(shop, "A")), logged_in(make(shop, "B"))
    url = upload(a).get_json()["url"]
    assert a.get(url).status_code == 200
    assert_error(b.get(url), 404)


def test_sessions_local_is_a_stranger_on_another_instance(make: Callable[..., Flask]) -> None:
    shop = variant("sessions_local")
    alice = logged_in(make(shop, "A"))
    on_b = make(shop, "B").test_client()
    on_b.set_cookie("session", alice.get_cookie("session").value)
    assert_error(on_b.get("/me"), 401)


def test_payments_unscoped_replays_alices_answer_to_bob(make: Callable[..., Flask]) -> None:
    shop = variant("payments_unscoped")
    alice, bob = logged_in(make(shop, "A"), "alice"), logged_in(make(shop, "B"), "bob")
    hers, his = pay(alice, "same-key"), pay(bob, "same-key")
    assert his.headers.get("Idempotent-Replayed") == "true"
    assert his.get_json()["payment_id"] == hers.get_json()["payment_id"]
    assert charges(bob) == []  # bob was never charged: he got alice's receipt


class PausingStore:
    """The store, except that a ``GET`` waits until ``parties`` requests have all sent theirs:
    the read-then-write gap held open, deterministically."""

    def __init__(self, store: redis.Redis, parties: int) -> None:
        self.store = store
        self.barrier = threading.Barrier(parties, timeout=5)

    def get(self, name: str) -> Any:
        answer = self.store.get(name)
        self.barrier.wait()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_payments_racy_charges_two_concurrent_duplicates(make: Callable[..., Flask], store) -> None:
    app = make(variant("payments_racy"), "A")
    payments = app.extensions["shop"].payments
    payments.store = PausingStore(payments.store, 2)
    clients = [logged_in(app), logged_in(app)]
    answers: list[TestResponse] = []
    threads = [threading.Thread(target=lambda c=c: answers.append(pay(c))) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert [a.status_code for a in answers] == [201, 201]
    assert len(charges(clients[0])) == 2  # one key, two charges


def test_liveness_pings_redis_fails_healthz_when_redis_is_away() -> None:
    app = variant("liveness_pings_redis").create_app("A", redis=unreachable_redis(), config=SECRETS)
    assert_error(app.test_client().get("/healthz"), 503)
    solution = capstone_shop.create_app("A", redis=unreachable_redis(), config=SECRETS)
    assert solution.test_client().get("/healthz").status_code == 200
