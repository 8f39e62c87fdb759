"""What only the stateless app promises: sessions in Redis, shared, expiring, safe to rotate.

Runs against a fresh fakeredis per test, or the real Redis at ``REDIS_URL`` (``store``), so
the TTL and sharing claims are checked against a real server in CI's second pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from labs.apps.stateless_app import DEFAULT_TTL_SECONDS, ITEM_PREFIX, create_app, session_key
from labs.apps.users import demo_password
from labs.cluster.process import free_port


@pytest.fixture
def make_app(store: redis.Redis, store_factory: Callable[[], redis.Redis]):
    """``make_app(instance, **config)``: an instance on its own connection to the shared store."""

    def make(instance: str = "A", **config: object) -> Flask:
        app = create_app(instance, redis=store_factory(), config=config or None)
        app.testing = True
        return app

    return make


def login(client: FlaskClient, user: str = "alice") -> str:
    """Log ``user`` in; return the session id from the cookie."""
    response = client.post("/login", json={"username": user, "password": demo_password(user)})
    assert response.status_code == 200
    return client.get_cookie("session").value


def present(app: Flask, session_id: str, path: str = "/me", method: str = "GET", **kwargs):
    """``path`` from a browser that presents ``session_id`` (another device, or a thief)."""
    client = app.test_client(use_cookies=False)
    return client.open(path, method=method, headers={"Cookie": f"session={session_id}"}, **kwargs)


# --- what is in Redis ------------------------------------------------------------------------


def test_a_login_stores_one_hash_with_the_user_and_a_ttl(make_app, store: redis.Redis) -> None:
    session_id = login(make_app("A").test_client())
    key = session_key(session_id)
    assert store.keys("*") == [key]
    assert store.type(key) == "hash"
    assert store.hgetall(key) == {"user": "alice"}
    assert DEFAULT_TTL_SECONDS - 5 <= store.ttl(key) <= DEFAULT_TTL_SECONDS == 1800


def test_the_ttl_is_configurable(make_app, store: redis.Redis) -> None:
    session_id = login(make_app("A", SESSION_TTL_SECONDS=60).test_client())
    assert 55 <= store.ttl(session_key(session_id)) <= 60


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_ttl_below_one_second_is_refused(store: redis.Redis, ttl: int) -> None:
    with pytest.raises(ValueError, match="SESSION_TTL_SECONDS"):
        create_app("A", redis=store, config={"SESSION_TTL_SECONDS": ttl})


def test_the_cart_lives_in_the_session_hash(make_app, store: redis.Redis) -> None:
    client = make_app("A").test_client()
    session_id = login(client)
    client.post("/cart/items", json={"sku": "book-1", "qty": 2})
    client.post("/cart/items", json={"sku": "book-1", "qty": 1})
    assert store.keys("*") == [session_key(session_id)]  # one key per session, nothing else
    assert store.hgetall(session_key(session_id)) == {"user": "alice", ITEM_PREFIX + "book-1": "3"}


def test_the_ttl_slides_on_every_authenticated_request(make_app, store: redis.Redis) -> None:
    client = make_app("A", SESSION_TTL_SECONDS=600).test_client()
    key = session_key(login(client))
    for path in ("/me", "/cart"):
        store.expire(key, 5)  # as if the user had been idle for almost ten minutes
        assert client.get(path).status_code == 200
        assert 595 <= store.ttl(key) <= 600, path


def test_a_cart_update_keeps_and_slides_the_ttl(make_app, store: redis.Redis) -> None:
    client = make_app("A", SESSION_TTL_SECONDS=600).test_client()
    key = session_key(login(client))
    store.expire(key, 5)
    assert client.post("/cart/items", json={"sku": "pen", "qty": 1}).status_code == 200
    assert 595 <= store.ttl(key) <= 600  # never -1: the cart does not make the session immortal


def test_a_forged_id_keeps_no_session_alive(make_app, store: redis.Redis) -> None:
    client = make_app("A", SESSION_TTL_SECONDS=600).test_client()
    key = session_key(login(client))
    store.expire(key, 50)
    assert present(make_app("B"), "not-" + key.removeprefix("session:")).status_code == 401
    assert store.ttl(key) <= 50


def test_an_expired_session_is_401_and_leaves_nothing(make_app, store: redis.Redis) -> None:
    client = make_app("A", SESSION_TTL_SECONDS=1).test_client()
    key = session_key(login(client))
    client.post("/cart/items", json={"sku": "pen", "qty": 1})
    deadline = time.monotonic() + 5
    while store.exists(key) and time.monotonic() < deadline:  # ~1 s: Redis expires it itself
        time.sleep(0.05)
    assert not store.exists(key)
    response = client.get("/me")
    assert response.status_code == 401
    assert "expired" in response.get_json()["error"]
    assert client.post("/cart/items", json={"sku": "pen", "qty": 1}).status_code == 401
    assert store.keys("*") == []  # the refused request recreated nothing


def test_an_expiry_the_test_forces_with_the_client(make_app, store: redis.Redis) -> None:
    client = make_app("A").test_client()
    key = session_key(login(client))
    store.pexpire(key, 1)  # deterministic: Redis, not the app, decides the session is over
    time.sleep(0.01)
    assert client.get("/me").status_code == 401


# --- session ids: fresh at login, dead after logout -------------------------------------------


def test_a_new_login_deletes_the_old_session(make_app, store: redis.Redis) -> None:
    app = make_app("A")
    client = app.test_client()
    old = login(client)
    new = login(client, "bob")
    assert new != old
    assert not store.exists(session_key(old))
    assert store.hget(session_key(new), "user") == "bob"
    assert present(app, old).status_code == 401


def test_a_planted_session_id_is_never_promoted(make_app, store: redis.Redis) -> None:
    """Session fixation: an attacker sets the victim's cookie to an id they know, then waits."""
    app = make_app("A")
    victim = app.test_client()
    victim.set_cookie("session", "attacker-chose-this-id")
    logged_in = login(victim)
    assert logged_in != "attacker-chose-this-id"
    assert not store.exists(session_key("attacker-chose-this-id"))
    assert present(app, "attacker-chose-this-id").status_code == 401


