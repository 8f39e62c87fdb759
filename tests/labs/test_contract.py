"""The HTTP contract of COURSE_DESIGN §6, run against BOTH session apps.

``stateful_app`` and ``stateless_app`` must answer every request the same way (only where the
session lives differs), so every test here is parametrized over the two. Runs against a fresh
fakeredis per test, or the real Redis at ``REDIS_URL`` (the ``store`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab_stores import SECRETS
from werkzeug.test import TestResponse

from labs.apps import (
    cookie_app,
    draining,
    events_app,
    files_app,
    jobs_app,
    payments_app,
    quota_app,
    stateful_app,
    stateless_app,
)
from labs.apps.users import demo_password
from labs.apps.web import MAX_BODY_BYTES, QTY_MAX

APPS = [pytest.param(stateful_app, id="stateful"), pytest.param(stateless_app, id="stateless")]
APPS.append(pytest.param(quota_app, id="quota"))  # lesson 08: the stateless app plus /quota
APPS.append(pytest.param(files_app, id="files"))  # lesson 09: the stateless app plus /files
APPS.append(pytest.param(events_app, id="events"))  # lesson 09: the stateless app plus /events
APPS.append(pytest.param(jobs_app, id="jobs"))  # lesson 09: the stateless app plus /jobs
APPS.append(pytest.param(payments_app, id="payments"))  # lesson 10: plus /payments
APPS.append(pytest.param(cookie_app, id="cookie"))  # lesson 12: the session in the cookie
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=APPS)
def module(request: pytest.FixtureRequest) -> ModuleType:
    return request.param


@pytest.fixture
def make_app(module: ModuleType, store: redis.Redis) -> Callable[..., Flask]:
    """``make_app(instance, **config)``: an instance of the app under test on the shared store."""

    def make(instance: str = "A", **config: object) -> Flask:
        if module is cookie_app:  # it signs with SECRET_KEY: a test key, not the loud default
            config = {"SECRET_KEY": SECRETS["SECRET_KEY"], **config}
        app = module.create_app(instance, redis=store, config=config or None)
        app.testing = True
        return app

    return make


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app("A").test_client()


@pytest.fixture
def logged_in(client: FlaskClient) -> FlaskClient:
    assert login(client).status_code == 200
    return client


def login(client: FlaskClient, user: str = "alice", password: str | None = None) -> TestResponse:
    password = demo_password(user) if password is None else password
    return client.post("/login", json={"username": user, "password": password})


def replay(client: FlaskClient, session_id: str, path: str = "/me") -> TestResponse:
    """``GET path`` from another browser that presents ``session_id`` (a stolen or old cookie)."""
    thief = client.application.test_client(use_cookies=False)
    return thief.get(path, headers={"Cookie": f"session={session_id}"})


def assert_error(response: TestResponse, status: int, instance: str = "A") -> str:
    """``response`` is a JSON ``{"error": ...}`` with ``status`` and the X-Instance header."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"]
    assert response.headers["X-Instance"] == instance
    return body["error"]


# --- happy paths ---------------------------------------------------------------------------------


def test_login_answers_the_user_and_sets_a_safe_session_cookie(client: FlaskClient) -> None:
    response = login(client)
    assert response.status_code == 200
    assert response.get_json() == {"user": "alice"}
    assert response.headers["X-Instance"] == "A"
    [cookie] = response.headers.getlist("Set-Cookie")
    name, _, rest = cookie.partition("=")
    session_id, *flags = rest.split("; ")
    assert name == "session"
    assert len(session_id) >= 43  # token_urlsafe(32): 256 random bits
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= set(flags)
    assert "Secure" not in flags  # off by default: the labs run over plain HTTP on loopback


def test_the_secure_flag_is_configurable(make_app: Callable[..., Flask]) -> None:
    client = make_app("A", SESSION_COOKIE_SECURE=True).test_client()
    response = login(client)
    assert "Secure" in response.headers["Set-Cookie"].split("; ")


def test_me_names_the_user_and_the_instance(make_app: Callable[..., Flask]) -> None:
    client = make_app("C").test_client()
    login(client, "bob")
    response = client.get("/me")
    assert response.status_code == 200
    assert response.get_json() == {"user": "bob", "instance": "C"}
    assert response.headers["X-Instance"] == "C"


