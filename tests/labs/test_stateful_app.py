"""What the stateful app is for: showing that state in the process does not survive scaling.

The shared HTTP contract is in ``test_contract.py``; here, the anti-pattern itself: every
``create_app`` call has its own memory, which nobody else can see and a restart wipes.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from labs.apps.stateful_app import create_app, sessions_of
from labs.apps.users import demo_password


def login(client: FlaskClient, user: str = "alice") -> str:
    response = client.post("/login", json={"username": user, "password": demo_password(user)})
    assert response.status_code == 200
    return client.get_cookie("session").value


def present(app: Flask, session_id: str, path: str = "/me"):
    client = app.test_client(use_cookies=False)
    return client.get(path, headers={"Cookie": f"session={session_id}"})


def test_each_instance_has_its_own_memory() -> None:
    a, b = create_app("A"), create_app("B")
    session_id = login(a.test_client())
    assert list(sessions_of(a)) == [session_id]
    assert sessions_of(b) == {}
    assert sessions_of(a) is not sessions_of(b)


def test_another_instance_does_not_know_the_session() -> None:
    a, b = create_app("A"), create_app("B")
    session_id = login(a.test_client())
    assert present(a, session_id).get_json() == {"user": "alice", "instance": "A"}
    refused = present(b, session_id)
    assert refused.status_code == 401
    assert refused.get_json() == {"error": "not logged in (no session on this instance)"}
    assert present(b, session_id, "/cart").status_code == 401


def test_two_instances_with_the_same_id_are_still_two_memories() -> None:
    first, second = create_app("A"), create_app("A")
    session_id = login(first.test_client())
    assert present(second, session_id).status_code == 401


def test_a_restart_loses_every_session() -> None:
    app = create_app("A")
    session_id = login(app.test_client())
    restarted = create_app("A")  # what a crash, a deploy or a scale-in does to the process
    assert present(restarted, session_id).status_code == 401


def test_the_session_holds_the_user_and_the_cart() -> None:
    app = create_app("A")
    client = app.test_client()
    session_id = login(client)
    client.post("/cart/items", json={"sku": "pen", "qty": 2})
    assert sessions_of(app)[session_id] == {"user": "alice", "cart": {"pen": 2}}


def test_memory_only_grows_while_users_keep_logging_in() -> None:
    """No TTL: sessions that nobody will use again stay until the process dies."""
    app = create_app("A")
    for _ in range(5):
        login(app.test_client())  # five browsers that never log out
    assert len(sessions_of(app)) == 5


def test_a_new_login_replaces_the_old_session_and_logout_removes_it() -> None:
    app = create_app("A")
    client = app.test_client()
    old = login(client)
    new = login(client)
    assert list(sessions_of(app)) == [new] != [old]
    client.post("/logout")
    assert sessions_of(app) == {}


def test_redis_is_accepted_and_ignored() -> None:
    app = create_app("A", redis=object(), config={"SESSION_COOKIE_SECURE": True})
    response = app.test_client().post("/login", json={"username": "bob", "password": "builder"})
    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"]
