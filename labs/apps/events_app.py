"""Lesson 09: a live connection is state too: server-sent events, per user.

The app is ``labs/apps/stateless_app.py`` (login, ``/me``, logout, cart, sessions in Redis) plus
one route family (COURSE_DESIGN §6b):

* ``GET /events`` (logged in, else 401): a ``text/event-stream`` of the user's events. It opens
  with ``retry: <ms>`` (how long a client waits before reconnecting), then sends each event as
  ``id: <id>`` / ``event: message`` / ``data: {"event_id", "message", "published_by"}``, and a
  comment (``: keepalive``) after each second without an event, so that a client that went away
  is noticed (the write fails). It ends after ``STREAM_SECONDS`` (default 30; 0: send what is
  already there, then end: a poll), within a second when the instance starts draining (SIGTERM),
  and when Redis fails under it: the client reconnects, and never gets a 500.
* ``POST /events`` JSON ``{"message": str}`` (1 to 1,000 characters, else 400): 202
  ``{"event_id"}``; the event goes to the caller's own stream.

Where an event goes from the instance that took the ``POST`` is ``STATE`` (config, else the
environment; default ``"shared"``):

* ``"memory"``: to the subscribers *of this instance* (a list of queues per user). A subscriber
  connected to A never sees what a request to B published: behind N instances it gets 1/N.
* ``"shared"``: through Redis, as ``EVENTS_VIA`` says (config, else environment):

  - ``"pubsub"``: ``PUBLISH <prefix>events:<user>``; every instance's stream ``SUBSCRIBE``\\ s.
    Delivered to whoever is subscribed *now*: a client that is reconnecting misses what is
    published meanwhile, since a channel keeps nothing.
  - ``"stream"`` (the default): ``XADD <prefix>events:<user> MAXLEN ~ 1000`` (and a TTL of an
    hour): a log, kept. ``GET /events`` reads it with ``XREAD BLOCK`` from the id in the
    ``Last-Event-ID`` request header (what a browser's ``EventSource`` sends when it reconnects),
    or from the newest event when there is none. Every event's ``id:`` is its stream id, so a
    client reconnecting to *any* instance resumes where it stopped: nothing lost, nothing twice.

Event ids look like stream ids (``<milliseconds>-<number>``) in every mode, and a
``Last-Event-ID`` of another shape is a 400; only ``"stream"`` can resume from one. Each open
stream holds a worker thread: serve this app with gunicorn's ``gthread`` worker and enough
threads (``GUNICORN_CMD_ARGS="--threads 8"``). Other settings (config, else environment):
``KEY_PREFIX`` (default ``""``), ``RETRY_MS`` (default 1000).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request
from redis import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as StoreTimeoutError
from werkzeug.exceptions import BadRequest

from labs.apps import draining, stateless_app
from labs.apps.stateless_app import session_user
from labs.apps.web import choice_setting, int_setting, json_body, string_field, text_setting
from labs.redis_store import lazy_redis

STATES = ("memory", "shared")
VIAS = ("pubsub", "stream")
MESSAGE_MAX_CHARS = 1000
DEFAULT_STREAM_SECONDS = 30
MAX_STREAM_SECONDS = 3600
DEFAULT_RETRY_MS = 1000
WAIT_SECONDS = 1.0  # the longest wait for an event: then a heartbeat, a drain and deadline check
STORE_TIMEOUT_SECONDS = WAIT_SECONDS + 2  # a blocking read must return before its socket times out
STREAM_MAXLEN = 1000  # events kept per user (approximately: MAXLEN ~)
STREAM_TTL_SECONDS = 3600  # a user's stream is deleted an hour after its last event
QUEUE_SIZE = 1000  # a memory subscriber that falls this far behind loses the newest events
READ_COUNT = 100  # events read at once
EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
MAX_ID_PART = 2**64 - 1  # each half of a stream id is a 64-bit number: Redis refuses more
HEARTBEAT = b": keepalive\n\n"
EXTENSION = "events"  # app.extensions[EXTENSION]: this instance's settings and subscribers


def sse_event(event_id: str, data: dict[str, Any]) -> bytes:
    """One server-sent event. JSON escapes every line break, so ``data`` is a single line."""
    return f"id: {event_id}\nevent: message\ndata: {json.dumps(data)}\n\n".encode()


def local_event_id(counter: Iterator[int]) -> str:
    """An id shaped like a stream id, for the modes that keep no stream (unique per instance)."""
    return f"{time.time_ns() // 1_000_000}-{next(counter)}"


class MemoryHub:
    """THE ANTI-PATTERN: this instance's subscribers, per user; a publish reaches only them."""

    def __init__(self) -> None:
        self.subscribers: dict[str, list[queue.Queue[bytes]]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def publish(self, user: str, message: str, instance: str) -> str:
        event_id = local_event_id(self._ids)
        data = {"event_id": event_id, "message": message, "published_by": instance}
        event = sse_event(event_id, data)
        with self._lock:
            for inbox in self.subscribers.get(user, []):
                with contextlib.suppress(queue.Full):  # a subscriber that stopped reading
                    inbox.put_nowait(event)
        return event_id

    def subscribe(self, user: str) -> MemorySource:
        inbox: queue.Queue[bytes] = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self.subscribers.setdefault(user, []).append(inbox)
        return MemorySource(self, user, inbox)

    def unsubscribe(self, user: str, inbox: queue.Queue[bytes]) -> None:
        with self._lock:
            inboxes = self.subscribers.get(user, [])
            if inbox in inboxes:
                inboxes.remove(inbox)
            if not inboxes:
                self.subscribers.pop(user, None)


class MemorySource:
    """One subscriber's queue in a :class:`MemoryHub`."""

    def __init__(self, hub: MemoryHub, user: str, inbox: queue.Queue[bytes]) -> None:
        self.hub, self.user, self.inbox = hub, user, inbox

    def read(self, wait: float) -> list[bytes]:
        try:
            events = [self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()]
        except queue.Empty:
            return []
        while len(events) < READ_COUNT:
            try:
                events.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return events

    def close(self) -> None:
        self.hub.unsubscribe(self.user, self.inbox)


class PubSubSource:
    """A Redis subscription to one user's channel: what is published while it is open."""

    def __init__(self, store: Redis, channel: str) -> None:
        self.pubsub = store.pubsub(ignore_subscribe_messages=False)
        try:
            self.pubsub.subscribe(channel)
            # Wait for Redis to confirm: from then on, every PUBLISH reaches this subscriber.
            deadline = time.monotonic() + STORE_TIMEOUT_SECONDS
            while True:
                reply = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if reply is not None and reply["type"] == "subscribe":
                    break
                if time.monotonic() >= deadline:
                    raise StoreTimeoutError("Redis did not confirm SUBSCRIBE")  # a 503
        except BaseException:
            self.close()
            raise

    def read(self, wait: float) -> list[bytes]:
        events = []
        reply = self.pubsub.get_message(timeout=max(0.0, wait))
        while reply is not None and len(events) < READ_COUNT:
            if reply["type"] == "message":
                events.append(str(reply["data"]).encode())  # published as a whole SSE event
            reply = self.pubsub.get_message(timeout=0.0)
        return events

    def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # the connection is already gone
            self.pubsub.close()


class StreamSource:
    """A reader of one user's Redis stream, after ``last_id`` (each read moves it on)."""

    def __init__(self, store: Redis, key: str, last_id: str | None) -> None:
        self.store, self.key = store, key
        if last_id is None:  # no Last-Event-ID: from the newest event now, exclusive ("$")
            newest = store.xrevrange(key, count=1)
            last_id = newest[0][0] if newest else "0-0"
        self.last_id = last_id

    def read(self, wait: float) -> list[bytes]:
        block = max(1, int(wait * 1000)) if wait > 0 else None  # BLOCK 0 would wait forever
        found = self.store.xread({self.key: self.last_id}, count=READ_COUNT, block=block)
        events = []
        for _, entries in found:
            for event_id, fields in entries:
                data = {"event_id": event_id, **fields}
                events.append(sse_event(event_id, data))
                self.last_id = event_id
        return events

    def close(self) -> None:
        pass


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance: the stateless app's routes, plus ``GET``/``POST /events``."""
    config = dict(config or {})
    store = redis if redis is not None else lazy_redis(timeout=STORE_TIMEOUT_SECONDS)
    app = stateless_app.create_app(instance_id, redis=store, config=config)
    state = choice_setting(config, "STATE", "shared", STATES)
    via = choice_setting(config, "EVENTS_VIA", "stream", VIAS)
    mode = "memory" if state == "memory" else via
    stream_seconds = int_setting(
        app.config, "STREAM_SECONDS", DEFAULT_STREAM_SECONDS, 0, MAX_STREAM_SECONDS
    )
    retry_ms = int_setting(app.config, "RETRY_MS", DEFAULT_RETRY_MS, 0, 60_000)
    ttl = stateless_app.session_ttl(app.config)
    prefix = text_setting(config, "KEY_PREFIX")
    hub = MemoryHub()
    ids = itertools.count(1)
    app.extensions[EXTENSION] = {"mode": mode, "stream_seconds": stream_seconds, "hub": hub}

    def key(user: str) -> str:
        return f"{prefix}events:{user}"  # the pub/sub channel, or the stream

    def last_event_id() -> str | None:
        value = request.headers.get("Last-Event-ID")
        if value is None or value == "":
            return None
        if not EVENT_ID.fullmatch(value) or any(
            int(part) > MAX_ID_PART for part in value.split("-")
        ):
            raise BadRequest("Last-Event-ID must be an id this app sent, like 1700000000000-0")
        return value

    def open_source(user: str, last_id: str | None) -> MemorySource | PubSubSource | StreamSource:
        if mode == "memory":
            return hub.subscribe(user)
        if mode == "pubsub":
            return PubSubSource(store, key(user))  # pub/sub keeps nothing: last_id cannot help
        return StreamSource(store, key(user), last_id)

    def stream(source: MemorySource | PubSubSource | StreamSource) -> Iterator[bytes]:
        deadline = time.monotonic() + stream_seconds
        try:
            yield f"retry: {retry_ms}\n\n".encode()
            while True:
                wait = min(WAIT_SECONDS, deadline - time.monotonic())
                if draining.is_draining():
                    wait = 0.0  # a graceful stop must not wait for this stream: end it now
                events = source.read(wait)
                yield from events
                if not events and wait >= WAIT_SECONDS:
                    yield HEARTBEAT  # a dead client is noticed when this write fails
                if time.monotonic() >= deadline or draining.is_draining():
                    return
        except (RedisError, OSError):
            # Redis went away under the stream: end it; the client reconnects (no 500 to log).
            app.logger.warning("events stream ended: the shared store is unavailable")
        finally:
            source.close()

    @app.get("/events")
    def events() -> Response:
        user = session_user(store, ttl)
        last_id = last_event_id()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: no buffering
        if request.method == "HEAD":  # the stream's headers, no stream
            return Response(mimetype="text/event-stream", headers=headers)
        source = open_source(user, last_id)  # subscribed before the first byte is sent
        response = Response(stream(source), mimetype="text/event-stream", headers=headers)
        response.call_on_close(source.close)  # also when the stream never started
        return response

    @app.post("/events")
    def publish() -> tuple[dict[str, str], int]:
        user = session_user(store, ttl)
        message = string_field(json_body(), "message", MESSAGE_MAX_CHARS)
        if mode == "memory":
            event_id = hub.publish(user, message, instance_id)
        elif mode == "pubsub":
            event_id = local_event_id(ids)
            data = {"event_id": event_id, "message": message, "published_by": instance_id}
            store.publish(key(user), sse_event(event_id, data).decode())
        else:
            fields = {"message": message, "published_by": instance_id}
            pipe = store.pipeline(transaction=True)
            pipe.xadd(key(user), fields, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.expire(key(user), STREAM_TTL_SECONDS)
            event_id, _ = pipe.execute()
        return {"event_id": event_id}, 202

    return app
