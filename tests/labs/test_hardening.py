"""Inputs that once got past the apps (issue: hardening), one test each, on every app.

Every one is a clean JSON 4xx now, or, for a setting out of range, an app that refuses to start
with a message naming the setting.
"""

from __future__ import annotations

import json
import threading

import fakeredis
import pytest
from lab_stores import SECRETS
from redis.exceptions import ResponseError

from labs.apps import APPS, app_module
from labs.apps.web import MAX_JSON_DEPTH, nesting_depth

LOGIN = {"username": "alice", "password": "wonderland"}


def make(name: str, **config: object):
    store = fakeredis.FakeRedis(decode_responses=True)
    app = app_module(name).create_app("A", redis=store, config={**SECRETS, **config})
    return app, store


def logged_in(app):
    client = app.test_client()
    answer = client.post("/login", json=LOGIN)
    assert answer.status_code == 200
    token = answer.get_json().get("access_token")
    if token:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and "error" in response.get_json()


@pytest.mark.parametrize("name", APPS)
@pytest.mark.parametrize("path", ["/login", "/cart/items"])
def test_json_nested_a_thousand_deep_is_a_400(name: str, path: str) -> None:
    app, _ = make(name)
    client = logged_in(app)
    deep = "[" * 1000 + "]" * 1000
    answer = client.post(path, data=deep, content_type="application/json")
    assert_json_error(answer, 400)
    assert "nested" in answer.get_json()["error"]


@pytest.mark.parametrize("name", APPS)
@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_a_lone_surrogate_in_a_password_is_a_400(name: str, username: str) -> None:
    app, _ = make(name)
    body = '{"username": "' + username + '", "password": "\\ud800"}'
    answer = app.test_client().post("/login", data=body, content_type="application/json")
    assert_json_error(answer, 400)


@pytest.mark.parametrize("name", APPS)
@pytest.mark.parametrize(
    "body",
    [
        '{"username": NaN, "password": "x"}',
        b'{"username": "\xff"}',
        '{"a": Infinity}',
        '{"username": "alice", "password": "x", "n": 1e400}',
        '{"a": -1e400}',
    ],
    ids=["nan", "not-utf8", "infinity", "overflow", "negative-overflow"],
)
def test_what_is_not_json_text_is_a_400(name: str, body: str | bytes) -> None:
    app, _ = make(name)
    answer = app.test_client().post("/login", data=body, content_type="application/json")
    assert_json_error(answer, 400)


@pytest.mark.parametrize("name", APPS)
def test_a_sku_with_a_trailing_newline_is_refused_and_stores_nothing(name: str) -> None:
    app, _ = make(name)
    client = logged_in(app)
    assert_json_error(client.post("/cart/items", json={"sku": "book-1\n", "qty": 1}), 400)
    assert client.get("/cart").get_json()["items"] == {}


@pytest.mark.parametrize("name", APPS)
@pytest.mark.parametrize("path", ["/cart//items", "//login", "/cart/items/"])
def test_doubled_and_trailing_slashes_are_json_404s_not_redirects(name: str, path: str) -> None:
    app, _ = make(name)
    assert_json_error(logged_in(app).post(path, json={"sku": "a", "qty": 1}), 404)


@pytest.mark.parametrize(
    ("name", "setting", "value"),
    [
        ("stateless", "SESSION_TTL_SECONDS", 10**16),
        ("stateless", "SESSION_TTL_SECONDS", 1.5),
        ("stateless", "SESSION_TTL_SECONDS", 0),
        ("stateless", "SESSION_TTL_SECONDS", "soon"),
        ("jwt", "JWT_TTL_SECONDS", 9 * 10**15),
        ("jwt", "JWT_TTL_SECONDS", True),
        ("jwt", "JWT_LEEWAY_SECONDS", -1),
        ("jwt", "CART_TTL_SECONDS", 10**16),
    ],
)
def test_a_setting_out_of_range_stops_the_app_naming_it(
    name: str, setting: str, value: object
) -> None:
    with pytest.raises(ValueError, match=setting):
        make(name, **{setting: value})


def test_a_setting_from_the_environment_is_read_as_a_whole_number(monkeypatch) -> None:
    monkeypatch.setenv("SESSION_TTL_SECONDS", "60")
    app, store = make("stateless")
    logged_in(app)
    [key] = store.keys("session:*")
    assert 0 < store.ttl(key) <= 60
    monkeypatch.setenv("SESSION_TTL_SECONDS", "1.5")
    with pytest.raises(ValueError, match="SESSION_TTL_SECONDS"):
        make("stateless")


def test_two_logouts_of_one_session_at_once_never_answer_500() -> None:
    app, _ = make("stateful")
    client = logged_in(app)
    cookie = client.get_cookie("session")
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def logout() -> None:
        other = app.test_client()
        other.set_cookie("session", cookie.value)
        barrier.wait()
        statuses.append(other.post("/logout").status_code)

    threads = [threading.Thread(target=logout) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert statuses and set(statuses) <= {204, 401}


@pytest.mark.parametrize("name", ["stateless", "jwt"])
def test_only_an_unreachable_store_is_a_503(name: str, monkeypatch) -> None:
    """A store error that is not about reaching the store is a bug, not an outage: 500."""
    app, store = make(name)
    client = logged_in(app)

    def refuse(*args, **kwargs):
        raise ResponseError("ERR increment or decrement would overflow")

    monkeypatch.setattr(type(store), "execute_command", refuse)
    monkeypatch.setattr(type(store.pipeline()), "execute", refuse)
    answer = client.get("/cart")
    assert answer.status_code == 500 and answer.get_json() == {"error": "internal error"}


def test_the_depth_counter_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(json.dumps({"a": "[[[[{{{{", "b": [[1]]})) == 3
    assert nesting_depth(json.dumps({"a": '\\"[[[['})) == 1
    assert nesting_depth("[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1
