"""Lesson 07: JSON Web Tokens, the attacks they must refuse, and the revocation gap.

A JWT carries the user's identity *inside* the request, signed by the service, so any
instance can check it without looking anything up: that is why it scales. The price: a
signed token stays valid until its ``exp``, even after the user logs out or it is stolen.
This app shows both, and closes the gap with a small Redis **denylist**.

Checking a token, in order (:func:`verify_token`):

1. the ``Authorization: Bearer <token>`` header is there and looks like a JWT;
2. the header's ``alg`` is the one algorithm we sign with (never ``none``, never RS256: the
   algorithm list is pinned, not read from the token);
3. the header's ``kid`` names a key we still accept (key rotation: ``JWT_KEYS``);
4. PyJWT checks the HMAC signature and that ``exp``, ``iat``, ``jti``, ``sub``, ``iss`` and
   ``aud`` are present, with the right issuer and audience;
5. the token's lifetime is checked against the app's clock, with a small leeway for clock
   skew between instances (done here, not in PyJWT, so lessons and tests can move time);
6. its ``jti`` is not on the denylist (one Redis ``EXISTS``, shared by every instance).

Every failure is a 401 with a reason (``{"error": "token expired"}``) and a
``WWW-Authenticate`` header (RFC 6750), never a 500.

Configuration (``create_app(config=...)``, or the environment for the secrets):
``JWT_SECRET`` (at least 32 bytes) or ``JWT_KEYS`` ``{kid: secret}`` with ``JWT_ACTIVE_KID``;
``JWT_ISSUER``, ``JWT_AUDIENCE``, ``JWT_TTL_SECONDS``, ``JWT_LEEWAY_SECONDS``;
``JWT_REVOCATION`` = ``"denylist"`` (default) or ``"none"`` (the revocation gap, for the
lesson); ``JWT_CLOCK``, a function returning the time in seconds (default ``time.time``);
``CART_TTL_SECONDS``, how long a cart (``cart:<user>``, kept across logins) lives after its
last change (default a week).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from flask import Flask, Response, current_app, g, jsonify, request
from redis import Redis

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
    secret_from,
)
from labs.redis_store import lazy_redis

ALGORITHM = "HS256"  # the only algorithm accepted: pinned, never taken from the token
MIN_SECRET_BYTES = 32  # HS256 needs a key at least as long as its 256-bit output
DEV_SECRET = "INSECURE-development-jwt-secret-do-not-deploy-0123456789"
DEFAULT_KID = "k1"
DEFAULT_ISSUER = "stateless-by-design"
DEFAULT_AUDIENCE = "course-api"
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 30 * 24 * 3600  # an access token of a month is already far too long
DEFAULT_LEEWAY_SECONDS = 5
DEFAULT_CART_TTL_SECONDS = 7 * 24 * 3600  # a cart outlives any token; a week after its last add
REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "iss", "aud"]
REVOCATION_MODES = ("denylist", "none")
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]*=*\.[A-Za-z0-9_-]*=*$")
MAX_TOKEN_CHARS = 4096
REALM = "stateless-by-design"


class TokenRejected(Exception):
    """A token the app refuses; ``reason`` is the short text the client sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenSettings:
    """Everything needed to issue and check tokens, validated once at ``create_app``."""

    keys: Mapping[str, bytes]  # kid -> HMAC secret; every key here is accepted
    active_kid: str  # the key new tokens are signed with
    issuer: str
    audience: str
    ttl: int
    leeway: int
    revocation: str
    clock: Callable[[], float]


def _setting(config: Mapping[str, Any], name: str, default: Any) -> Any:
    """``config[name]``, else the ``name`` environment variable, else ``default``."""
    if config.get(name) is not None:
        return config[name]
    return os.environ.get(name) or default


def _secret_bytes(name: str, secret: Any) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if not isinstance(raw, bytes) or len(raw) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} must be a secret of at least {MIN_SECRET_BYTES} bytes "
            "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return raw