def test_cart_starts_empty_and_adds_up(logged_in: FlaskClient) -> None:
    empty = logged_in.get("/cart")
    assert empty.status_code == 200
    assert empty.get_json() == {"user": "alice", "items": {}, "total_qty": 0}
    logged_in.post("/cart/items", json={"sku": "book-1", "qty": 2})
    logged_in.post("/cart/items", json={"sku": "pen", "qty": 1})
    added = logged_in.post("/cart/items", json={"sku": "book-1", "qty": 3})
    expected = {"user": "alice", "items": {"book-1": 5, "pen": 1}, "total_qty": 6}
    assert added.status_code == 200
    assert added.get_json() == expected
    assert logged_in.get("/cart").get_json() == expected


def test_logout_is_204_and_ends_the_session(logged_in: FlaskClient) -> None:
    response = logged_in.post("/logout")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["X-Instance"] == "A"
    assert "Max-Age=0" in response.headers["Set-Cookie"]  # the browser forgets the cookie
    assert_error(logged_in.get("/me"), 401)
    assert_error(logged_in.post("/logout"), 401)


def skip_if_unrevocable(module: ModuleType) -> None:
    """The cookie app keeps the session in the cookie: the server has nothing to delete. That
    gap is lesson 12's point, and tests/labs/test_cookie_app.py asserts it."""
    if module is cookie_app:
        pytest.skip("a session kept in the cookie cannot be revoked by the server")


def test_logout_ends_the_session_even_for_a_client_that_keeps_the_cookie(
    client: FlaskClient, module: ModuleType
) -> None:
    skip_if_unrevocable(module)
    login(client)
    cookie = client.get_cookie("session").value
    client.post("/logout")
    assert_error(replay(client, cookie), 401)


def test_users_do_not_see_each_other(make_app: Callable[..., Flask]) -> None:
    app = make_app("A")
    alice, bob = app.test_client(), app.test_client()
    login(alice, "alice")
    login(bob, "bob")
    alice.post("/cart/items", json={"sku": "book-1", "qty": 1})
    assert bob.get("/me").get_json()["user"] == "bob"
    assert bob.get("/cart").get_json() == {"user": "bob", "items": {}, "total_qty": 0}


def test_a_new_login_gets_a_new_session_id_and_the_old_one_dies(
    client: FlaskClient, module: ModuleType
) -> None:
    skip_if_unrevocable(module)
    login(client)
    old = client.get_cookie("session").value
    login(client, "bob")
    new = client.get_cookie("session").value
    assert new != old  # no session fixation: an id planted before login is never promoted
    assert client.get("/me").get_json()["user"] == "bob"
    assert_error(replay(client, old), 401)


def test_healthz_and_readyz(client: FlaskClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok", "instance": "A"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["instance"] == "A"


def test_readyz_is_503_while_draining_and_healthz_stays_200(client: FlaskClient) -> None:
    draining.start_draining()
    try:
        assert_error(client.get("/readyz"), 503)
        assert client.get("/healthz").status_code == 200
        assert login(client).status_code == 200  # draining still serves what it gets
    finally:
        draining.reset()
    assert client.get("/readyz").status_code == 200


# --- authentication failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "WRONG"), ("alice", "Wonderland"), ("mallory", "wonderland"), ("bob", "wonderland")],
)
def test_bad_credentials_are_401(client: FlaskClient, user: str, password: str) -> None:
    response = login(client, user, password)
    assert_error(response, 401)
    assert "Set-Cookie" not in response.headers


def test_bad_credentials_do_not_end_an_existing_session(logged_in: FlaskClient) -> None:
    assert_error(login(logged_in, "alice", "WRONG"), 401)
    assert logged_in.get("/me").status_code == 200


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "session=",
        "session=garbage",
        "session=" + "x" * 43,
        "session=" + "A" * 3000,
        'session="quoted; value"',
        "session=%00%ff",
        "other=value",
        "session:alice=1",
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("GET", "/cart"), ("POST", "/logout"), ("POST", "/cart/items")],
)
def test_no_or_a_forged_session_cookie_is_401(
    client: FlaskClient, cookie: str | None, method: str, path: str
) -> None:
    headers = {"Cookie": cookie} if cookie else {}
    browser = client.application.test_client(use_cookies=False)  # sends the header as given
    response = browser.open(path, method=method, headers=headers, json={"sku": "a", "qty": 1})
    assert_error(response, 401)


