"""Lesson 12: the session in the browser's cookie, signed or encrypted. No store at all.

The third way to keep a session without keeping it in the instance (lesson 02 put it in Redis,
lesson 07 in a signed token): the whole session, user and cart, travels in the cookie, and every
instance that knows the secret can read it. No store call per request, nothing to scale or to
lose; the price is paid elsewhere, and lesson 12 measures it:

* **Bytes on every request.** The browser sends the whole session with every request, and this
  app sends it back (``Set-Cookie``) with every answer, because the cookie's expiry slides.
* **A size limit.** Browsers keep a cookie of about 4 KB at most and drop a larger one without a
  word: a cart that grows past it would vanish. This app refuses instead: a change whose cookie
  would exceed :data:`MAX_COOKIE_BYTES` (Werkzeug's limit for a whole ``Set-Cookie`` value) is a
  413 JSON error, and the cookie the browser holds stays as it was.
* **No revocation.** Logging out asks the browser to delete its cookie; a copy of it (stolen, or
  kept by a client that ignores the deletion) stays valid until it expires
  (``SESSION_TTL_SECONDS``, default 1800 s, counted from the cookie's last refresh). The server
  has nothing to delete: that would need state, like lesson 07's denylist.
* **Readable or not.** ``COOKIE_SESSION="signed"`` (the default) is Flask's own session: JSON,
  compressed when that is shorter, base64, and an HMAC (itsdangerous). The user can *read* it
  (base64 is not encryption) but cannot change it. ``"encrypted"`` seals it with Fernet
  (AES-128-CBC and an HMAC, from ``cryptography``): unreadable too, and larger.

Keys: ``SECRET_KEY`` (at least 32 bytes) signs or encrypts new cookies; ``SECRET_KEY_FALLBACKS``
(a list, or comma-separated in the environment) are older keys still accepted, so a key can be
rotated without logging everybody out: add the new key, keep the old one as a fallback for one
cookie lifetime, then drop it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, Response, jsonify, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.exceptions import Unauthorized
from werkzeug.http import dump_cookie

from labs.apps.users import verify_password
from labs.apps.web import (
    add_health_routes,
    add_to_cart,
    cart_item,
    cart_json,
    choice_setting,
    create_base_app,
    credentials,
    error,
    int_setting,
    secret_from,
)

COOKIE = "session"
MODES = ("signed", "encrypted")
DEV_SECRET = "INSECURE-development-cookie-secret-do-not-deploy-0123"
MIN_SECRET_BYTES = 32
DEFAULT_TTL_SECONDS = 1800
MAX_TTL_SECONDS = 365 * 24 * 3600
MAX_COOKIE_BYTES = 4093  # Werkzeug's max_cookie_size: the whole Set-Cookie value, as browsers
MAX_FALLBACKS = 8


def _secret(name: str, value: Any) -> str:
    text = str(value)
    if len(text.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes (generate one with: "
            "python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return text


def secret_keys(config: Mapping[str, Any]) -> list[str]:
    """``[SECRET_KEY, *SECRET_KEY_FALLBACKS]``, checked: the first signs, all are accepted."""
    current = _secret("SECRET_KEY", secret_from(dict(config), "SECRET_KEY", DEV_SECRET))
    fallbacks = config.get("SECRET_KEY_FALLBACKS")
    if fallbacks is None:
        fallbacks = [k for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k]
    if isinstance(fallbacks, str) or not isinstance(fallbacks, (list, tuple)):
        raise ValueError("SECRET_KEY_FALLBACKS must be a list of older secret keys")
    if len(fallbacks) > MAX_FALLBACKS:
        raise ValueError(f"SECRET_KEY_FALLBACKS holds at most {MAX_FALLBACKS} keys")
    return [current, *(_secret("each of SECRET_KEY_FALLBACKS", key) for key in fallbacks)]


def fernet_key(secret: str) -> bytes:
    """A Fernet key (32 bytes, urlsafe base64) derived from a secret of any length."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"cookie-session:" + secret.encode()).digest())