def settings_from(config: Mapping[str, Any]) -> TokenSettings:
    """Read and check the JWT settings; a ``ValueError`` says what is wrong."""
    keys = _setting(config, "JWT_KEYS", None)
    if isinstance(keys, str):
        keys = json.loads(keys)  # from the environment: JWT_KEYS='{"k2": "...", "k1": "..."}'
    if keys is None:
        secret = secret_from(dict(config), "JWT_SECRET", DEV_SECRET)
        checked = {DEFAULT_KID: _secret_bytes("JWT_SECRET", secret)}
    elif isinstance(keys, Mapping) and keys:
        checked = {str(k): _secret_bytes(f"JWT_KEYS[{k!r}]", v) for k, v in keys.items()}
    else:
        raise ValueError("JWT_KEYS must be a non-empty mapping {kid: secret}")
    active = str(_setting(config, "JWT_ACTIVE_KID", next(iter(checked))))
    if active not in checked:
        raise ValueError(f"JWT_ACTIVE_KID {active!r} is not one of JWT_KEYS ({sorted(checked)})")
    # Bounded, so a denylist entry (TTL = the token's remaining life) can always be written.
    ttl = int_setting(config, "JWT_TTL_SECONDS", DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS)
    leeway = int_setting(config, "JWT_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS, 0, 300)
    revocation = str(_setting(config, "JWT_REVOCATION", "denylist"))
    if revocation not in REVOCATION_MODES:
        raise ValueError(f"JWT_REVOCATION must be one of {REVOCATION_MODES}")
    return TokenSettings(
        keys=checked,
        active_kid=active,
        issuer=str(_setting(config, "JWT_ISSUER", DEFAULT_ISSUER)),
        audience=str(_setting(config, "JWT_AUDIENCE", DEFAULT_AUDIENCE)),
        ttl=ttl,
        leeway=leeway,
        revocation=revocation,
        clock=config.get("JWT_CLOCK") or time.time,
    )


def token_settings(app: Flask) -> TokenSettings:
    """The checked JWT settings of an app made by :func:`create_app`."""
    return app.extensions["jwt_settings"]


def _store(app: Flask) -> Redis:
    return app.extensions["jwt_store"]


# --- Issuing ---------------------------------------------------------------------------------


def issue_token(app: Flask, user: str, *, now: float | None = None, jti: str | None = None) -> str:
    """A signed access token for ``user``; ``now`` and ``jti`` fixed only for lessons and tests."""
    settings = token_settings(app)
    issued_at = int(settings.clock() if now is None else now)
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": user,
        "iat": issued_at,
        "exp": issued_at + settings.ttl,
        "jti": jti or uuid.uuid4().hex,
    }
    key = settings.keys[settings.active_kid]
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": settings.active_kid})


