"""The session kept in the cookie (lesson 12): what it saves, and the prices it pays.

The §6 contract is in test_contract.py; here are the properties of a cookie session itself:
no store, readable but not forgeable when signed, unreadable when encrypted, a size limit that
refuses instead of losing the cart, key rotation with fallbacks, and the revocation gap (a copy
of the cookie outlives logout until it expires).
"""

from __future__ import annotations

import base64
import json
import time
import zlib

import pytest
import redis
from flask.testing import FlaskClient

from labs.apps import cookie_app
from labs.apps.users import demo_password
from labs.cluster.process import free_port

KEY, NEW_KEY = "k" * 32, "n" * 32


def client_of(mode: str = "signed", **config: object) -> FlaskClient:
    app = cookie_app.create_app(config={"COOKIE_SESSION": mode, "SECRET_KEY": KEY, **config})
    app.testing = True
    return app.test_client()


def logged_in(mode: str = "signed", **config: object) -> FlaskClient:
    client = client_of(mode, **config)
    body = {"username": "alice", "password": demo_password("alice")}
    assert client.post("/login", json=body).status_code == 200
    return client


def cookie(client: FlaskClient) -> str:
    return client.get_cookie("session").value


def signed_payload(value: str) -> dict:
    """What anyone can read in a signed cookie: base64 (and zlib when it starts with '.')."""
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def replay(mode: str, value: str, **config: object) -> int:
    """``GET /me`` on a fresh client (another instance) that sends only ``value``."""
    client = client_of(mode, **config)
    client.set_cookie("session", value)
    return client.get("/me").status_code


MODES = pytest.mark.parametrize("mode", cookie_app.MODES)


@MODES
def test_the_session_needs_no_store_at_all(mode: str) -> None:
    """Given a Redis client that cannot connect, every route still works: none calls it."""
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=0.2, decode_responses=True)
    app = cookie_app.create_app(redis=nowhere, config={"COOKIE_SESSION": mode, "SECRET_KEY": KEY})
    client = app.test_client()
    body = {"username": "alice", "password": demo_password("alice")}
    assert client.post("/login", json=body).status_code == 200
    assert client.post("/cart/items", json={"sku": "book-1", "qty": 2}).status_code == 200
    assert client.get("/cart").get_json()["items"] == {"book-1": 2}
    assert client.get("/readyz").status_code == 200


@MODES
def test_every_instance_with_the_key_reads_the_session_and_no_other(mode: str) -> None:
    client = logged_in(mode)
    client.post("/cart/items", json={"sku": "book-1", "qty": 1})
    other = client_of(mode)  # instance B, same key
    other.set_cookie("session", cookie(client))
    assert other.get("/cart").get_json()["items"] == {"book-1": 1}
    assert replay(mode, cookie(client), SECRET_KEY=NEW_KEY) == 401


def test_a_signed_cookie_is_readable_by_anyone_but_not_changeable() -> None:
    client = logged_in("signed")
    client.post("/cart/items", json={"sku": "book-1", "qty": 3})
    value = cookie(client)
    assert signed_payload(value)["cart"] == {"book-1": 3}  # base64 is not encryption
    forged = value.replace(value.split(".")[-3] if value.startswith(".") else value[:10], "x", 1)
    assert forged != value and replay("signed", forged) == 401


def test_an_encrypted_cookie_shows_nothing_and_cannot_be_changed() -> None:
    client = logged_in("encrypted")
    client.post("/cart/items", json={"sku": "book-1", "qty": 3})
    value = cookie(client)
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    assert b"alice" not in raw and b"book-1" not in raw
    flipped = value[:40] + ("A" if value[40] != "A" else "B") + value[41:]
    assert replay("encrypted", flipped) == 401


@MODES
@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", ".eJw.!!", "gAAAA" + "=" * 9, "é" * 20])
def test_a_garbage_cookie_is_a_401_never_a_500(mode: str, garbage: str) -> None:
    assert replay(mode, garbage) == 401


@MODES
def test_the_revocation_gap_a_copy_of_the_cookie_outlives_logout_until_it_expires(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = logged_in(mode, SESSION_TTL_SECONDS=60)
    stolen = cookie(client)
    assert client.post("/logout").status_code == 204
    assert client.get("/me").status_code == 401  # the browser dropped it
    assert replay(mode, stolen, SESSION_TTL_SECONDS=60) == 200  # the copy still works
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)  # itsdangerous and Fernet read time.time
    assert replay(mode, stolen, SESSION_TTL_SECONDS=60) == 401


@MODES
def test_a_cart_that_would_not_fit_in_a_cookie_is_refused_and_nothing_is_lost(
    mode: str,
) -> None:
    client = logged_in(mode)
    added = 0
    for line in range(60):
        sku = f"sku-{line:02d}-{'%064x' % (line * 0x9E3779B97F4A7C15)}"[:64]
        answer = client.post("/cart/items", json={"sku": sku, "qty": 1})
        if answer.status_code != 200:
            break
        added += 1
    before = client.get("/cart").get_json()
    if mode == "encrypted":  # no compression: it reaches the browser's limit first
        assert answer.status_code == 413 and "fits in a cookie" in answer.get_json()["error"]
        assert 30 < added < 50
    else:  # compressed, a random-looking cart still fits; the app's line limit stops it
        assert answer.status_code == 400 and added == 50
    assert before["total_qty"] == added  # the refused line changed nothing
    header = client.get("/cart").headers["Set-Cookie"]
    assert len(header.split(";")[0]) <= cookie_app.MAX_COOKIE_BYTES


@MODES
def test_a_key_is_rotated_without_logging_anybody_out_only_with_a_fallback(mode: str) -> None:
    value = cookie(logged_in(mode))
    assert replay(mode, value, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[KEY]) == 200
    assert replay(mode, value, SECRET_KEY=NEW_KEY) == 401  # no fallback: everyone logged out
    rotated = client_of(mode, SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[KEY])
    rotated.set_cookie("session", value)
    rotated.get("/me")  # the answer re-signs the cookie with the new key
    assert replay(mode, cookie(rotated), SECRET_KEY=NEW_KEY) == 200


@pytest.mark.parametrize(
    "config, message",
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 bytes"),
        ({"SECRET_KEY_FALLBACKS": "k" * 32}, "must be a list"),
        ({"SECRET_KEY_FALLBACKS": ["short"]}, "each of SECRET_KEY_FALLBACKS must be at least"),
        ({"COOKIE_SESSION": "plain"}, "COOKIE_SESSION must be one of signed, encrypted"),
        ({"SESSION_TTL_SECONDS": 0}, "SESSION_TTL_SECONDS"),
    ],
)
def test_bad_settings_stop_the_app_at_start_with_a_clear_message(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cookie_app.create_app(config={"SECRET_KEY": KEY, **config})


def test_fallback_keys_come_from_the_environment_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = cookie(logged_in("signed"))
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f"{'o' * 32},{KEY}")
    assert replay("signed", value, SECRET_KEY=NEW_KEY) == 200
