"""Lesson 13, the capstone's STARTER: a shop that keeps EVERY kind of state in the instance.
THE ANTI-PATTERN, ON PURPOSE.

!!! Do not run this design behind a load balancer. Making it stateless is the capstone. !!!

The shop serves every route of COURSE_DESIGN §6 and §6b: login, ``/me``, logout and the cart;
``/quota``; ``/files``; ``/jobs``; ``/events``; ``/payments``; ``/healthz`` and ``/readyz``. Each
works, on one instance. Behind two, each breaks in the way its lesson showed:

* **sessions and carts** live in a dict of the instance: the next request, sent to B, is a 401
  (lessons 01, 02);
* **the quota** counts in a dict of the instance: behind N instances a user gets N × the limit
  (lesson 08);
* **uploads** go to a temporary directory on the instance's disk: 404 on B, and gone when A is
  replaced (lesson 09);
* **jobs** wait in a queue in the instance, run by a thread of the instance: B never heard of
  them, and a ``kill -9`` loses them (lesson 09);
* **events** reach only the subscribers connected to the instance that took the ``POST``
  (lesson 09);
* **payments** have no idempotency at all: the ``Idempotency-Key`` is checked, then ignored, so
  a retry charges again (lesson 10).

**How the file is built: the state first, the routes after.** Each kind of state is a small
*part*, a class with two to four methods; :class:`ShopParts` holds one of each; ``build_app``
holds the routes and reaches the state only through the parts. :func:`memory_parts` gives this
starter's parts, and :func:`create_app` is ``build_app(memory_parts(...))``. Your capstone:
copy this file to ``my_shop.py``, write a shared version of each part (Redis, object storage,
worker processes), give ``build_app`` your parts, and leave the routes as they are. Each
part's methods, which your version must keep:

* ``sessions``: ``start(user, old_id) -> session_id``, ``find(session_id) -> Session | None``,
  ``add_item(session_id, sku, qty) -> cart``, ``end(session_id)``;
* ``quota``: ``hit(user, limit, window, now) -> (allowed, count, retry_after)``;
* ``files``: ``put(file_id, stored, user)``, ``get(file_id) -> StoredFile | None``;
* ``jobs``: ``enqueue(kind, params) -> job_id``, ``lookup(job_id) -> {"status", "result"} |
  None``;
* ``events``: ``publish(user, message, instance) -> event_id``, ``subscribe(user, last_id) ->
  source``, where ``source.read(wait) -> [event bytes]`` and ``source.close()``;
* ``payments``: ``pay(user, key, body) -> (status, answer, replayed)``, ``charges(user) ->
  [charge]``;
* ``liveness() -> bool`` and ``readiness() -> bool``: what ``/healthz`` and ``/readyz`` ask.

The routes check every input before a part sees it (a session id's length, a sku, a job, a
file's size and type, a payment body and its key), so a part only stores and finds.

Settings (config, else environment): ``RATE_LIMIT`` (default 10) and ``RATE_WINDOW`` (seconds,
default 60); ``MAX_UPLOAD_BYTES`` (default 1 MiB, for ``POST /files`` only: every other body
stays at 16 KB); ``STREAM_SECONDS`` (how long ``GET /events`` streams, default 30; 0: a poll)
and ``RETRY_MS``; ``SESSION_COOKIE_SECURE``; ``CLOCK`` (config only: seconds since the epoch,
default ``time.time``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from werkzeug.exceptions import (
    BadRequest,
    Unauthorized,
)

from labs.apps import draining
from labs.apps.events_app import (
    DEFAULT_RETRY_MS,
    DEFAULT_STREAM_SECONDS,
    EVENT_ID,
    HEARTBEAT,
    MAX_ID_PART,
    MAX_STREAM_SECONDS,
    MESSAGE_MAX_CHARS,
    WAIT_SECONDS,
    MemoryHub,
)
from labs.apps.files_app import (
    DEFAULT_MAX_UPLOAD_BYTES,
    FILE_ID,
    MAX_MAX_UPLOAD_BYTES,
    DiskFiles,
    add_s3_error_handlers,
    created,
    new_file_id,
    read_upload,
    served,
)
from labs.apps.jobs_app import MemoryJobs
from labs.apps.payments_app import idempotency_key, payment_body
from labs.apps.quota_app import (
    DEFAULT_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    MAX_LIMIT,
    MAX_WINDOW_SECONDS,
    MemoryLimiter,
    quota_answer,
)
from labs.apps.users import verify_password
from labs.apps.web import (
    add_to_cart,
    cart_item,
    cart_json,
    create_base_app,
    credentials,
    error,
    int_setting,
    json_body,
    string_field,
)
from labs.jobs.kinds import InvalidJob, check_job
from labs.jobs.queue import is_job_id

COOKIE = "session"
MAX_SESSION_ID_CHARS = 128  # a real id is 43 characters; anything far longer is garbage
EXTENSION = "shop"  # app.extensions[EXTENSION]: this instance's parts (to look inside)


# ================================================================================================
# THE STATE: one small class per kind, every one of them in this instance (the anti-pattern).
# ================================================================================================


@dataclass(frozen=True)
class Session:
    """Who is logged in, and their cart (``sku -> qty``)."""

    user: str
    cart: dict[str, int]


def new_session_id() -> str:
    """256 random bits, URL-safe: nobody guesses a session, and each login gets a new one."""
    return secrets.token_urlsafe(32)


class MemorySessions:
    """Sessions and their carts, in a dict of this instance: ``session id -> Session``."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()  # this instance's threads share the dict

    def start(self, user: str, old_id: str = "") -> str:
        """A new session for ``user``; its id. The old session, if any, ends (no fixation)."""
        session_id = new_session_id()
        with self._lock:
            self.sessions.pop(old_id, None)
            self.sessions[session_id] = Session(user, {})
        return session_id

    def find(self, session_id: str) -> Session | None:
        """The session, if this instance has it."""
        return self.sessions.get(session_id)

    def add_item(self, session_id: str, sku: str, qty: int) -> dict[str, int]:
        """The cart with ``qty`` more of ``sku``: a 400 past a limit, a 401 if the session went."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise Unauthorized("not logged in (the session ended)")
            cart = add_to_cart(session.cart, sku, qty)
            self.sessions[session_id] = Session(session.user, cart)
        return cart

    def end(self, session_id: str) -> None:
        """Forget the session (logout): its id is worthless from now on."""
        self.sessions.pop(session_id, None)


class MemoryQuota:
    """The fixed-window counters, in this instance (lesson 08's :class:`MemoryLimiter`)."""

    def __init__(self) -> None:
        self.limiter = MemoryLimiter()
        self._lock = threading.Lock()

    def hit(self, user: str, limit: int, window: int, now: float) -> tuple[bool, int, int]:
        """Count one request of ``user`` in the window of ``window`` seconds holding ``now``:
        ``(allowed, count so far, whole seconds to the window's end)``."""
        with self._lock:
            return self.limiter.hit(None, f"quota:{user}", limit, window, now)


# Files are lesson 09's DiskFiles: a temporary directory of this instance, made at the first
# upload (put(file_id, stored, user), get(file_id) -> StoredFile | None). Jobs are lesson 09's
# MemoryJobs: a queue and a thread of this instance (enqueue(kind, params) -> job_id,
# lookup(job_id) -> {"status", "result"} | None).


class EventSource(Protocol):
    """One open ``GET /events``: the user's events as they come."""

    def read(self, wait: float) -> list[bytes]:
        """The next events (server-sent event bytes), waiting at most ``wait`` seconds."""
        ...

    def close(self) -> None: ...


class MemoryEvents:
    """Events fanned out inside this instance (lesson 09's :class:`MemoryHub`): a ``POST`` to A
    reaches only the streams open on A."""

    def __init__(self) -> None:
        self.hub = MemoryHub()

    def publish(self, user: str, message: str, instance: str) -> str:
        """Send ``message`` to ``user``'s open streams; the event's id."""
        return self.hub.publish(user, message, instance)

    def subscribe(self, user: str, last_id: str | None) -> EventSource:
        """A stream of ``user``'s events from now on (nothing is kept: ``last_id`` cannot help)."""
        return self.hub.subscribe(user)


def confirmed(body: dict[str, Any]) -> dict[str, Any]:
    """A new payment's answer: ``{"payment_id", "amount_cents", "currency", "status"}``."""
    return {"payment_id": "pay_" + secrets.token_hex(8), **body, "status": "confirmed"}


class MemoryPayments:
    """Charges in a list per user, in this instance, and NO idempotency: every call charges."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.ledger: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def pay(self, user: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        """Charge ``body`` to ``user``: ``(status, answer, replayed)``. ``key`` is ignored: a
        retry with the same key charges again."""
        answer = confirmed(body)
        with self._lock:
            charge = {"payment_id": answer["payment_id"], **body, "instance": self.instance_id}
            self.ledger.setdefault(user, []).append(charge)
        return 201, answer, False

    def charges(self, user: str) -> list[dict[str, Any]]:
        """Every charge made for ``user``, duplicates included."""
        return list(self.ledger.get(user, []))


@dataclass
class ShopParts:
    """Where the shop keeps each kind of state: what ``build_app``'s routes call."""

    sessions: Any  # start, find, add_item, end
    quota: Any  # hit
    files: Any  # put, get
    jobs: Any  # enqueue, lookup
    events: Any  # publish, subscribe
    payments: Any  # pay, charges
    liveness: Callable[[], bool]  # /healthz: is this process alive? (never a shared store)
    readiness: Callable[[], bool]  # /readyz: can it serve? (may ask the stores)


def always() -> bool:
    """A probe with nothing to check: the process answered, so it is alive (and ready)."""
    return True


def memory_parts(instance_id: str, config: dict[str, Any] | None = None) -> ShopParts:
    """The starter's parts: all of them in this instance."""
    return ShopParts(
        sessions=MemorySessions(),
        quota=MemoryQuota(),
        files=DiskFiles(),
        jobs=MemoryJobs(),
        events=MemoryEvents(),
        payments=MemoryPayments(instance_id),
        liveness=always,
        readiness=always,  # no store to check (a draining instance is refused by the route)
    )


# ================================================================================================
# THE ROUTES: the same for every shop. They reach the state only through ``parts``.
# ================================================================================================


def build_app(instance_id: str, config: dict[str, Any] | None, parts: ShopParts) -> Flask:
    """One instance of the shop, keeping its state in ``parts``."""
    app = create_base_app(__name__, instance_id, config)
    limit = int_setting(app.config, "RATE_LIMIT", DEFAULT_LIMIT, 1, MAX_LIMIT)
    window = int_setting(app.config, "RATE_WINDOW", DEFAULT_WINDOW_SECONDS, 1, MAX_WINDOW_SECONDS)
    max_upload = int_setting(
        app.config, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_MAX_UPLOAD_BYTES
    )
    stream_seconds = int_setting(
        app.config, "STREAM_SECONDS", DEFAULT_STREAM_SECONDS, 0, MAX_STREAM_SECONDS
    )
    retry_ms = int_setting(app.config, "RETRY_MS", DEFAULT_RETRY_MS, 0, 60_000)
    clock = app.config.get("CLOCK") or time.time
    if not callable(clock):
        raise ValueError("CLOCK must be a function returning seconds since the epoch")
    secure = bool(app.config["SESSION_COOKIE_SECURE"])
    app.extensions[EXTENSION] = parts

    # --- sessions and the cart (§6) ------------------------------------------------------------

    def session_id() -> str:
        """The session id the browser sent, if it has a plausible shape; else 401."""
        value = request.cookies.get(COOKIE, "")
        if not value or len(value) > MAX_SESSION_ID_CHARS:
            raise Unauthorized("not logged in")
        return value

    def current_session() -> Session:
        session = parts.sessions.find(session_id())
        if session is None:
            raise Unauthorized("not logged in (no such session here)")
        return session

    def current_user() -> str:
        return current_session().user

    @app.post("/login")
    def login() -> Response | tuple[Response, int]:
        username, password = credentials()
        if not verify_password(username, password):
            return error(401, "invalid username or password")
        old_id = request.cookies.get(COOKIE, "")
        new_id = parts.sessions.start(
            username, old_id if len(old_id) <= MAX_SESSION_ID_CHARS else ""
        )
        response = jsonify(user=username)
        response.set_cookie(COOKIE, new_id, httponly=True, samesite="Lax", secure=secure)
        return response

    @app.get("/me")
    def me() -> Response:
        return jsonify(user=current_user(), instance=instance_id)

    @app.post("/logout")
    def logout() -> Response:
        current_session()
        parts.sessions.end(session_id())
        response = Response(status=204)
        response.delete_cookie(COOKIE, httponly=True, samesite="Lax", secure=secure)
        return response

    @app.get("/cart")
    def cart() -> Response:
        session = current_session()
        return cart_json(session.user, session.cart)

    @app.post("/cart/items")
    def add_item() -> Response:
        user = current_user()
        sku, qty = cart_item()
        return cart_json(user, parts.sessions.add_item(session_id(), sku, qty))

    # --- probes ------------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> Response | tuple[Response, int]:
        if not parts.liveness():
            return error(503, "not alive: the liveness probe said no")
        return jsonify(status="ok", instance=instance_id)

    @app.get("/readyz")
    def readyz() -> Response | tuple[Response, int]:
        if draining.is_draining():
            return error(503, "draining: not taking new requests")
        if not parts.readiness():
            return error(503, "not ready: the readiness probe said no")
        return jsonify(status="ready", instance=instance_id)

    # --- the quota (§6b, lesson 08) ----------------------------------------------------------

    @app.get("/quota")
    def quota() -> Response | tuple[Response, int]:
        user = current_user()
        return quota_answer(parts.quota.hit(user, limit, window, clock()), limit, window)

    # --- files (§6b, lesson 09) --------------------------------------------------------------

    @app.post("/files")
    def upload() -> tuple[Response, int]:
        user = current_user()
        file_id = new_file_id()
        parts.files.put(file_id, read_upload(max_upload), user)
        return created(file_id)

    @app.get("/files/<file_id>")
    def download(file_id: str) -> Response:
        return served(parts.files.get(file_id) if FILE_ID.fullmatch(file_id) else None)

    add_s3_error_handlers(app)  # object storage down or refusing: a JSON 503

    # --- jobs (§6b, lesson 09) ---------------------------------------------------------------

    @app.post("/jobs")
    def submit() -> tuple[Response, int]:
        current_user()
        body = json_body()
        try:
            kind, params = check_job(body.get("kind"), body.get("params"))
        except InvalidJob as exc:
            return error(400, str(exc))
        job_id = parts.jobs.enqueue(kind, params)
        response = jsonify(job_id=job_id)
        response.headers["Location"] = f"/jobs/{job_id}"
        return response, 202

    @app.get("/jobs/<job_id>")
    def job(job_id: str) -> Response | tuple[Response, int]:
        found = parts.jobs.lookup(job_id) if is_job_id(job_id) else None
        if found is None:
            return error(404, "unknown job")
        return jsonify(job_id=job_id, status=found["status"], result=found["result"])

    # --- events (§6b, lesson 09) -------------------------------------------------------------

    def stream(source: EventSource) -> Iterator[bytes]:
        """``retry:``, then the events as they come, a heartbeat after each quiet second; the
        end after ``stream_seconds``, at once when draining, or when a store fails under it."""
        deadline = time.monotonic() + stream_seconds
        try:
            yield f"retry: {retry_ms}\n\n".encode()
            while True:
                wait = (
                    0.0
                    if draining.is_draining()
                    else min(WAIT_SECONDS, deadline - time.monotonic())
                )
                events = source.read(wait)
                yield from events
                if not events and wait >= WAIT_SECONDS:
                    yield HEARTBEAT  # a client that went away is noticed when this write fails
                if time.monotonic() >= deadline or draining.is_draining():
                    return
        except (RedisError, OSError):  # the store went away: end; the client reconnects
            app.logger.warning("events stream ended: the shared store is unavailable")
        finally:
            source.close()

    @app.get("/events")
    def events() -> Response:
        user = current_user()
        last_id = last_event_id()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":
            return Response(mimetype="text/event-stream", headers=headers)
        source = parts.events.subscribe(user, last_id)  # subscribed before the first byte
        response = Response(stream(source), mimetype="text/event-stream", headers=headers)
        response.call_on_close(source.close)
        return response

    @app.post("/events")
    def publish() -> tuple[Response, int]:
        user = current_user()
        message = string_field(json_body(), "message", MESSAGE_MAX_CHARS)
        return jsonify(event_id=parts.events.publish(user, message, instance_id)), 202

    # --- payments (§6b, lesson 10) -----------------------------------------------------------

    @app.post("/payments")
    def pay() -> Response:
        user = current_user()
        key, body = idempotency_key(), payment_body()  # a 400 before any part is asked
        status, answer, replayed = parts.payments.pay(user, key, body)
        response = Response(json.dumps(answer), int(status), mimetype="application/json")
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    @app.get("/payments")
    def payments() -> Response:
        return jsonify(payments=parts.payments.charges(current_user()))

    return app


def last_event_id() -> str | None:
    """The request's ``Last-Event-ID`` (where a reconnecting browser stopped), checked."""
    value = request.headers.get("Last-Event-ID")
    if not value:
        return None
    if not EVENT_ID.fullmatch(value) or any(int(part) > MAX_ID_PART for part in value.split("-")):
        raise BadRequest("Last-Event-ID must be an id this app sent, like 1700000000000-0")
    return value


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance of the starter shop. ``redis`` is accepted for the common contract and
    ignored: nothing here is shared."""
    return build_app(instance_id, config, memory_parts(instance_id, config))