def test_session_ids_are_random_and_long(make_app) -> None:
    client = make_app("A").test_client()
    ids = {login(client) for _ in range(20)}
    assert len(ids) == 20
    assert all(len(session_id) == 43 for session_id in ids)  # token_urlsafe(32)


def test_logout_deletes_the_key_so_a_kept_cookie_is_worthless(make_app, store: redis.Redis) -> None:
    app = make_app("A")
    client = app.test_client()
    session_id = login(client)
    client.post("/cart/items", json={"sku": "pen", "qty": 1})
    assert client.post("/logout").status_code == 204
    assert store.keys("*") == []  # the session and its cart are gone from the server
    assert present(app, session_id).status_code == 401
    assert present(make_app("B"), session_id).status_code == 401


def test_logout_on_one_instance_logs_out_everywhere(make_app) -> None:
    a, b = make_app("A"), make_app("B")
    session_id = login(a.test_client())
    assert present(b, session_id, "/logout", "POST").status_code == 204
    assert present(a, session_id).status_code == 401


# --- many instances, one store -------------------------------------------------------------------


def test_every_instance_sees_every_session_and_cart(make_app) -> None:
    a, b, c = make_app("A"), make_app("B"), make_app("C")
    session_id = login(a.test_client())
    present(b, session_id, "/cart/items", "POST", json={"sku": "pen", "qty": 2})
    me = present(c, session_id)
    assert me.get_json() == {"user": "alice", "instance": "C"}
    cart = present(a, session_id, "/cart").get_json()
    assert cart == {"user": "alice", "items": {"pen": 2}, "total_qty": 2}


def test_a_restarted_instance_still_knows_the_session(make_app) -> None:
    session_id = login(make_app("A").test_client())
    reborn = make_app("A")  # a new process: nothing in memory
    assert present(reborn, session_id).get_json()["user"] == "alice"


# --- when Redis is away ------------------------------------------------------------------------


@pytest.fixture
def dead_store() -> redis.Redis:
    client = redis.Redis(
        port=free_port(),  # nothing listens there
        decode_responses=True,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),  # fail at once instead of retrying for seconds
    )
    yield client
    client.close()


def test_an_unreachable_redis_is_503_json_and_healthz_stays_200(dead_store: redis.Redis) -> None:
    client = create_app("A", redis=dead_store).test_client(use_cookies=False)
    for response in (
        client.get("/readyz"),
        client.post("/login", json={"username": "alice", "password": "wonderland"}),
        client.get("/me", headers={"Cookie": "session=" + "x" * 43}),
        client.post("/cart/items", json={"sku": "a", "qty": 1}, headers={"Cookie": "session=x"}),
    ):
        assert response.status_code == 503
        assert "Redis" in response.get_json()["error"]
        assert response.headers["X-Instance"] == "A"
    assert client.get("/healthz").get_json() == {"status": "ok", "instance": "A"}


def test_a_bad_password_is_401_without_asking_redis(dead_store: redis.Redis) -> None:
    client = create_app("A", redis=dead_store).test_client()
    response = client.post("/login", json={"username": "alice", "password": "nope"})
    assert response.status_code == 401
    assert client.get("/me").status_code == 401  # no cookie: nothing to look up


def test_without_a_client_it_uses_the_course_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """``redis=None``: the §5 rule, i.e. the process-wide embedded store when REDIS_URL is unset."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    a, b = create_app("A"), create_app("B")
    client = a.test_client()
    session_id = login(client)
    try:
        assert present(b, session_id).get_json() == {"user": "alice", "instance": "B"}
    finally:
        client.post("/logout")