# --- Checking --------------------------------------------------------------------------------


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_lifetime(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """Refuse a token used after ``exp`` or before ``iat``/``nbf`` (± ``leeway`` seconds)."""
    times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
    if not all(_is_time(value) for value in times.values()):
        raise TokenRejected("invalid claims")
    if times["exp"] <= now - leeway:
        raise TokenRejected("token expired")
    if times["iat"] > now + leeway or times.get("nbf", now) > now + leeway:
        raise TokenRejected("token not yet valid")


def decode_token(settings: TokenSettings, token: str, now: float) -> dict[str, Any]:
    """The claims of a genuine, current token (no denylist check); else ``TokenRejected``."""
    if len(token) > MAX_TOKEN_CHARS or not TOKEN_SHAPE.match(token):
        raise TokenRejected("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRejected("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("algorithm not allowed")
    key = settings.keys.get(header.get("kid"))  # get_unverified_header checked: str or absent
    if key is None:
        raise TokenRejected("unknown key id")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=settings.issuer,
            audience=settings.audience,
            options={
                "require": REQUIRED_CLAIMS,
                "strict_aud": True,
                # the lifetime is checked below against the app's clock
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected("invalid signature") from None
    except jwt.InvalidAlgorithmError:
        raise TokenRejected("algorithm not allowed") from None
    except jwt.DecodeError:
        raise TokenRejected("malformed token") from None
    except jwt.InvalidTokenError:  # missing claim, wrong iss/aud, sub or jti not a string
        raise TokenRejected("invalid claims") from None
    if not claims["sub"] or not claims["jti"]:
        raise TokenRejected("invalid claims")
    check_lifetime(claims, now, settings.leeway)
    return claims


# --- The denylist: revocation before exp -----------------------------------------------------


def denylist_key(issuer: str, jti: str) -> str:
    """The Redis key that marks token ``jti`` from ``issuer`` as revoked."""
    return f"denylist:{issuer}:{jti}"


def revoke(store: Redis, claims: Mapping[str, Any], now: float, leeway: float) -> int:
    """Put the token on the denylist for as long as it could still be accepted; return that TTL.

    That is ``exp + leeway - now`` (the leeway too: otherwise the token would come back to life
    for its last few seconds), at least 1 s. After that the token is refused as expired anyway,
    so the entry deletes itself and the denylist never grows beyond the tokens still alive.
    """
    seconds = max(1, math.ceil(claims["exp"] + leeway - now))
    store.set(denylist_key(claims["iss"], claims["jti"]), claims["sub"], ex=seconds)
    return seconds


def is_revoked(store: Redis, claims: Mapping[str, Any]) -> bool:
    """True when the token's ``jti`` is on the (shared) denylist."""
    return bool(store.exists(denylist_key(claims["iss"], claims["jti"])))


def verify_token(app: Flask, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The claims of an acceptable token for ``app``: genuine, current and not revoked."""
    settings = token_settings(app)
    claims = decode_token(settings, token, settings.clock() if now is None else now)
    if settings.revocation == "denylist" and is_revoked(_store(app), claims):
        raise TokenRejected("token revoked")
    return claims


def bearer_token() -> str:
    """The token from ``Authorization: Bearer <token>``; else ``TokenRejected``."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenRejected("missing bearer token")
    token = token.strip()
    if not token:
        raise TokenRejected("missing bearer token")
    return token


def unauthorized(reason: str) -> tuple[Response, int]:
    """401 with the reason, and the RFC 6750 challenge that says what the client should do."""
    response, status = error(401, reason)
    challenge = f'Bearer realm="{REALM}"'
    if reason != "missing bearer token":  # RFC 6750 §3.1: no error code when none was sent
        challenge += f', error="invalid_token", error_description="{reason}"'
    response.headers["WWW-Authenticate"] = challenge
    return response, status


def authenticated_user() -> str:
    """The user of the current request's valid token (the claims are kept in ``g.claims``)."""
    g.claims = verify_token(current_app, bearer_token())
    return g.claims["sub"]


# --- The app ---------------------------------------------------------------------------------


def create_app(
    instance_id: str = "A",
    redis: Redis | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """One instance of the JWT app; instances given the same Redis share one denylist."""
    config = dict(config or {})
    settings = settings_from(config)  # fail here, loudly, on a bad secret or setting
    app = create_base_app(__name__, instance_id, config)
    store = redis if redis is not None else lazy_redis()
    cart_ttl = int_setting(app.config, "CART_TTL_SECONDS", DEFAULT_CART_TTL_SECONDS, 1, 31_536_000)
    app.extensions["jwt_settings"] = settings
    app.extensions["jwt_store"] = store

    @app.errorhandler(TokenRejected)
    def rejected(exc: TokenRejected) -> tuple[Response, int]:
        return unauthorized(exc.reason)

    @app.post("/login")
    def login() -> Response | tuple[Response, int]:
        username, password = credentials()
        if not verify_password(username, password):
            return error(401, "invalid username or password")
        token = issue_token(app, username)
        return jsonify(
            user=username, access_token=token, token_type="Bearer", expires_in=settings.ttl
        )

    @app.get("/me")
    def me() -> Response:
        return jsonify(user=authenticated_user(), instance=instance_id)

    @app.post("/logout")
    def logout() -> tuple[str, int]:
        authenticated_user()
        if settings.revocation == "denylist":
            revoke(store, g.claims, settings.clock(), settings.leeway)
        # without a denylist the server can only hope the client forgets the token
        return "", 204

    @app.get("/cart")
    def cart() -> Response:
        user = authenticated_user()
        return cart_json(user, cart_from_hash(store.hgetall(f"cart:{user}")))

    @app.post("/cart/items")
    def add_item() -> Response:
        user = authenticated_user()
        sku, qty = cart_item()
        # read, check, write as one transaction: two instances adding at once both count
        items = add_to_stored_cart(store, f"cart:{user}", sku, qty, ttl=cart_ttl)
        return cart_json(user, items)

    add_health_routes(app, store)

    return app
