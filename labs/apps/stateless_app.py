"""Lesson 02: the same app with its state moved out of the process, into Redis.

Compare with ``labs/apps/stateful_app.py``: the routes, the cookie and the answers are the same;
only the ``sessions`` dictionary is gone. Instances given the same Redis are interchangeable,
so the load balancer may send any request anywhere, and an instance may restart at any time.

One Redis hash per login session, ``session:<id>``::

    user          alice      who is logged in
    item:book-1   2          the cart: one field per item (sku -> quantity)

* **The id** is ``secrets.token_urlsafe(32)`` (256 random bits) and a *fresh* one is issued at
  every login; the old session, if the browser sent one, is deleted (no session fixation).
* **The TTL** is ``SESSION_TTL_SECONDS`` (default 1800 s) and *slides*: every authenticated
  request pushes the expiry back, so a session dies after 30 minutes of *inactivity*.
  Changing a hash field (``HINCRBY``) keeps the key's TTL; a ``SET`` of the key would drop it.
* **The cart lives in the session**, so it shares the session's TTL and is deleted with it at
  logout: one key, one expiry, nothing left behind. (A cart that outlives logout, or follows
  the user across devices, would go under ``cart:<user>`` with its own TTL, as ``jwt_app`` does.)
* **Adding to the cart** reads it, checks the limits and writes, as one optimistic transaction
  (``labs/apps/cart.py``): two instances adding at the same moment can't overshoot a limit.
* **Logout** deletes the key: the server forgets the session, whoever kept the cookie.

There is no signing secret: the session id is an opaque random key, worthless unless it names a
live session in Redis. If Redis cannot be reached, requests that need it get a JSON 503 and
``/readyz`` says not ready, while ``/healthz`` (the process itself) stays 200.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, jsonify, request
from redis import Redis
from werkzeug.exceptions import Unauthorized

from labs.apps.cart import add_to_stored_cart, cart_from_hash
from labs.apps.users import verify_password
from labs.apps.web import (
    add_health_routes,
    cart_item,
    cart_json,
    create_base_app,
    credentials,
    error,
    int_setting,
)
from labs.redis_store import lazy_redis

COOKIE = "session"
SESSION_PREFIX = "session:"
ITEM_PREFIX = "item:"
DEFAULT_TTL_SECONDS = 1800
MAX_TTL_SECONDS = 365 * 24 * 3600  # a year: Redis takes far more, no session needs it
MAX_SESSION_ID_CHARS = 128  # a real id is 43 characters; anything far longer is garbage


def session_key(session_id: str) -> str:
    """The Redis key of one login session."""
    return SESSION_PREFIX + session_id


def session_ttl(config: Any) -> int:
    """``SESSION_TTL_SECONDS`` from the app's config, else the environment (default 1800)."""
    return int_setting(config, "SESSION_TTL_SECONDS", DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS)


def session_user(store: Redis, ttl: int = DEFAULT_TTL_SECONDS) -> str:
    """The user logged in to this request's session (its TTL pushed back); else a 401.

    For the apps built on this one (lessons 08 on): their routes need the user, not the cart.
    """
    session_id = request.cookies.get(COOKIE, "")
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        raise Unauthorized("not logged in")
    key = session_key(session_id)
    user, _ = store.pipeline().hget(key, "user").expire(key, ttl).execute()  # one round trip
    if not user:
        raise Unauthorized("not logged in (the session expired or never existed)")
    return user


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance; every instance given the same Redis sees the same sessions and carts."""
    app = create_base_app(__name__, instance_id, config)
    ttl = session_ttl(app.config)
    store = redis if redis is not None else lazy_redis()
    secure = bool(app.config["SESSION_COOKIE_SECURE"])

    def current_session() -> tuple[str, str, dict[str, int]]:
        """``(key, user, cart)`` of the request's session, its TTL pushed back; else 401."""
        session_id = request.cookies.get(COOKIE, "")
        if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
            raise Unauthorized("not logged in")
        key = session_key(session_id)
        fields, _ = store.pipeline().hgetall(key).expire(key, ttl).execute()  # one round trip
        if "user" not in fields:
            raise Unauthorized("not logged in (the session expired or never existed)")
        return key, fields["user"], cart_from_hash(fields, ITEM_PREFIX)

    @app.post("/login")
    def login() -> Response | tuple[Response, int]:
        username, password = credentials()
        if not verify_password(username, password):
            return error(401, "invalid username or password")
        old_id = request.cookies.get(COOKIE, "")
        session_id = secrets.token_urlsafe(32)
        pipe = store.pipeline()
        if old_id and len(old_id) <= MAX_SESSION_ID_CHARS:
            pipe.delete(session_key(old_id))  # no fixation: the old id dies with the new login
        pipe.hset(session_key(session_id), "user", username).expire(session_key(session_id), ttl)
        pipe.execute()
        response = jsonify(user=username)
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="Lax", secure=secure)
        return response

    @app.get("/me")
    def me() -> Response:
        _, user, _ = current_session()
        return jsonify(user=user, instance=instance_id)

    @app.post("/logout")
    def logout() -> Response:
        key, _, _ = current_session()
        store.delete(key)
        response = Response(status=204)
        response.delete_cookie(COOKIE, httponly=True, samesite="Lax", secure=secure)
        return response

    @app.get("/cart")
    def cart() -> Response:
        _, user, items = current_session()
        return cart_json(user, items)

    @app.post("/cart/items")
    def add_item() -> Response:
        key, user, _ = current_session()
        sku, qty = cart_item()
        # Read, check the limits, write: as one optimistic transaction (WATCH ... MULTI/EXEC),
        # so two instances adding to this cart at the same moment cannot overshoot a limit
        # together. HINCRBY keeps the TTL, and EXPIRE runs again in the same EXEC.
        items = add_to_stored_cart(
            store, key, sku, qty, prefix=ITEM_PREFIX, ttl=ttl, require="user"
        )
        return cart_json(user, items)

    add_health_routes(app, store)

    return app
