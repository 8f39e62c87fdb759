"""Forged and broken tokens for lesson 07: the classic JWT attacks, ready to send.

Libraries refuse to *make* some of these (PyJWT will not key an HMAC with a PEM public
key), so :func:`forge` builds a token by hand: base64url(header) . base64url(payload) .
base64url(HMAC of the first two parts), exactly what a library does. Some tokens below are
signed with the app's real key on purpose: an attacker cannot do that, but a buggy issuer
can, and the app must still refuse a token whose claims are wrong.

The **key-confusion attack** (RS256 → HS256) needs a service that verifies RS256 tokens, which
the course's HS256 app is not. :func:`naive_verify` is such a service, written badly on
purpose: it believes the token's ``alg``. The attacker signs HS256 with the server's *public*
key (published, so known) as the HMAC secret, and the naive verifier, handed that same PEM as
"the key", accepts it. :func:`key_confusion` runs the attack and then PyJWT, which refuses it
twice over: ``algorithms=`` is required (pin it to ``["RS256"]``), and a PEM public key is never
accepted as an HMAC secret (``InvalidKeyError``).
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
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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

    private, _ = rsa_key_pair()
    genuine = forge(claims(), real_key, header)
    tampered = b64url(json.dumps(claims(sub="admin")).encode())
    return {
        "alg none, no signature": forge(claims(), None, header | {"alg": "none"}),
        "signed with a guessed key": forge(claims(), GUESSED_KEY, header),
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


# --- the key-confusion attack (RS256 → HS256) ---------------------------------------------------


class NaiveRejected(ValueError):
    """The naive verifier refused a token; the message says why."""


def rsa_key_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh 2048-bit RSA key, and its public half as PEM: what an RS256 service publishes."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem


def naive_verify(token: str, key: bytes) -> dict[str, Any]:
    """DELIBERATELY BROKEN: a hand-written RS256 verifier that trusts the token's ``alg``.

    ``key`` is the server's RSA public key as PEM. ``alg: RS256`` checks an RSA signature with
    it, as intended; ``alg: HS256`` checks an HMAC-SHA256 keyed with *the same bytes*: a public
    key, so anyone can make that signature. Never write this; pin the algorithm instead.
    """
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        signature = b64url_decode(signature_part)
    except ValueError:
        raise NaiveRejected("malformed token") from None
    signing_input = f"{header_part}.{payload_part}".encode()
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg == "HS256":  # the bug: the header chose the algorithm, and the key is public
        expected = hmac.new(key, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise NaiveRejected("invalid signature")
    elif alg == "RS256":
        public_key = serialization.load_pem_public_key(key)
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise NaiveRejected("not an RSA key")
        try:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise NaiveRejected("invalid signature") from None
    else:
        raise NaiveRejected(f"unsupported alg {alg!r}")
    try:
        return json.loads(b64url_decode(payload_part))
    except ValueError:
        raise NaiveRejected("malformed payload") from None


def confused_token(claims: dict[str, Any], public_pem: bytes) -> str:
    """The forgery: HS256, its HMAC keyed with the server's public key PEM."""
    return forge(claims, public_pem, {"alg": "HS256", "typ": "JWT"})


def verdict(check: Callable[[], Any]) -> str:
    """What ``check()`` did: ``accepted (sub=...)`` or ``refused: <error>: <message>``."""
    try:
        claims = check()
    except (NaiveRejected, jwt.PyJWTError) as refused:
        return f"refused: {type(refused).__name__}: {refused}"
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return f"accepted (sub={sub!r})"


def key_confusion(user: str = "alice") -> list[tuple[str, str]]:
    """(step, verdict) rows: a genuine RS256 token for ``user``, then a forged HS256 one for
    ``admin``, against the naive verifier and against PyJWT (decode and encode)."""
    private, public_pem = rsa_key_pair()
    genuine = jwt.encode({"sub": user}, private, algorithm="RS256")
    forged = confused_token({"sub": "admin"}, public_pem)
    return [
        ("naive verifier, genuine RS256 token", verdict(lambda: naive_verify(genuine, public_pem))),
        (
            "naive verifier, HS256 forged with the public key",
            verdict(lambda: naive_verify(forged, public_pem)),
        ),
        (
            "PyJWT, genuine token, algorithms=['RS256']",
            verdict(lambda: jwt.decode(genuine, public_pem, algorithms=["RS256"])),
        ),
        (
            "PyJWT, forged token, algorithms=['RS256']",
            verdict(lambda: jwt.decode(forged, public_pem, algorithms=["RS256"])),
        ),
        (
            "PyJWT, forged token, algorithms=['RS256', 'HS256']",
            verdict(lambda: jwt.decode(forged, public_pem, algorithms=["RS256", "HS256"])),
        ),
        ("PyJWT, forged token, no algorithms=", verdict(lambda: jwt.decode(forged, public_pem))),
        (
            "PyJWT, making the forgery (encode HS256)",
            verdict(lambda: jwt.encode({"sub": "admin"}, public_pem, algorithm="HS256")),
        ),
    ]