def test_a_real_session_id_works_from_another_browser(client: FlaskClient) -> None:
    """The control for the forged-cookie tests: the way they send a cookie does send it."""
    login(client)
    response = replay(client, client.get_cookie("session").value)
    assert response.get_json() == {"user": "alice", "instance": "A"}


def test_a_session_id_is_not_a_key_pattern(client: FlaskClient) -> None:
    login(client)
    for guess in ("*", "?*", "[a-z]*", "session:*", "\\*"):
        assert_error(replay(client, guess), 401)


# --- bad bodies ------------------------------------------------------------------------------


JSON = "application/json"
BAD_LOGIN_BODIES = [
    pytest.param(b"{", JSON, id="malformed JSON"),
    pytest.param(b"", JSON, id="empty body"),
    pytest.param(b"null", JSON, id="null"),
    pytest.param(b"[]", JSON, id="array"),
    pytest.param(b'"alice"', JSON, id="string"),
    pytest.param(b"42", JSON, id="number"),
    pytest.param(b"{}", JSON, id="empty object"),
    pytest.param(b'{"username": "alice"}', JSON, id="no password"),
    pytest.param(b'{"password": "wonderland"}', JSON, id="no username"),
    pytest.param(b'{"username": 7, "password": "wonderland"}', JSON, id="username a number"),
    pytest.param(b'{"username": "alice", "password": null}', JSON, id="password null"),
    pytest.param(b'{"username": ["alice"], "password": "x"}', JSON, id="username a list"),
    pytest.param(b'{"username": "", "password": "wonderland"}', JSON, id="empty username"),
    pytest.param(b'{"username": "alice", "password": ""}', JSON, id="empty password"),
    pytest.param(
        json.dumps({"username": "a" * 65, "password": "x"}).encode(), JSON, id="username too long"
    ),
    pytest.param(b"\xff\xfe\x00", JSON, id="not UTF-8"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_LOGIN_BODIES)
def test_a_bad_login_body_is_400(client: FlaskClient, body: bytes, content_type: str) -> None:
    response = client.post("/login", data=body, content_type=content_type)
    assert_error(response, 400)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_login_that_is_not_json_is_refused(client: FlaskClient, content_type: str | None) -> None:
    body = json.dumps({"username": "alice", "password": "wonderland"})
    response = client.post("/login", data=body, content_type=content_type)
    # §6 says "400 bad body"; 415 Unsupported Media Type would be correct HTTP too.
    assert response.status_code in (400, 415)
    assert_error(response, response.status_code)
    assert "Set-Cookie" not in response.headers


BAD_ITEMS = [
    pytest.param({"sku": "book-1"}, id="no qty"),
    pytest.param({"qty": 1}, id="no sku"),
    pytest.param({"sku": "book-1", "qty": "2"}, id="qty a string"),
    pytest.param({"sku": "book-1", "qty": True}, id="qty a bool"),
    pytest.param({"sku": "book-1", "qty": 1.0}, id="qty a float"),
    pytest.param({"sku": "book-1", "qty": 1.5}, id="qty a fraction"),
    pytest.param({"sku": "book-1", "qty": -1}, id="qty negative"),
    pytest.param({"sku": "book-1", "qty": 0}, id="qty zero"),
    pytest.param({"sku": "book-1", "qty": 100}, id="qty 100"),
    pytest.param({"sku": "book-1", "qty": 10**30}, id="qty huge"),
    pytest.param({"sku": "book-1", "qty": None}, id="qty null"),
    pytest.param({"sku": "book-1", "qty": [1]}, id="qty a list"),
    pytest.param({"sku": "", "qty": 1}, id="empty sku"),
    pytest.param({"sku": 7, "qty": 1}, id="sku a number"),
    pytest.param({"sku": "../etc", "qty": 1}, id="sku with a slash"),
    pytest.param({"sku": "a b", "qty": 1}, id="sku with a space"),
    pytest.param({"sku": "x" * 65, "qty": 1}, id="sku too long"),
    pytest.param({"sku": "item:x", "qty": 1}, id="sku with a colon"),
]


@pytest.mark.parametrize("item", BAD_ITEMS)
def test_a_bad_cart_item_is_400_and_changes_nothing(logged_in: FlaskClient, item: dict) -> None:
    logged_in.post("/cart/items", json={"sku": "pen", "qty": 1})
    assert_error(logged_in.post("/cart/items", json=item), 400)
    assert logged_in.get("/cart").get_json()["items"] == {"pen": 1}


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b"null", b'"x"', b"\xff"],
    ids=["malformed", "array", "null", "str", "bytes"],
)
def test_a_bad_cart_body_is_400(logged_in: FlaskClient, body: bytes) -> None:
    assert_error(logged_in.post("/cart/items", data=body, content_type=JSON), 400)