class SealedSerializer:
    """What Flask's cookie session needs of a serializer (``dumps``, ``loads`` with
    ``max_age``), with Fernet: the first key encrypts, every key decrypts."""

    def __init__(self, secrets: list[str]) -> None:
        self.fernet = MultiFernet([Fernet(fernet_key(secret)) for secret in secrets])

    def dumps(self, value: dict[str, Any]) -> str:
        return self.fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def loads(self, token: str | bytes, max_age: int | None = None) -> dict[str, Any]:
        raw = token.encode() if isinstance(token, str) else token
        try:
            value = json.loads(self.fernet.decrypt(raw, ttl=max_age))
        except (InvalidToken, ValueError) as bad:  # forged, expired, or not even base64
            raise BadSignature("the session cookie is not one of ours") from bad
        if not isinstance(value, dict):
            raise BadSignature("the session cookie holds no session")
        return value


class SealedSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session with the whole session encrypted, not only signed."""

    def get_signing_serializer(self, app: Flask) -> SealedSerializer:  # type: ignore[override]
        return app.extensions["cookie_serializer"]


def serializer_of(app: Flask) -> Any:
    """What turns this app's session into the cookie's value (and back)."""
    return app.session_interface.get_signing_serializer(app)


def cookie_bytes(app: Flask, value: dict[str, Any]) -> int:
    """The length of the ``Set-Cookie`` value that would carry ``value`` (Werkzeug's measure)."""
    encoded = serializer_of(app).dumps(value)
    max_age = app.permanent_session_lifetime
    with warnings.catch_warnings():  # Werkzeug warns of an oversized cookie: we refuse it (413)
        warnings.simplefilter("ignore", UserWarning)
        return len(dump_cookie(COOKIE, encoded, max_age=max_age, httponly=True, samesite="Lax"))


def create_app(
    instance_id: str = "A", redis: Any = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance; every instance with the same ``SECRET_KEY`` reads the same sessions.
    ``redis`` is accepted (the §6 signature) and never used: there is no store."""
    app = create_base_app(__name__, instance_id, config)
    keys = secret_keys(app.config)
    mode = choice_setting(app.config, "COOKIE_SESSION", "signed", MODES)
    ttl = int_setting(app.config, "SESSION_TTL_SECONDS", DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS)
    app.secret_key = keys[0]
    app.config["SECRET_KEY_FALLBACKS"] = keys[1:]  # Flask 3.1 accepts these when unsigning
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=ttl),
        SESSION_REFRESH_EACH_REQUEST=True,  # a sliding expiry: a new Set-Cookie every answer
    )
    if mode == "encrypted":
        app.extensions["cookie_serializer"] = SealedSerializer(keys)
        app.session_interface = SealedSessionInterface()

    def current_user() -> str:
        user = session.get("user")
        if not isinstance(user, str) or not user:
            raise Unauthorized("not logged in (no valid session cookie)")
        return user

    def current_cart() -> dict[str, int]:
        cart = session.get("cart", {})
        return dict(cart) if isinstance(cart, dict) else {}

    @app.post("/login")
    def login() -> Response | tuple[Response, int]:
        username, password = credentials()
        if not verify_password(username, password):
            return error(401, "invalid username or password")
        session.clear()
        session["user"] = username
        session["cart"] = {}
        session.permanent = True
        return jsonify(user=username)

    @app.get("/me")
    def me() -> Response:
        return jsonify(user=current_user(), instance=instance_id)

    @app.post("/logout")
    def logout() -> Response:
        current_user()
        session.clear()  # Flask answers with a Set-Cookie that deletes it: the browser forgets
        return Response(status=204)

    @app.get("/cart")
    def cart() -> Response:
        return cart_json(current_user(), current_cart())

    @app.post("/cart/items")
    def add_item() -> Response | tuple[Response, int]:
        user = current_user()
        sku, qty = cart_item()
        items = add_to_cart(current_cart(), sku, qty)
        size = cookie_bytes(app, {**dict(session), "cart": items})
        if size > MAX_COOKIE_BYTES:
            session.modified = False  # keep the cookie the browser has: nothing is lost
            return error(
                413,
                f"the cart no longer fits in a cookie: {size} bytes, a browser keeps at most "
                f"{MAX_COOKIE_BYTES}",
            )
        session["cart"] = items
        return cart_json(user, items)

    add_health_routes(app, None)  # nothing to be ready for: no store

    return app
