"""The JWT app's HTTP contract (COURSE_DESIGN §6), its denylist and its key rotation.

Runs against a fresh fakeredis per test, or the real Redis at ``REDIS_URL`` (``store``).
The classic attacks are in ``test_jwt_attacks.py``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import jwt
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from labs.apps import draining
from labs.apps.jwt_app import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    TokenRejected,
    create_app,
    denylist_key,
    issue_token,
    verify_token,
)
from labs.apps.users import demo_password
from labs.apps.web import InsecureDefaultWarning
from labs.cluster.process import free_port

SECRET = "test-secret-for-the-jwt-lab-0123456789abcdef"  # 44 bytes
OLD_KEY = "old-key-retired-soon-0123456789abcdef0123"
NEW_KEY = "new-key-signing-now-0123456789abcdef01234"


class Clock:
    """A clock the test moves by hand (``JWT_CLOCK``)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_app(store: redis.Redis, store_factory: Callable[[], redis.Redis]):
    """``make_app(instance, **config)``: an instance on its own connection to the shared store."""

    def make(instance: str = "A", **config: object) -> Flask:
        app = create_app(instance, store_factory(), {"JWT_SECRET": SECRET, **config})
        app.testing = True
        return app

    return make


def login(client: FlaskClient, user: str = "alice") -> str:
    response = client.post("/login", json={"username": user, "password": demo_password(user)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- login, /me, cart, health ------------------------------------------------------------------


def test_login_returns_a_bearer_token(make_app) -> None:
    client = make_app("A", JWT_TTL_SECONDS=600).test_client()
    response = client.post("/login", json={"username": "alice", "password": "wonderland"})
    body = response.get_json()
    assert response.status_code == 200
    assert set(body) == {"user", "access_token", "token_type", "expires_in"}
    assert body["user"] == "alice" and body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert response.headers["X-Instance"] == "A"
    assert "Set-Cookie" not in response.headers  # nothing kept on the server, nothing in a cookie


def test_the_token_carries_the_expected_claims_and_header(make_app) -> None:
    token = login(make_app("A", JWT_TTL_SECONDS=600).test_client())
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience=DEFAULT_AUDIENCE, issuer=DEFAULT_ISSUER
    )
    assert header == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_every_token_has_its_own_jti(make_app) -> None:
    client = make_app().test_client()
    jtis = {jwt.decode(login(client), options={"verify_signature": False})["jti"] for _ in range(5)}
    assert len(jtis) == 5


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "alice", "password": "wrong"}, 401),
        ({"username": "mallory", "password": "wonderland"}, 401),
        ({"username": "alice"}, 400),
        ({"username": 7, "password": "x"}, 400),
        (["alice", "wonderland"], 400),
    ],
)
def test_login_refuses_bad_credentials_and_bad_bodies(make_app, body: object, status: int) -> None:
    response = make_app().test_client().post("/login", json=body)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert "access_token" not in response.get_json()


def test_login_needs_a_json_body(make_app) -> None:
    response = make_app().test_client().post("/login", data="username=alice")
    assert response.status_code == 400


def test_me_works_on_any_instance_without_a_lookup_of_the_session(make_app) -> None:
    a, b = make_app("A").test_client(), make_app("B").test_client()
    token = login(a, "bob")
    for client, instance in ((a, "A"), (b, "B")):
        response = client.get("/me", headers=bearer(token))
        assert response.status_code == 200
        assert response.get_json() == {"user": "bob", "instance": instance}


