"""Lesson 08's race app and its experiment: "the current user" in a class attribute mixes users
up when a worker runs requests in threads; in ``flask.g`` it does not.

In-process tests force the interleaving (alice's request is held in its "database call" until
bob's request has finished), so they show the bug deterministically; the real-gunicorn tests
run :func:`labs.hidden_state.count_mixups` and check the verdicts the lesson prints. Runs against
fakeredis, or the real Redis at ``REDIS_URL``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from lab_stores import SECRETS

from labs.apps import APPS, app_module, race_app
from labs.apps.users import demo_password
from labs.hidden_state import NOBODY, MixupResult, count_mixups

STATES = ["memory", "shared"]


@pytest.fixture
def make_app(store_factory: Callable[[], redis.Redis]) -> Callable[..., Flask]:
    def make(instance: str = "A", **config: object) -> Flask:
        app = race_app.create_app(instance, redis=store_factory(), config={**SECRETS, **config})
        app.testing = True
        return app

    return make


def logged_in(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/login", json={"username": user, "password": demo_password(user)})
    assert answer.status_code == 200 and answer.get_json() == {"user": user}
    return client


# --- the routes ------------------------------------------------------------------------------


def test_race_is_registered() -> None:
    assert APPS["race"] == "labs.apps.race_app"
    assert app_module("race") is race_app


@pytest.mark.parametrize("state", STATES)
def test_login_me_logout_and_the_probes(make_app, state: str) -> None:
    app = make_app("Q", STATE=state, IO_WAIT_SECONDS=0)
    client = logged_in(app, "alice")
    me = client.get("/me")
    assert me.status_code == 200 and me.get_json() == {"user": "alice", "instance": "Q"}
    assert me.headers["X-Instance"] == "Q"
    assert client.post("/logout").status_code == 204
    gone = client.get("/me")
    assert gone.status_code == 401 and "error" in gone.get_json()
    assert gone.headers["X-Instance"] == "Q"
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("state", STATES)
def test_a_stranger_after_alice_is_not_alice(make_app, state: str) -> None:
    """The hook forgets the previous request's user, even in memory: one at a time is fine."""
    app = make_app(STATE=state, IO_WAIT_SECONDS=0)
    assert logged_in(app, "alice").get("/me").get_json()["user"] == "alice"
    stranger = app.test_client()
    assert stranger.get("/me").status_code == 401
    stranger.set_cookie("session", "forged")
    assert stranger.get("/me").status_code == 401


@pytest.mark.parametrize("state", STATES)
def test_bad_input_is_a_json_4xx(make_app, state: str) -> None:
    client = make_app(STATE=state, IO_WAIT_SECONDS=0).test_client()
    wrong = client.post("/login", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "error" in wrong.get_json()
    bad = client.post("/login", data=b"{", content_type="application/json")
    assert bad.status_code == 400 and "error" in bad.get_json()
    assert client.post("/me").status_code == 405


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("STATE", "disk"),
        ("STATE", "Memory"),
        ("IO_WAIT_SECONDS", -0.1),
        ("IO_WAIT_SECONDS", 11),
        ("IO_WAIT_SECONDS", "soon"),
        ("IO_WAIT_SECONDS", True),
        ("IO_WAIT_SECONDS", float("nan")),
    ],
)
def test_a_bad_setting_stops_the_app_naming_it(make_app, setting: str, value: object) -> None:
    with pytest.raises(ValueError, match=setting):
        make_app(**{setting: value})


def test_the_settings_come_from_the_environment_too(store_factory, monkeypatch) -> None:
    """What a gunicorn instance started by ``count_mixups`` is given."""
    monkeypatch.setenv("STATE", "memory")
    monkeypatch.setenv("IO_WAIT_SECONDS", "0.5")
    held = []
    monkeypatch.setattr(race_app, "query_database", held.append)
    app = race_app.create_app("A", redis=store_factory(), config=None)
    logged_in(app, "bob").get("/me")
    assert held == [0.5]
    assert race_app.CurrentUser.name == "bob"  # memory: it outlived the request
    monkeypatch.setenv("STATE", "disk")
    with pytest.raises(ValueError, match="STATE"):
        race_app.create_app("A", redis=store_factory(), config=None)


# --- the race, forced: alice waits in her "database call" until bob has been answered ------


