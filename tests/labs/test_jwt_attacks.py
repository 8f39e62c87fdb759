"""The classic JWT attacks, each really sent to the app, each refused with a 401 (never a 500).

Where PyJWT refuses to *make* a forged token (an HMAC keyed with a PEM public key raises
``InvalidKeyError``; ``alg: none`` needs no key), the token is crafted by hand: base64url
header and payload, and an HMAC computed with :mod:`hmac`. ``test_crafting_is_faithful``
proves that a token crafted this way with the right key and claims *is* accepted, so every
refusal below comes from the app's checks, not from a broken forgery.
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
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs.apps.jwt_app import DEFAULT_AUDIENCE, DEFAULT_ISSUER, create_app
from labs.apps.users import demo_password
from labs.jwt_attacks import (
    NaiveRejected,
    classic_attacks,
    confused_token,
    key_confusion,
    naive_verify,
    send_attacks,
)
from labs.jwt_attacks import forge as lesson_forge

SECRET = b"attack-suite-secret-0123456789abcdef0123456789"
OTHER_SECRET = b"an-attacker-guess-0123456789abcdef0123456789"
RETIRED = b"retired-key-0123456789abcdef0123456789abcdef"
REASONS = {
    "missing bearer token",
    "malformed token",
    "algorithm not allowed",
    "unknown key id",
    "invalid signature",
    "invalid claims",
    "token expired",
    "token not yet valid",
    "token revoked",
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# --- forging tokens by hand ---------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def craft(
    payload: dict[str, Any],
    key: bytes | None = SECRET,
    header: dict[str, Any] | None = None,
    digest: Callable = hashlib.sha256,
) -> str:
    """header.payload.signature, the signature an HMAC of the first two parts (none: empty)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"} if header is None else header
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for alice, now; ``changes`` override (``None`` removes a claim)."""
    now = int(time.time())
    base = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def rsa_keys() -> tuple[rsa.RSAPrivateKey, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem


# --- the app under attack -----------------------------------------------------------------------


@pytest.fixture
def make_app(store: redis.Redis, store_factory: Callable[[], redis.Redis]):
    def make(instance: str = "A", **config: Any) -> Flask:
        settings = {"JWT_KEYS": {"k1": SECRET}, "JWT_ACTIVE_KID": "k1", **config}
        return create_app(instance, store_factory(), settings)

    return make


@pytest.fixture
def client(make_app) -> FlaskClient:
    return make_app().test_client()


def send(client: FlaskClient, token: str) -> tuple[int, dict]:
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json(silent=True) or {}


def assert_refused(client: FlaskClient, token: str, reason: str) -> None:
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.get_json()
    assert response.get_json() == {"error": reason}
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


def test_crafting_is_faithful(client: FlaskClient) -> None:
    """The control: a hand-made token with the right key and claims is accepted."""
    assert send(client, craft(claims())) == (200, {"user": "alice", "instance": "A"})


# --- the attacks ---------------------------------------------------------------------------------


def none_header(alg: str) -> dict[str, Any]:
    return {"alg": alg, "typ": "JWT", "kid": "k1"}


ATTACKS: dict[str, tuple[Callable[[], str], str]] = {
    # alg "none": no signature at all (RFC 7519 unsecured JWT), in three spellings
    "alg none": (lambda: craft(claims(), None, none_header("none")), "algorithm not allowed"),
    "alg None": (lambda: craft(claims(), None, none_header("None")), "algorithm not allowed"),
    "alg NONE": (lambda: craft(claims(), None, none_header("NONE")), "algorithm not allowed"),
    "alg none, real signature kept": (
        lambda: craft(claims(), SECRET, none_header("none")),
        "algorithm not allowed",
    ),
    "no alg header": (lambda: craft(claims(), SECRET, {"kid": "k1"}), "algorithm not allowed"),
    # a different HMAC than the one pinned, even with the right key
    "HS512 with the right key": (
        lambda: craft(claims(), SECRET, none_header("HS512"), hashlib.sha512),
        "algorithm not allowed",
    ),
    "signed with the wrong key": (lambda: craft(claims(), OTHER_SECRET), "invalid signature"),
    "signature stripped": (lambda: craft(claims(), None), "invalid signature"),
    # times
    "expired": (
        lambda: craft(claims(iat=int(time.time()) - 2000, exp=int(time.time()) - 1000)),
        "token expired",
    ),
    "not yet valid (nbf in the future)": (
        lambda: craft(claims(nbf=int(time.time()) + 600)),
        "token not yet valid",
    ),
    "iat in the future": (lambda: craft(claims(iat=int(time.time()) + 600)), "token not yet valid"),
    # required claims and their values
    "missing exp": (lambda: craft(claims(exp=None)), "invalid claims"),
    "missing iat": (lambda: craft(claims(iat=None)), "invalid claims"),
    "missing jti": (lambda: craft(claims(jti=None)), "invalid claims"),
    "missing sub": (lambda: craft(claims(sub=None)), "invalid claims"),
    "missing iss": (lambda: craft(claims(iss=None)), "invalid claims"),
    "missing aud": (lambda: craft(claims(aud=None)), "invalid claims"),
    "empty sub": (lambda: craft(claims(sub="")), "invalid claims"),
    "sub not a string": (lambda: craft(claims(sub=["alice"])), "invalid claims"),
    "exp not a number": (lambda: craft(claims(exp="tomorrow")), "invalid claims"),
    "exp is true": (lambda: craft(claims(exp=True)), "invalid claims"),
    "wrong iss": (lambda: craft(claims(iss="https://evil.example")), "invalid claims"),
    "wrong aud": (lambda: craft(claims(aud="another-api")), "invalid claims"),
    "aud list smuggling ours": (
        lambda: craft(claims(aud=["another-api", DEFAULT_AUDIENCE])),
        "invalid claims",
    ),
    # keys
    "unknown kid": (
        lambda: craft(claims(), SECRET, none_header("HS256") | {"kid": "k9"}),
        "unknown key id",
    ),
    "no kid": (lambda: craft(claims(), SECRET, {"alg": "HS256", "typ": "JWT"}), "unknown key id"),
    "kid path traversal": (
        lambda: craft(claims(), b"", none_header("HS256") | {"kid": "../../../../dev/null"}),
        "unknown key id",
    ),
    "kid not a string": (
        lambda: craft(claims(), SECRET, none_header("HS256") | {"kid": ["k1"]}),
        "malformed token",
    ),
    "unsupported crit header": (
        lambda: craft(claims(), SECRET, none_header("HS256") | {"crit": ["exp"]}),
        "malformed token",
    ),
    # shape
    "not base64": (lambda: "!!!.???.***", "malformed token"),
    "two segments": (lambda: craft(claims()).rsplit(".", 1)[0], "malformed token"),
    "JWE-like five segments": (lambda: craft(claims()) + ".a.b", "malformed token"),
    "header is not JSON": (
        lambda: b64url(b"{alg: HS256") + "." + craft(claims()).split(".", 1)[1],
        "malformed token",
    ),
    "header is a JSON list": (
        lambda: b64url(b'["HS256"]') + "." + craft(claims()).split(".", 1)[1],
        "malformed token",
    ),
    "payload is a JSON list": (
        lambda: (lambda t: f"{t[0]}.{b64url(b'[1, 2]')}.{t[2]}")(craft(claims()).split(".")),
        "invalid signature",  # the signature covers the payload, so it fails first
    ),
    "huge token": (lambda: craft(claims(pad="x" * 10_000)), "malformed token"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_attack_is_refused(client: FlaskClient, attack: str) -> None:
    forge, reason = ATTACKS[attack]
    assert_refused(client, forge(), reason)


def test_tampered_payload_with_the_old_signature(client: FlaskClient) -> None:
    genuine = craft(claims(sub="alice"))
    header, _, signature = genuine.split(".")
    forged_payload = b64url(json.dumps(claims(sub="bob")).encode())
    assert send(client, genuine)[0] == 200
    assert_refused(client, f"{header}.{forged_payload}.{signature}", "invalid signature")


def test_tampered_header_with_the_old_signature(client: FlaskClient) -> None:
    genuine = craft(claims())
    _, payload, signature = genuine.split(".")
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1", "x": 1}).encode())
    assert_refused(client, f"{header}.{payload}.{signature}", "invalid signature")


def test_hs_rs_confusion_is_refused(client: FlaskClient) -> None:
    """The course's app signs and checks HS256 only and holds no RSA key, so an HS256 token
    keyed with some public PEM is just a wrong key to it, and RS256 is not allowed at all."""
    private, public_pem = rsa_keys()
    with pytest.raises(jwt.InvalidKeyError):  # PyJWT will not even make this token...
        jwt.encode(claims(), public_pem, algorithm="HS256")
    hs_with_public_key = craft(claims(), public_pem)  # ...so it is made by hand
    assert_refused(client, hs_with_public_key, "invalid signature")
    rs256 = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"})
    assert jwt.decode(rs256, private.public_key(), algorithms=["RS256"], audience=DEFAULT_AUDIENCE)
    assert_refused(client, rs256, "algorithm not allowed")


def test_a_revoked_token_is_refused(client: FlaskClient) -> None:
    token = login(client)
    assert client.post("/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert_refused(client, token, "token revoked")


def test_a_revoked_token_replayed_on_another_instance(make_app) -> None:
    a, b = make_app("A").test_client(), make_app("B").test_client()
    token = login(a)
    assert send(b, token)[0] == 200
    a.post("/logout", headers={"Authorization": f"Bearer {token}"})
    assert_refused(b, token, "token revoked")


def test_a_token_signed_with_a_retired_key(make_app) -> None:
    rotating = make_app("A", JWT_KEYS={"k0": RETIRED, "k1": SECRET}, JWT_ACTIVE_KID="k0")
    old_token = login(rotating.test_client())
    assert (
        send(make_app("B", JWT_KEYS={"k0": RETIRED, "k1": SECRET}).test_client(), old_token)[0]
        == 200
    )  # still accepted while k0 is in JWT_KEYS
    assert_refused(make_app("C").test_client(), old_token, "unknown key id")  # k0 retired


def test_a_token_for_another_kid_signed_with_our_key(make_app) -> None:
    """A kid is a name, not a key: naming a retired kid with a current key's signature fails."""
    app = make_app("A", JWT_KEYS={"k0": RETIRED, "k1": SECRET})
    token = craft(claims(), SECRET, none_header("HS256") | {"kid": "k0"})
    assert_refused(app.test_client(), token, "invalid signature")