def test_the_bearer_scheme_is_case_insensitive(make_app) -> None:
    client = make_app().test_client()
    token = login(client)
    response = client.get("/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_cart_lives_in_redis_under_the_user(make_app, store: redis.Redis) -> None:
    a, b = make_app("A").test_client(), make_app("B").test_client()
    token = login(a, "carol")
    first = a.post("/cart/items", json={"sku": "book-1", "qty": 2}, headers=bearer(token))
    assert first.status_code == 200
    second = b.post("/cart/items", json={"sku": "book-1", "qty": 1}, headers=bearer(token))
    assert second.get_json() == {"user": "carol", "items": {"book-1": 3}, "total_qty": 3}
    assert a.get("/cart", headers=bearer(token)).get_json()["items"] == {"book-1": 3}
    assert store.hgetall("cart:carol") == {"book-1": "3"}


def test_carts_are_per_user(make_app) -> None:
    client = make_app().test_client()
    alice, bob = login(client, "alice"), login(client, "bob")
    client.post("/cart/items", json={"sku": "pen", "qty": 1}, headers=bearer(alice))
    assert client.get("/cart", headers=bearer(bob)).get_json()["items"] == {}


@pytest.mark.parametrize(
    "body", [{"sku": "pen", "qty": 0}, {"sku": "pen", "qty": "2"}, {"sku": "a b", "qty": 1}, {}]
)
def test_bad_cart_items_are_400(make_app, body: dict) -> None:
    client = make_app().test_client()
    response = client.post("/cart/items", json=body, headers=bearer(login(client)))
    assert response.status_code == 400
    assert "error" in response.get_json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/me"), ("get", "/cart"), ("post", "/cart/items"), ("post", "/logout")],
)
def test_protected_routes_need_a_token(make_app, method: str, path: str) -> None:
    response = getattr(make_app().test_client(), method)(path, json={"sku": "pen", "qty": 1})
    assert response.status_code == 401
    assert response.get_json() == {"error": "missing bearer token"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="stateless-by-design"'


def test_health_and_readiness(make_app) -> None:
    client = make_app("C").test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.headers["X-Instance"] == "C"


def test_readiness_fails_while_draining(make_app) -> None:
    client = make_app().test_client()
    draining.start_draining()
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "draining" in response.get_json()["error"]
        assert client.get("/healthz").status_code == 200  # alive, just not taking new work
    finally:
        draining.reset()


def test_an_unreachable_redis_is_503_not_500() -> None:
    dead = redis.Redis(
        port=free_port(),  # nothing listens there
        decode_responses=True,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),  # fail at once instead of retrying for seconds
    )
    app = create_app("A", dead, {"JWT_SECRET": SECRET})
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    token = issue_token(app, "alice")  # signing needs no store...
    response = client.get("/me", headers=bearer(token))  # ...but the denylist check does
    assert response.status_code == 503
    assert "Redis" in response.get_json()["error"]
    assert client.get("/healthz").status_code == 200


def test_unknown_routes_are_json_404_with_the_instance(make_app) -> None:
    response = make_app("B").test_client().get("/nope")
    assert response.status_code == 404
    assert "error" in response.get_json() and response.headers["X-Instance"] == "B"


# --- logout and the denylist -------------------------------------------------------------------


