"""The events app (lesson 09): server-sent events per user, in the instance or through Redis.

Instances are Flask apps on the ``store`` fixture (fakeredis, or the real Redis of
``REDIS_URL``); a stream is read from the test client as it is produced, parsed by
``labs.sse.Parser``, and closed as soon as the test has what it waits for. Real processes and
the balancer are in ``test_events_experiments.py``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from lab_stores import SECRETS
from werkzeug.test import TestResponse

from labs.apps import draining, events_app
from labs.sse import Event, Parser

MODES = [
    pytest.param({"STATE": "memory"}, id="memory"),
    pytest.param({"STATE": "shared", "EVENTS_VIA": "pubsub"}, id="pubsub"),
    pytest.param({"STATE": "shared", "EVENTS_VIA": "stream"}, id="stream"),
]
SHARED = MODES[1:]
ID = re.compile(r"[0-9]+-[0-9]+")


@pytest.fixture
def make_app(store: redis.Redis) -> Callable[..., Flask]:
    prefix = f"t-{time.monotonic_ns()}:"

    def make(instance: str = "A", **config: object) -> Flask:
        settings = {**SECRETS, "KEY_PREFIX": prefix, "STREAM_SECONDS": 5, **config}
        return events_app.create_app(instance, redis=store, config=settings)

    return make


def logged_in(app: Flask, user: str = "alice") -> FlaskClient:
    client = app.test_client()
    password = {"alice": "wonderland", "bob": "builder"}[user]
    assert client.post("/login", json={"username": user, "password": password}).status_code == 200
    return client


def publish(client: FlaskClient, message: str) -> str:
    answer = client.post("/events", json={"message": message})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert list(answer.get_json()) == ["event_id"]
    return answer.get_json()["event_id"]


def chunks(response: TestResponse) -> Iterator[bytes]:
    for chunk in response.response:
        yield chunk if isinstance(chunk, bytes) else chunk.encode()


def read_events(response: TestResponse, count: int, timeout: float = 5.0) -> list[Event]:
    """The first ``count`` events of a stream (fewer if it ends first); the stream is closed."""
    parser, events = Parser(), []
    deadline = time.monotonic() + timeout
    try:
        for chunk in chunks(response):
            events += parser.feed(chunk)
            if len(events) >= count or time.monotonic() > deadline:
                break
    finally:
        response.close()
    return events


def open_stream(client: FlaskClient, **headers: str) -> TestResponse:
    """``GET /events``, subscribed (the view subscribes before it answers), not yet read."""
    response = client.get("/events", headers=headers, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


# --- the route's contract ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_stranger_gets_401_on_both_routes(make_app, mode) -> None:
    client = make_app(**mode).test_client()
    for answer in (client.get("/events"), client.post("/events", json={"message": "hi"})):
        assert answer.status_code == 401
        assert "error" in answer.get_json()


@pytest.mark.parametrize(
    "body",
    [{}, {"message": ""}, {"message": 7}, {"message": None}, {"message": "x" * 1001}, []],
)
def test_a_bad_message_is_a_400(make_app, body) -> None:
    client = logged_in(make_app())
    answer = client.post("/events", json=body)
    assert answer.status_code == 400
    assert "message" in answer.get_json()["error"] or "object" in answer.get_json()["error"]


def test_a_message_of_1000_characters_is_accepted(make_app) -> None:
    assert ID.fullmatch(publish(logged_in(make_app()), "x" * 1000))


@pytest.mark.parametrize("mode", MODES)
def test_the_stream_has_the_sse_headers_and_opens_with_retry(make_app, mode) -> None:
    client = logged_in(make_app(RETRY_MS=250, **mode))
    response = open_stream(client)
    try:
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        assert response.headers["X-Instance"] == "A"
        assert "Content-Length" not in response.headers
        assert next(chunks(response)) == b"retry: 250\n\n"
    finally:
        response.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_subscriber_gets_each_event_with_its_id_type_and_json_data(make_app, mode) -> None:
    app = make_app(**mode)
    client = logged_in(app)
    stream = open_stream(client)
    ids = [publish(client, "first"), publish(client, "line one\nline two")]
    events = read_events(stream, 2)
    assert [event.id for event in events] == ids
    assert {event.event for event in events} == {"message"}
    assert [event.json() for event in events] == [
        {"event_id": ids[0], "message": "first", "published_by": "A"},
        {"event_id": ids[1], "message": "line one\nline two", "published_by": "A"},
    ]


@pytest.mark.parametrize("mode", MODES)
def test_users_get_only_their_own_events(make_app, mode) -> None:
    app = make_app(**mode)
    alice, bob = logged_in(app, "alice"), logged_in(app, "bob")
    stream = open_stream(alice)
    publish(bob, "for bob")
    publish(alice, "for alice")
    assert [event.json()["message"] for event in read_events(stream, 1)] == ["for alice"]


# --- one instance or all: where the state of a connection lives -------------------------------


def test_in_memory_a_subscriber_on_a_never_sees_what_b_published(make_app) -> None:
    a, b = make_app("A", STATE="memory"), make_app("B", STATE="memory")
    on_a, on_b = logged_in(a), logged_in(b)  # one user, one session (the store is shared)
    stream = open_stream(on_a)
    publish(on_b, "published on B")
    publish(on_a, "published on A")
    events = read_events(stream, 2, timeout=1.5)  # the stream ends after its wait: only A's
    assert [event.json()["published_by"] for event in events] == ["A"]


@pytest.mark.parametrize("mode", SHARED)
def test_through_redis_a_subscriber_on_a_sees_what_b_published(make_app, mode) -> None:
    a, b = make_app("A", **mode), make_app("B", **mode)
    on_a, on_b = logged_in(a), logged_in(b)
    stream = open_stream(on_a)
    publish(on_b, "published on B")
    publish(on_a, "published on A")
    events = read_events(stream, 2)
    assert [event.json()["published_by"] for event in events] == ["B", "A"]


def test_a_stream_resumes_after_last_event_id_on_any_instance(make_app) -> None:
    a, b = make_app("A", STREAM_SECONDS=0), make_app("B", STREAM_SECONDS=0)
    client = logged_in(a)
    ids = [publish(client, f"event {n}") for n in range(4)]
    on_b = logged_in(b)
    events = read_events(open_stream(on_b, **{"Last-Event-ID": ids[1]}), 10)
    assert [event.id for event in events] == ids[2:]  # nothing lost, nothing twice
    assert read_events(open_stream(on_b), 10) == []  # no Last-Event-ID: new events only


def test_pubsub_keeps_nothing_for_a_client_that_was_away(make_app) -> None:
    app = make_app(STATE="shared", EVENTS_VIA="pubsub", STREAM_SECONDS=0)
    client = logged_in(app)
    first = publish(client, "while nobody listened")
    publish(client, "this one too")
    assert read_events(open_stream(client, **{"Last-Event-ID": first}), 10) == []


@pytest.mark.parametrize(
    "value",
    [
        *["abc", "1-", "-1", "1-2-3", "1 -2", "1" * 21 + "-0", "$", "0x1-0", "１-1"],
        *[f"{2**64}-0", f"0-{2**64}", "99999999999999999999-0"],  # past Redis's 64-bit halves
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_a_malformed_last_event_id_is_a_400(make_app, mode, value) -> None:
    client = logged_in(make_app(**mode))
    answer = client.get("/events", headers={"Last-Event-ID": value})
    assert answer.status_code == 400
    assert "Last-Event-ID" in answer.get_json()["error"]


def test_the_stream_is_trimmed_and_expires(make_app, store) -> None:
    app = make_app(KEY_PREFIX="trim:")
    client = logged_in(app)
    publish(client, "one")
    assert 0 < store.ttl("trim:events:alice") <= events_app.STREAM_TTL_SECONDS
    store.delete("trim:events:alice")


# --- how a stream ends --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_ends_after_stream_seconds_with_heartbeats_meanwhile(make_app, mode) -> None:
    client = logged_in(make_app(STREAM_SECONDS=2, **mode))
    started = time.monotonic()
    body = b"".join(chunks(open_stream(client)))
    assert 1.9 <= time.monotonic() - started < 3.5
    assert body.startswith(b"retry: ")
    assert body.count(b": keepalive\n\n") >= 1


@pytest.mark.parametrize("mode", MODES)
def test_stream_seconds_zero_is_a_poll_that_ends_at_once(make_app, mode) -> None:
    client = logged_in(make_app(STREAM_SECONDS=0, **mode))
    started = time.monotonic()
    assert b"".join(chunks(open_stream(client))) == b"retry: 1000\n\n"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("mode", MODES)
def test_a_draining_instance_ends_its_streams_within_a_second(make_app, mode) -> None:
    client = logged_in(make_app(STREAM_SECONDS=30, **mode))
    stream = open_stream(client)
    pieces = chunks(stream)
    next(pieces)  # the stream is running
    timer = threading.Timer(0.2, draining.start_draining)
    started = time.monotonic()
    timer.start()
    try:
        rest = b"".join(pieces)
        assert time.monotonic() - started < 1.6
        assert b"retry" not in rest
    finally:
        timer.cancel()
        draining.reset()


def test_a_memory_subscriber_is_forgotten_when_its_stream_ends(make_app) -> None:
    app = make_app(STATE="memory", STREAM_SECONDS=0)
    client = logged_in(app)
    hub = app.extensions["events"]["hub"]
    stream = open_stream(client)
    assert len(hub.subscribers["alice"]) == 1
    b"".join(chunks(stream))  # the stream ran to its end
    assert hub.subscribers == {}
    open_stream(client).close()  # closed before it was read: a client that left at once
    assert hub.subscribers == {}


def test_head_answers_the_headers_without_a_stream(make_app) -> None:
    client = logged_in(make_app(STREAM_SECONDS=30))
    started = time.monotonic()
    answer = client.head("/events")
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert answer.get_data() == b""
    assert time.monotonic() - started < 0.5


# --- Redis fails ---------------------------------------------------------------------------


def outage_app(**config: object) -> tuple[Flask, fakeredis.FakeServer]:
    server = fakeredis.FakeServer()
    store = fakeredis.FakeRedis(server=server, decode_responses=True)
    settings = {**SECRETS, "STREAM_SECONDS": 10, **config}
    return events_app.create_app("A", redis=store, config=settings), server


@pytest.mark.parametrize("mode", SHARED)
def test_redis_failing_during_a_stream_ends_it_without_a_500(mode, caplog) -> None:
    app, server = outage_app(**mode)
    stream = open_stream(logged_in(app))
    pieces = chunks(stream)
    assert next(pieces).startswith(b"retry")
    server.connected = False  # Redis is gone
    started = time.monotonic()
    list(pieces)  # the stream ends instead of hanging or raising
    assert time.monotonic() - started < 2.5
    assert "unavailable" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("mode", SHARED)
def test_redis_down_when_subscribing_or_publishing_is_a_503(mode) -> None:
    app, server = outage_app(**mode)
    client = logged_in(app)
    server.connected = False
    for answer in (client.get("/events"), client.post("/events", json={"message": "hi"})):
        assert answer.status_code == 503
        assert "unavailable" in answer.get_json()["error"]


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"STATE": "disk"},
        {"EVENTS_VIA": "kafka"},
        {"STREAM_SECONDS": -1},
        {"STREAM_SECONDS": 3601},
        {"STREAM_SECONDS": "soon"},
        {"RETRY_MS": 60_001},
    ],
)
def test_a_bad_setting_stops_the_app_at_start_naming_it(store, config) -> None:
    with pytest.raises(ValueError, match=next(iter(config))):
        events_app.create_app("A", redis=store, config={**SECRETS, **config})


def test_settings_come_from_the_environment_too(store, monkeypatch) -> None:
    monkeypatch.setenv("STATE", "shared")
    monkeypatch.setenv("EVENTS_VIA", "pubsub")
    monkeypatch.setenv("STREAM_SECONDS", "7")
    app = events_app.create_app("A", redis=store, config=SECRETS)
    assert app.extensions["events"]["mode"] == "pubsub"
    assert app.extensions["events"]["stream_seconds"] == 7
    monkeypatch.delenv("EVENTS_VIA")
    default = events_app.create_app("A", redis=store, config=SECRETS)
    assert default.extensions["events"]["mode"] == "stream"