def login(client: FlaskClient, user: str = "alice") -> str:
    response = client.post("/login", json={"username": user, "password": demo_password(user)})
    return response.get_json()["access_token"]


# --- garbage Authorization headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "missing bearer token"),
        ("Bearer", "missing bearer token"),
        ("Bearer    ", "missing bearer token"),
        ("Basic YWxpY2U6d29uZGVybGFuZA==", "missing bearer token"),
        ("Token abc.def.ghi", "missing bearer token"),
        ("Bearer abc", "malformed token"),
        ("Bearer a.b.c d.e.f", "malformed token"),
        ("Bearer ..", "malformed token"),
        ("Bearer Bearer x.y.z", "malformed token"),
        ("Bearer " + "a" * 5000, "malformed token"),
        ("Bearer \u00e9\u00e9.\u00e9.\u00e9", "malformed token"),
    ],
)
def test_malformed_authorization_headers(client: FlaskClient, value: str, reason: str) -> None:
    response = client.get("/me", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.get_json() == {"error": reason}
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="stateless-by-design"')


def test_a_token_in_the_query_string_is_not_a_bearer_token(client: FlaskClient) -> None:
    response = client.get(f"/me?access_token={login(client)}")
    assert response.status_code == 401
    assert response.get_json() == {"error": "missing bearer token"}


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300)
TOKENISH = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="),
    max_size=400,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(value=HEADER_TEXT)