def test_logout_revokes_the_token_on_every_instance(make_app, store: redis.Redis) -> None:
    a, b = make_app("A").test_client(), make_app("B").test_client()
    token = login(a)
    assert b.get("/me", headers=bearer(token)).status_code == 200
    response = a.post("/logout", headers=bearer(token))
    assert response.status_code == 204 and response.data == b""
    assert response.headers["X-Instance"] == "A"
    for client in (a, b):
        refused = client.get("/me", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.get_json() == {"error": "token revoked"}
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert b.post("/logout", headers=bearer(token)).status_code == 401


def test_logout_revokes_only_that_token(make_app) -> None:
    client = make_app().test_client()
    laptop, phone = login(client), login(client)
    client.post("/logout", headers=bearer(laptop))
    assert client.get("/me", headers=bearer(phone)).status_code == 200


def test_the_denylist_key_names_issuer_and_jti(make_app, store: redis.Redis) -> None:
    client = make_app().test_client()
    token = login(client)
    claims = jwt.decode(token, options={"verify_signature": False})
    client.post("/logout", headers=bearer(token))
    key = denylist_key(DEFAULT_ISSUER, claims["jti"])
    assert key == f"denylist:{DEFAULT_ISSUER}:{claims['jti']}"
    assert store.exists(key) == 1
    assert store.keys("denylist:*") == [key]


def test_denylist_ttl_is_the_remaining_lifetime(make_app, store: redis.Redis) -> None:
    clock = Clock()
    app = make_app(JWT_TTL_SECONDS=900, JWT_LEEWAY_SECONDS=5, JWT_CLOCK=clock)
    client = app.test_client()
    token = login(client)
    clock.now += 300  # five minutes later the user logs out: 600 s of life left, plus leeway
    assert client.post("/logout", headers=bearer(token)).status_code == 204
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    ttl = store.ttl(denylist_key(DEFAULT_ISSUER, jti))
    # The token is accepted until exp + leeway, so the entry must live exactly that long
    # (Redis rounds TTL down to whole seconds and a second may tick: ±1 s).
    assert 605 - 1 <= ttl <= 605


def test_denylist_ttl_is_at_least_one_second(make_app, store: redis.Redis) -> None:
    clock = Clock()
    client = make_app(JWT_TTL_SECONDS=60, JWT_LEEWAY_SECONDS=0, JWT_CLOCK=clock).test_client()
    token = login(client)
    clock.now += 59.8  # 0.2 s left
    assert client.post("/logout", headers=bearer(token)).status_code == 204
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert store.pttl(denylist_key(DEFAULT_ISSUER, jti)) > 500  # a whole second, not 0.2 s


def test_the_denylist_entry_disappears_when_the_token_expires(make_app, store: redis.Redis) -> None:
    client = make_app(JWT_TTL_SECONDS=1, JWT_LEEWAY_SECONDS=0).test_client()
    token = login(client)
    client.post("/logout", headers=bearer(token))
    key = denylist_key(
        DEFAULT_ISSUER, jwt.decode(token, options={"verify_signature": False})["jti"]
    )
    assert store.exists(key)
    deadline = time.monotonic() + 5
    while store.exists(key) and time.monotonic() < deadline:  # waits ~1 s; not a timing test
        time.sleep(0.1)
    assert not store.exists(key)
    refused = client.get("/me", headers=bearer(token))
    assert refused.get_json() == {"error": "token expired"}  # still refused, now by exp


def test_without_a_denylist_logout_cannot_revoke(make_app, store: redis.Redis) -> None:
    """The revocation gap: the server says 204, but a copy of the token keeps working."""
    client = make_app(JWT_REVOCATION="none").test_client()
    token = login(client)
    assert client.post("/logout", headers=bearer(token)).status_code == 204
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert store.keys("denylist:*") == []


# --- time, through the app's clock -------------------------------------------------------------


def test_a_token_expires_after_its_ttl_plus_leeway(make_app) -> None:
    clock = Clock()
    client = make_app(JWT_TTL_SECONDS=900, JWT_LEEWAY_SECONDS=5, JWT_CLOCK=clock).test_client()
    token = login(client)
    clock.now += 904  # past exp, within the leeway
    assert client.get("/me", headers=bearer(token)).status_code == 200
    clock.now += 1  # exp + leeway
    refused = client.get("/me", headers=bearer(token))
    assert refused.status_code == 401 and refused.get_json() == {"error": "token expired"}


def test_verify_token_takes_a_fixed_now_for_lessons(make_app) -> None:
    app = make_app(JWT_TTL_SECONDS=900, JWT_LEEWAY_SECONDS=5)
    token = issue_token(app, "alice", now=1_700_000_000, jti="lesson-07")
    assert issue_token(app, "alice", now=1_700_000_000, jti="lesson-07") == token
    claims = verify_token(app, token, now=1_700_000_060)
    assert claims["jti"] == "lesson-07" and claims["exp"] == 1_700_000_900
    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(app, token, now=1_700_000_905)
    with pytest.raises(TokenRejected, match="token not yet valid"):
        verify_token(app, token, now=1_699_999_000)


# --- configuration and key rotation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"JWT_SECRET": "too-short"}, "at least 32 bytes"),
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET"),
        ({"JWT_KEYS": {"k1": "x" * 40, "k2": "short"}}, "k2"),
        ({"JWT_KEYS": {}}, "non-empty"),
        ({"JWT_KEYS": {"k1": "x" * 40}, "JWT_ACTIVE_KID": "k9"}, "k9"),
        ({"JWT_SECRET": "x" * 40, "JWT_TTL_SECONDS": 0}, "JWT_TTL_SECONDS"),
        ({"JWT_SECRET": "x" * 40, "JWT_REVOCATION": "maybe"}, "JWT_REVOCATION"),
    ],
)
def test_bad_settings_fail_at_create_app(store: redis.Redis, config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_app("A", store, config)


def test_a_missing_secret_falls_back_loudly(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("JWT_KEYS", raising=False)
    with pytest.warns(InsecureDefaultWarning, match="JWT_SECRET"):
        create_app("A", store)


def test_a_configured_secret_does_not_warn(store: redis.Redis) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_app("A", store, {"JWT_SECRET": SECRET})
        create_app("A", store, {"JWT_KEYS": {"k2": NEW_KEY}})


def test_rotation_signs_with_the_active_kid(make_app) -> None:
    app = make_app(JWT_KEYS={"k1": OLD_KEY, "k2": NEW_KEY}, JWT_ACTIVE_KID="k2")
    token = login(app.test_client())
    assert jwt.get_unverified_header(token)["kid"] == "k2"
    claims = jwt.decode(token, NEW_KEY, algorithms=["HS256"], audience=DEFAULT_AUDIENCE)
    assert claims["sub"] == "alice"


def test_rotation_keeps_old_tokens_until_the_old_key_is_retired(make_app) -> None:
    before = make_app("A", JWT_KEYS={"k1": OLD_KEY}, JWT_ACTIVE_KID="k1")
    during = make_app("B", JWT_KEYS={"k1": OLD_KEY, "k2": NEW_KEY}, JWT_ACTIVE_KID="k2")
    after = make_app("C", JWT_KEYS={"k2": NEW_KEY}, JWT_ACTIVE_KID="k2")
    old_token = login(before.test_client())
    new_token = login(during.test_client())
    # 1. new key added and signing: old tokens still work, no one is logged out
    assert during.test_client().get("/me", headers=bearer(old_token)).status_code == 200
    assert during.test_client().get("/me", headers=bearer(new_token)).status_code == 200
    # 2. old key retired (after one TTL): its tokens are refused, the new ones are fine
    refused = after.test_client().get("/me", headers=bearer(old_token))
    assert refused.status_code == 401 and refused.get_json() == {"error": "unknown key id"}
    assert after.test_client().get("/me", headers=bearer(new_token)).status_code == 200


def test_logout_reaches_every_process_of_a_real_cluster() -> None:
    """Two gunicorn processes behind a balancer, one shared store: a logout on one is final."""
    requests = pytest.importorskip("requests")
    from labs.cluster.process import ProcessCluster

    with ProcessCluster("jwt", instances=2) as cluster:
        login = requests.post(
            cluster.url + "/login", json={"username": "dave", "password": "deepdive"}, timeout=10
        )
        headers = bearer(login.json()["access_token"])
        served_by = {
            requests.get(cluster.url + "/me", headers=headers, timeout=10).json()["instance"]
            for _ in range(4)
        }
        assert served_by == {"A", "B"}  # round robin: both processes accept the token
        assert (
            requests.post(cluster.url + "/logout", headers=headers, timeout=10).status_code == 204
        )
        replays = [requests.get(cluster.url + "/me", headers=headers, timeout=10) for _ in range(4)]
        assert {response.status_code for response in replays} == {401}
        assert {response.headers["X-Instance"] for response in replays} == {"A", "B"}
        assert all(response.json() == {"error": "token revoked"} for response in replays)
