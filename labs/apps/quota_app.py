"""Lesson 08: state hidden in the process: a rate limit, a cache, and a counter.

The app is ``labs/apps/stateless_app.py`` (login, ``/me``, logout, cart, sessions in Redis) plus
three route families whose state can live in the instance or in the shared store, chosen by
``config["STATE"]``: ``"memory"`` (in this instance: the anti-pattern) or ``"shared"`` (in Redis,
the default).

``GET /quota`` (COURSE_DESIGN §6b): a per-user rate limit of ``RATE_LIMIT`` requests (default 10)
per fixed window of ``RATE_WINDOW`` seconds (default 60). The first ``RATE_LIMIT`` requests of a
window get 200 ``{"remaining": limit - n}`` (9, 8, ... 0); later ones get 429 ``{"error"}`` with
``Retry-After``: the whole seconds to the window's end, at least 1. No session: 401.

* ``"memory"``: each instance counts in a dict of its own, so behind N instances a user gets
  N × limit requests per window; a restart forgets the count.
* ``"shared"``: one counter per user and window in Redis, ``<prefix>quota:<user>:<window number>``.
  ``INCR`` counts and answers the new count in one atomic step, so two instances counting at the
  same moment cannot both take the last slot; ``EXPIRE ... NX`` gives a new key the window's
  lifetime (later hits do not push it back). Both go in one ``MULTI``/``EXEC``, so no key is ever
  left without its TTL (nothing is left behind).

**The limiter is pluggable** (``config["LIMITER"]``: a module path, or any object, with a
function ``hit``), so an exercise can run a learner's limiter inside the app::

    def hit(store, key, limit, window, now) -> tuple[bool, int, int]:
        '''Count one request of ``key`` in the fixed window of ``window`` seconds holding
        ``now`` (seconds since the epoch, a float). ``store``: the Redis client every
        instance shares (``decode_responses=True``); ``key``: the user's key, e.g.
        ``"quota:alice"``, to which the limiter may append what it likes (a window number);
        ``limit``: requests allowed per window (an int >= 1).
        Returns ``(allowed, count, retry_after)``: ``allowed``, is this request within the
        limit; ``count``, how many requests this window counted so far, this one included
        when allowed (the app answers ``remaining = limit - count``; when refused it is not
        used and may exceed ``limit``, as ``INCR``'s answer does); ``retry_after``, the whole
        seconds until the window ends, >= 1 (sent as Retry-After when refused).'''

A refused request need not be undone in the store: in a fixed window, once a user is over the
limit every request is refused until the window ends. ``count`` and ``retry_after`` may be any
integral numbers (a numpy integer will do). Given ``LIMITER``, ``/quota`` uses it whatever
``STATE`` says; ``STATE`` still decides where likes are kept.

``GET /products/<sku>``: a product record read from the product store (a catalog that takes
``STORE_READ_SECONDS`` to answer, default 0.02 s) through a cache *in this instance*
(``X-Cache: hit`` or ``miss``). A restart empties it: the next reads are slow, and nothing is
lost, since the store still has every record. A cache is state you can rebuild.

``POST /likes/<sku>`` (logged in) and ``GET /likes/<sku>``: a like counter, the *source of
truth* for how many likes a product has. With ``"memory"`` it is a dict in the instance (each
instance has its own count, and a restart loses it: a counter you cannot rebuild); with
``"shared"`` it is ``INCR <prefix>likes:<sku>`` in Redis.

Other settings (config, else environment): ``KEY_PREFIX`` (default ``""``: a cluster's own
prefix for its quota and like keys, so several share one Redis), ``CLOCK`` (config only: a
function returning seconds since the epoch, default ``time.time``; experiments and the
exercise's check hold it still with a :class:`HeldClock`, so that a window cannot end in the
middle of one).
"""

from __future__ import annotations

import importlib
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from redis import Redis
from werkzeug.exceptions import BadRequest, NotFound

from labs.apps import stateless_app
from labs.apps.stateless_app import session_user
from labs.apps.web import (
    SKU_PATTERN,
    choice_setting,
    error,
    float_setting,
    int_setting,
    text_setting,
)
from labs.redis_store import lazy_redis

