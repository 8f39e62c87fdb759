"""Forged and broken tokens for lesson 07: the classic JWT attacks, ready to send.

Libraries refuse to *make* some of these (PyJWT will not key an HMAC with a PEM public
key), so :func:`forge` builds a token by hand: base64url(header) . base64url(payload) .
base64url(HMAC of the first two parts), exactly what a library does. Some tokens below are
signed with the app's real key on purpose: an attacker cannot do that, but a buggy issuer
can, and the app must still refuse a token whose claims are wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from labs.apps.jwt_app import ALGORITHM, token_settings

GUESSED_KEY = b"password123-password123-password123!"


def b64url(data: bytes) -> str:
    """base64url without padding, as in every JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(part: str) -> bytes:
    """The bytes of one base64url part (padding restored)."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def forge(
    claims: dict[str, Any],
    key: bytes | None,
    header: dict[str, Any],
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    """A token made by hand; ``key=None`` leaves the signature empty (``alg: none``)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def classic_attacks(app: Flask, user: str = "alice", now: float | None = None) -> dict[str, str]:
    """Attack name -> token, each one something ``app`` must refuse."""
    settings = token_settings(app)
    now = int(time.time() if now is None else now)
    real_key, kid = settings.keys[settings.active_kid], settings.active_kid
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}

    def claims(**changes: Any) -> dict[str, Any]:
        base = {"iss": settings.issuer, "aud": settings.audience, "sub": user, "iat": now}
        base |= {"exp": now + settings.ttl, "jti": uuid.uuid4().hex, **changes}
        return {name: value for name, value in base.items() if value is not None}

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    genuine = forge(claims(), real_key, header)
    tampered = b64url(json.dumps(claims(sub="admin")).encode())
    return {
        "alg none, no signature": forge(claims(), None, header | {"alg": "none"}),
        "signed with a guessed key": forge(claims(), GUESSED_KEY, header),
        "HS256 keyed with an RSA public key": forge(claims(), public_pem, header),
        "RS256 with the attacker's RSA key": jwt.encode(
            claims(), private, algorithm="RS256", headers={"kid": kid}
        ),
        "payload edited, old signature": ".".join(
            [genuine.split(".")[0], tampered, genuine.split(".")[2]]
        ),
        "unknown key id": forge(claims(), real_key, header | {"kid": "nope"}),
        "expired an hour ago": forge(claims(iat=now - 4500, exp=now - 3600), real_key, header),
        "not valid before tomorrow (nbf)": forge(claims(nbf=now + 86400), real_key, header),
        "issued in the future (iat)": forge(claims(iat=now + 3600), real_key, header),
        "no exp claim": forge(claims(exp=None), real_key, header),
        "no jti claim": forge(claims(jti=None), real_key, header),
        "for another audience": forge(claims(aud="billing-api"), real_key, header),
        "from another issuer": forge(claims(iss="evil.example"), real_key, header),
        "not a JWT at all": "hello.world",
    }


def send_attacks(app: Flask, tokens: dict[str, str]) -> list[tuple[str, int, str]]:
    """(attack, status, error) for each token sent to ``GET /me`` of ``app``."""
    client = app.test_client()
    results = []
    for name, token in tokens.items():
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        body = response.get_json(silent=True) or {}
        results.append((name, response.status_code, body.get("error", "")))
    return results