def test_fuzz_any_authorization_header_is_401(client: FlaskClient, value: str) -> None:
    response = client.get("/me", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.get_json()["error"] in REASONS


@FUZZ
@given(token=TOKENISH)
def test_fuzz_token_shaped_garbage_is_401(client: FlaskClient, token: str) -> None:
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"] in REASONS


@FUZZ
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AZaz09-_."))
def test_fuzz_one_changed_character_is_refused(
    client: FlaskClient, position: int, replacement: str
) -> None:
    genuine = craft(claims())
    position %= len(genuine)
    forged = genuine[:position] + replacement + genuine[position + 1 :]
    status, body = send(client, forged)
    if status == 200:
        # Only possible when the change is invisible: base64url's last character carries
        # spare bits, so two spellings can decode to the very same bytes.
        decoded = [b64url_decode(part) for part in forged.split(".")]
        assert decoded == [b64url_decode(part) for part in genuine.split(".")]
    else:
        assert status == 401 and body["error"] in REASONS


@FUZZ
@given(
    extra=st.dictionaries(
        st.sampled_from(["exp", "iat", "nbf", "sub", "jti", "iss", "aud", "kid", "x"]),
        JSON_VALUES,
        max_size=4,
    )
)
def test_fuzz_any_claims_even_correctly_signed_never_500(
    client: FlaskClient, extra: dict[str, Any]
) -> None:
    """Claims of every type through the real signature: 200 only when they are all valid."""
    payload = claims() | extra
    status, body = send(client, craft(payload))
    assert status in (200, 401), body
    if status == 200:
        now = time.time()
        assert payload["sub"] == body["user"] and isinstance(payload["jti"], str)
        assert payload["iss"] == DEFAULT_ISSUER and payload["aud"] == DEFAULT_AUDIENCE
        assert payload["exp"] > now - 5 and payload["iat"] <= now + 5
    else:
        assert body["error"] in REASONS


# --- the lesson's own catalogue (labs/jwt_attacks.py) --------------------------------------------


def test_the_lessons_forge_is_faithful(client: FlaskClient) -> None:
    token = lesson_forge(claims(), SECRET, {"alg": "HS256", "kid": "k1", "typ": "JWT"})
    assert send(client, token)[0] == 200


def test_every_attack_the_lesson_shows_is_refused(client: FlaskClient) -> None:
    results = send_attacks(client.application, classic_attacks(client.application))
    assert len(results) == 13
    for attack, status, reason in results:
        assert status == 401 and reason in REASONS, attack
    reasons = {reason for _, _, reason in results}
    assert reasons >= {"algorithm not allowed", "invalid signature", "token expired"}


# --- the key-confusion attack, against a verifier that trusts alg -------------------------------


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    return rsa_keys()


def test_the_naive_verifier_accepts_genuine_rs256_and_refuses_a_wrong_signature(
    rsa_pair: tuple[rsa.RSAPrivateKey, bytes],
) -> None:
    """The control: it is an RS256 verifier that works on honest input."""
    private, public_pem = rsa_pair
    genuine = jwt.encode({"sub": "alice"}, private, algorithm="RS256")
    assert naive_verify(genuine, public_pem) == {"sub": "alice"}
    other_private, _ = rsa_keys()
    with pytest.raises(NaiveRejected, match="invalid signature"):
        naive_verify(jwt.encode({"sub": "alice"}, other_private, algorithm="RS256"), public_pem)
    header, _, signature = genuine.split(".")
    edited = f"{header}.{b64url(json.dumps({'sub': 'admin'}).encode())}.{signature}"
    with pytest.raises(NaiveRejected, match="invalid signature"):
        naive_verify(edited, public_pem)
    for bad in ("hello", craft(claims(), None, {"alg": "none"})):
        with pytest.raises(NaiveRejected):
            naive_verify(bad, public_pem)


def test_key_confusion_fools_the_naive_verifier(
    rsa_pair: tuple[rsa.RSAPrivateKey, bytes],
) -> None:
    """The attack: HS256 keyed with the server's public PEM passes as the admin."""
    _, public_pem = rsa_pair
    forged = confused_token({"sub": "admin"}, public_pem)
    assert jwt.get_unverified_header(forged)["alg"] == "HS256"
    assert naive_verify(forged, public_pem) == {"sub": "admin"}
    # It needs *this* server's public key: the same forgery with another key is refused.
    _, other_pem = rsa_keys()
    with pytest.raises(NaiveRejected, match="invalid signature"):
        naive_verify(confused_token({"sub": "admin"}, other_pem), public_pem)


def test_pyjwt_refuses_the_key_confusion_at_both_steps(
    rsa_pair: tuple[rsa.RSAPrivateKey, bytes],
) -> None:
    private, public_pem = rsa_pair
    forged = confused_token({"sub": "admin"}, public_pem)
    with pytest.raises(jwt.InvalidKeyError):  # it will not make the token...
        jwt.encode({"sub": "admin"}, public_pem, algorithm="HS256")
    with pytest.raises(jwt.DecodeError, match="algorithms"):  # ...decode needs algorithms=...
        jwt.decode(forged, public_pem)
    with pytest.raises(jwt.InvalidAlgorithmError):  # ...pinned to RS256, HS256 is refused...
        jwt.decode(forged, public_pem, algorithms=["RS256"])
    with pytest.raises(jwt.InvalidKeyError):  # ...and even allowed, a PEM is no HMAC key
        jwt.decode(forged, public_pem, algorithms=["RS256", "HS256"])
    genuine = jwt.encode({"sub": "alice"}, private, algorithm="RS256")
    assert jwt.decode(genuine, public_pem, algorithms=["RS256"]) == {"sub": "alice"}


def test_the_course_app_refuses_the_confused_token(
    client: FlaskClient, rsa_pair: tuple[rsa.RSAPrivateKey, bytes]
) -> None:
    _, public_pem = rsa_pair
    forged = craft(claims(sub="admin"), public_pem)  # the app's claims, kid and HS256
    assert_refused(client, forged, "invalid signature")


def test_the_lessons_key_confusion_rows() -> None:
    rows = dict(key_confusion())
    assert len(rows) == 7
    assert rows["naive verifier, genuine RS256 token"] == "accepted (sub='alice')"
    assert rows["naive verifier, HS256 forged with the public key"] == "accepted (sub='admin')"
    assert rows["PyJWT, genuine token, algorithms=['RS256']"] == "accepted (sub='alice')"
    refusals = [verdict for step, verdict in rows.items() if step.startswith("PyJWT, forged")]
    assert len(refusals) == 3 and all(v.startswith("refused: ") for v in refusals)
    assert rows["PyJWT, forged token, algorithms=['RS256']"].startswith(
        "refused: InvalidAlgorithmError"
    )
    assert rows["PyJWT, making the forgery (encode HS256)"].startswith("refused: InvalidKeyError")