STATES = ("memory", "shared")
DEFAULT_LIMIT = 10
DEFAULT_WINDOW_SECONDS = 60
MAX_LIMIT = 1_000_000
MAX_WINDOW_SECONDS = 366 * 24 * 3600
DEFAULT_STORE_READ_SECONDS = 0.02
MAX_STORE_READ_SECONDS = 5.0
EXTENSION = "quota"  # app.extensions[EXTENSION]: what this instance keeps (to look inside)
# The product store: what a database would hold. Reading it takes STORE_READ_SECONDS.
CATALOG: dict[str, dict[str, Any]] = {
    "book-1": {"sku": "book-1", "name": "Designing for statelessness", "price_cents": 4500},
    "pen": {"sku": "pen", "name": "Fountain pen", "price_cents": 1200},
    "mug": {"sku": "mug", "name": "Stateless mug", "price_cents": 900},
}

Limiter = Callable[[Any, str, int, int, float], tuple[Any, Any, Any]]


class HeldClock:
    """A ``CLOCK`` that stands still until it is moved: ``clock()`` is the time, ``advance(s)``
    moves it on, ``at(s)`` puts it ``s`` seconds after where it started."""

    def __init__(self, start: float) -> None:
        self.start = self._now = float(start)
        self._lock = threading.Lock()

    @classmethod
    def in_next_window(cls, window: int, into: float = 0.0) -> HeldClock:
        """Held ``into`` seconds into the next ``window`` of the real clock: near the real time,
        so the keys' real TTLs still mean what the limiter meant."""
        clock = cls((math.floor(time.time() / window) + 1) * window)
        clock.at(into)
        return clock

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def at(self, into: float) -> None:
        with self._lock:
            self._now = self.start + into


def seconds_left(window_number: int, window: int, now: float) -> int:
    """Whole seconds from ``now`` to the end of window ``window_number``, at least 1."""
    return max(1, math.ceil((window_number + 1) * window - now))