def alice_then_bob(app: Flask, monkeypatch) -> tuple[dict, dict]:
    """Alice's ``GET /me`` starts first and is held in its wait; bob's runs start to end in the
    meantime; then alice's finishes. What each was told."""
    alice, bob = logged_in(app, "alice"), logged_in(app, "bob")
    alice_waiting, bob_answered = threading.Event(), threading.Event()
    real_wait = race_app.query_database

    def query_database(seconds: float) -> None:
        if threading.current_thread().name == "alice":
            alice_waiting.set()
            assert bob_answered.wait(timeout=5), "bob's request never finished"
        real_wait(0)

    monkeypatch.setattr(race_app, "query_database", query_database)
    told = {}
    thread = threading.Thread(
        target=lambda: told.update(alice=alice.get("/me").get_json()), name="alice"
    )
    thread.start()
    try:
        assert alice_waiting.wait(timeout=5), "alice's request never reached its wait"
        told["bob"] = bob.get("/me").get_json()
    finally:
        bob_answered.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    return told["alice"], told["bob"]


def test_memory_tells_alice_she_is_bob(make_app, monkeypatch) -> None:
    alice, bob = alice_then_bob(make_app(STATE="memory"), monkeypatch)
    assert alice == {"user": "bob", "instance": "A"}
    assert bob == {"user": "bob", "instance": "A"}


def test_shared_tells_each_user_who_they_are(make_app, monkeypatch) -> None:
    alice, bob = alice_then_bob(make_app(STATE="shared"), monkeypatch)
    assert alice == {"user": "alice", "instance": "A"}
    assert bob == {"user": "bob", "instance": "A"}


def test_one_request_at_a_time_never_shows_the_bug(make_app) -> None:
    """Why single-threaded tests pass: in turn, alice and bob are always told the truth."""
    app = make_app(STATE="memory", IO_WAIT_SECONDS=0)
    alice, bob = logged_in(app, "alice"), logged_in(app, "bob")
    for _ in range(5):
        assert alice.get("/me").get_json()["user"] == "alice"
        assert bob.get("/me").get_json()["user"] == "bob"


# --- the result's words --------------------------------------------------------------------


def result(answers: dict[str, dict[str, int]], errors: int = 0) -> MixupResult:
    return MixupResult("memory", 4, 0.05, 3, answers, errors, 1.2)


def test_the_verdict_is_a_band_and_the_counts_are_exact() -> None:
    mixed = result({"alice": {"bob": 2, NOBODY: 1}, "bob": {"bob": 3}})
    assert mixed.mixups_per_user == {"alice": 3, "bob": 0}
    assert (mixed.mixups, mixed.total) == (3, 6)
    assert mixed.verdict() == "wrong user in answers: yes, at least 1 of 6"
    assert "alice was told: (nobody) 1, bob 2  (wrong: 3)" in mixed.counts()
    assert "mix-ups: 3 of 6; failed requests: 0" in mixed.counts()
    clean = result({"alice": {"alice": 3}, "bob": {"bob": 2}}, errors=1)
    assert clean.verdict() == "wrong user in answers: none of 6 (and 1 requests failed)"


@pytest.mark.parametrize(
    "arguments",
    [
        {"state": "disk"},
        {"threads": 0},
        {"threads": 2.0},
        {"requests_per_user": 0},
        {"io_wait": -1},
        {"io_wait": True},
        {"users": ["alice"]},
        {"users": ["alice", "alice"]},
        {"users": ["alice", "mallory"]},
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(arguments: dict) -> None:
    with pytest.raises(ValueError):
        count_mixups(**arguments)


# --- the race on a real gunicorn gthread worker ----------------------------------------------


def test_memory_with_threads_mixes_users_up() -> None:
    mixed = count_mixups("memory", threads=4, requests_per_user=5)
    assert mixed.errors == 0 and mixed.total == 10, mixed.counts()
    assert mixed.mixups >= 1, mixed.counts()
    assert mixed.verdict() == "wrong user in answers: yes, at least 1 of 10"


def test_memory_with_one_thread_never_does() -> None:
    alone = count_mixups("memory", threads=1, requests_per_user=5)
    assert alone.answers == {"alice": {"alice": 5}, "bob": {"bob": 5}}, alone.counts()
    assert alone.verdict() == "wrong user in answers: none of 10"


def test_shared_with_threads_never_does() -> None:
    fixed = count_mixups("shared", threads=4, requests_per_user=5)
    assert fixed.answers == {"alice": {"alice": 5}, "bob": {"bob": 5}}, fixed.counts()
    assert fixed.verdict() == "wrong user in answers: none of 10"