def test_a_cart_item_that_is_not_json_is_refused(logged_in: FlaskClient) -> None:
    response = logged_in.post("/cart/items", data="sku=pen&qty=1")
    assert response.status_code in (400, 415)
    assert_error(response, response.status_code)


def test_the_cart_limits_are_400(logged_in: FlaskClient) -> None:
    assert logged_in.post("/cart/items", json={"sku": "pen", "qty": QTY_MAX}).status_code == 200
    assert_error(logged_in.post("/cart/items", json={"sku": "pen", "qty": 1}), 400)
    for number in range(49):
        logged_in.post("/cart/items", json={"sku": f"sku-{number}", "qty": 1})
    assert len(logged_in.get("/cart").get_json()["items"]) == 50
    assert_error(logged_in.post("/cart/items", json={"sku": "one-too-many", "qty": 1}), 400)


@pytest.mark.parametrize("path", ["/login", "/cart/items"])
def test_an_oversized_body_is_413_json(logged_in: FlaskClient, path: str) -> None:
    body = json.dumps({"username": "alice", "password": "x" * MAX_BODY_BYTES})
    assert len(body) > MAX_BODY_BYTES
    assert_error(logged_in.post(path, data=body, content_type=JSON), 413)


def test_a_body_at_the_limit_is_read(client: FlaskClient) -> None:
    fields = {"username": "alice", "password": "WRONG", "padding": ""}
    body = json.dumps({**fields, "padding": "x" * (MAX_BODY_BYTES - len(json.dumps(fields)))})
    assert len(body) == MAX_BODY_BYTES
    assert_error(client.post("/login", data=body, content_type=JSON), 401)  # read, then refused


# --- routing errors --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope", "/me/", "/cart/items/1", "/login/../admin"])
def test_an_unknown_route_is_404_json(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/login"), ("POST", "/me"), ("GET", "/logout"), ("DELETE", "/cart"),
     ("PUT", "/cart/items"), ("POST", "/healthz"), ("PATCH", "/readyz")],
)  # fmt: skip
def test_a_wrong_method_is_405_json(client: FlaskClient, method: str, path: str) -> None:
    assert_error(client.open(path, method=method), 405)


def test_a_405_says_which_methods_are_allowed(client: FlaskClient) -> None:
    allowed = {m.strip() for m in client.get("/login").headers.get("Allow", "").split(",")}
    assert "POST" in allowed and "GET" not in allowed


# --- fuzz: no input gives a 500 ----------------------------------------------------------------


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(["username", "password", "sku", "qty", "user", "items"])
BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(FIELDS, JSON_VALUES, max_size=4).map(lambda v: json.dumps(v).encode())
)


@FUZZ
@given(
    body=BODIES,
    path=st.sampled_from(["/login", "/cart/items", "/logout", "/me", "/cart"]),
    method=st.sampled_from(["POST", "GET"]),
    content_type=st.sampled_from([JSON, "text/plain", None]),
)
def test_no_request_body_produces_a_500(
    logged_in: FlaskClient, body: bytes, path: str, method: str, content_type: str | None
) -> None:
    if path == "/logout":
        method = "GET"  # 405: keep the session alive for the next example
    response = logged_in.open(path, method=method, data=body, content_type=content_type)
    assert response.status_code < 500
    assert response.headers["X-Instance"] == "A"
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@FUZZ
@given(cookie=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200))
def test_no_session_cookie_produces_a_500(client: FlaskClient, cookie: str) -> None:
    assert_error(replay(client, cookie), 401)