def shared_hit(
    store: Redis, key: str, limit: int, window: int, now: float
) -> tuple[bool, int, int]:
    """The shared limiter: one counter per user and window in Redis, counted atomically.

    ``INCR`` alone is atomic: it counts and answers the new count in one step, so no instance
    reads a count that another is about to change (there is no separate read at all).
    ``EXPIRE counter window NX`` sets the TTL only when the key has none, i.e. at the window's
    first request: later hits do not push it back. The ``MULTI``/``EXEC`` around the two
    guarantees that no key is left without a TTL (a crash between two separate commands could
    leave a counter that lives forever). ``NX`` needs Redis 7.0 or later.
    """
    number = int(now // window)
    counter = f"{key}:{number}"
    pipe = store.pipeline(transaction=True)
    count, _ = pipe.incr(counter).expire(counter, window, nx=True).execute()
    return count <= limit, count, seconds_left(number, window, now)


class MemoryLimiter:
    """THE ANTI-PATTERN: counts in this instance's memory. Behind N instances, N × limit get
    through; a restart forgets every count. (No lock either: threads may race on it.)"""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # user key -> requests counted in the current window
        self.window_number: int | None = None

    def hit(
        self, store: Any, key: str, limit: int, window: int, now: float
    ) -> tuple[bool, int, int]:
        number = int(now // window)
        if number != self.window_number:  # a new window: forget the old one's counts
            self.counts, self.window_number = {}, number
        count = self.counts.get(key, 0)
        if count >= limit:
            return False, count, seconds_left(number, window, now)
        self.counts[key] = count + 1
        return True, count + 1, seconds_left(number, window, now)


def load_limiter(spec: Any) -> Limiter:
    """The ``hit`` function of ``spec``: a module path, or an object (a module) that has one."""
    if isinstance(spec, str):
        try:
            spec = importlib.import_module(spec)
        except ImportError as exc:
            raise ValueError(f"LIMITER: cannot import {spec!r} ({exc})") from None
    hit = getattr(spec, "hit", None)
    if not callable(hit):
        raise ValueError(f"LIMITER must name a module with a function hit(), got {spec!r}")
    return hit


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance: the stateless app's routes, plus quota, products and likes."""
    config = dict(config or {})
    store = redis if redis is not None else lazy_redis()
    app = stateless_app.create_app(instance_id, redis=store, config=config)
    state = choice_setting(config, "STATE", "shared", STATES)
    limit = int_setting(app.config, "RATE_LIMIT", DEFAULT_LIMIT, 1, MAX_LIMIT)
    window = int_setting(app.config, "RATE_WINDOW", DEFAULT_WINDOW_SECONDS, 1, MAX_WINDOW_SECONDS)
    read_seconds = float_setting(
        app.config, "STORE_READ_SECONDS", DEFAULT_STORE_READ_SECONDS, MAX_STORE_READ_SECONDS
    )
    ttl = stateless_app.session_ttl(app.config)
    prefix = text_setting(config, "KEY_PREFIX")
    clock = config.get("CLOCK") or time.time
    if not callable(clock):
        raise ValueError("CLOCK must be a function returning seconds since the epoch")
    spec = config.get("LIMITER") or os.environ.get("LIMITER")
    memory_limiter = MemoryLimiter()
    default_hit = memory_limiter.hit if state == "memory" else shared_hit
    hit = load_limiter(spec) if spec else default_hit

    cache: dict[str, dict[str, Any]] = {}  # sku -> product record: THIS instance's cache
    likes: dict[str, int] = {}  # sku -> likes, the "memory" state's source of truth
    app.extensions[EXTENSION] = {
        "state": state,
        "limit": limit,
        "window": window,
        "cache": cache,
        "likes": likes,
        "memory_limiter": memory_limiter,
    }

    def product_sku(sku: str) -> str:
        if not SKU_PATTERN.fullmatch(sku):
            raise BadRequest("a sku holds letters, digits, '.', '_' and '-' only")
        if sku not in CATALOG:
            raise NotFound(f"no product {sku!r}")
        return sku

    @app.get("/quota")
    def quota() -> Response | tuple[Response, int]:
        user = session_user(store, ttl)
        outcome = hit(store, f"{prefix}quota:{user}", limit, window, clock())
        return quota_answer(outcome, limit, window)

    @app.get("/products/<sku>")
    def product(sku: str) -> Response:
        if not SKU_PATTERN.fullmatch(sku):
            raise BadRequest("a sku holds letters, digits, '.', '_' and '-' only")
        record = cache.get(sku)
        outcome = "hit"
        if record is None:
            outcome = "miss"
            time.sleep(read_seconds)  # a round trip to the product store
            found = CATALOG.get(sku)
            if found is None:
                raise NotFound(f"no product {sku!r}")
            record = cache[sku] = dict(found)  # only real products are cached: bounded
        response = jsonify(record)
        response.headers["X-Cache"] = outcome
        return response

    def like_count(sku: str) -> int:
        if state == "memory":
            return likes.get(sku, 0)
        return int(store.get(f"{prefix}likes:{sku}") or 0)

    @app.post("/likes/<sku>")
    def like(sku: str) -> Response:
        session_user(store, ttl)
        sku = product_sku(sku)
        if state == "memory":
            likes[sku] = likes.get(sku, 0) + 1  # in this instance only: lost at a restart
            count = likes[sku]
        else:
            count = store.incr(f"{prefix}likes:{sku}")
        return jsonify(sku=sku, likes=int(count))

    @app.get("/likes/<sku>")
    def liked(sku: str) -> Response:
        sku = product_sku(sku)
        return jsonify(sku=sku, likes=like_count(sku))

    return app


def quota_answer(
    outcome: tuple[bool, int, float], limit: int, window: int
) -> Response | tuple[Response, int]:
    """``GET /quota``'s answer (COURSE_DESIGN §6b) for a limiter's ``(allowed, count,
    retry_after)``: 200 with what remains, or 429 with ``Retry-After`` in whole seconds, at
    least 1 (the capstone shop answers the same way)."""
    allowed, count, retry_after = outcome
    if allowed:
        return jsonify(remaining=limit - int(count))
    response, status = error(429, f"rate limit: {limit} requests per {window} s; retry later")
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response, status
