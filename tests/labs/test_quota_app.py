"""Lesson 08's quota app (``GET /quota``, products through a cache, likes) and its experiments
(``labs.quota_experiments``). Runs on a fresh fakeredis, or the real Redis of ``REDIS_URL``
(the ``store`` fixture), so CI runs it in both passes."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from lab_stores import SECRETS

from labs import quota_experiments as qx
from labs.apps import quota_app
from labs.apps.quota_app import CATALOG, HeldClock, shared_hit
from labs.cluster import LocalCluster

WINDOW = 60
START = 1_800_000_000.0  # a window start: 1_800_000_000 is a multiple of 60


def make(store: redis.Redis, instance: str = "A", **config: Any) -> Flask:
    app = quota_app.create_app(instance, redis=store, config={**SECRETS, **config})
    app.testing = True
    return app


def logged_in(app: Flask, user: str = "alice") -> FlaskClient:
    client = app.test_client()
    password = {"alice": "wonderland", "bob": "builder"}[user]
    assert client.post("/login", json={"username": user, "password": password}).status_code == 200
    return client


def quota_keys(store: redis.Redis) -> list[str]:
    return sorted(key for key in store.keys("*") if not key.startswith("session:"))


# --- GET /quota --------------------------------------------------------------------------------


def test_quota_needs_a_session(store: redis.Redis) -> None:
    answer = make(store).test_client().get("/quota")
    assert answer.status_code == 401 and list(answer.get_json()) == ["error"]
    assert answer.headers["X-Instance"] == "A"


@pytest.mark.parametrize("state", ["memory", "shared"])
def test_the_first_ten_get_9_to_0_then_429_with_an_honest_retry_after(
    store: redis.Redis, state: str
) -> None:
    clock = HeldClock(START + 45.5)
    client = logged_in(make(store, STATE=state, CLOCK=clock))
    answers = [client.get("/quota") for _ in range(13)]
    assert [a.get_json() for a in answers[:10]] == [{"remaining": n} for n in range(9, -1, -1)]
    for refused in answers[10:]:
        assert refused.status_code == 429 and list(refused.get_json()) == ["error"]
        assert refused.headers["Retry-After"] == "15"  # ceil(60 - 45.5)
        assert refused.headers["X-Instance"] == "A"
    clock.advance(14)
    assert client.get("/quota").headers["Retry-After"] == "1"  # 0.5 s left: at least 1
    clock.advance(1)  # the next window: refused requests were not counted into it
    assert client.get("/quota").get_json() == {"remaining": 9}


@pytest.mark.parametrize(("at", "expected"), [(0.0, 60), (0.2, 60), (59.0, 1), (59.99, 1)])
def test_retry_after_is_whole_seconds_to_the_window_end(at: float, expected: int) -> None:
    assert quota_app.seconds_left(int((START + at) // WINDOW), WINDOW, START + at) == expected


def test_the_limit_and_window_are_settings(store: redis.Redis) -> None:
    clock = HeldClock(START + 1)
    client = logged_in(make(store, RATE_LIMIT=3, RATE_WINDOW=10, CLOCK=clock))
    statuses = [client.get("/quota").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/quota").headers["Retry-After"] == "9"


def test_users_have_their_own_quota(store: redis.Redis) -> None:
    app = make(store, RATE_LIMIT=2, CLOCK=HeldClock(START))
    alice, bob = logged_in(app, "alice"), logged_in(app, "bob")
    assert [alice.get("/quota").status_code for _ in range(3)] == [200, 200, 429]
    assert bob.get("/quota").get_json() == {"remaining": 1}


def test_shared_counts_in_one_expiring_key_per_user_and_window(store: redis.Redis) -> None:
    client = logged_in(make(store, KEY_PREFIX="t:", CLOCK=HeldClock(START + 5)))
    for _ in range(3):
        client.get("/quota")
    [key] = quota_keys(store)
    assert key == f"t:quota:alice:{int(START // WINDOW)}"
    assert store.get(key) == "3"
    assert 0 < store.ttl(key) <= WINDOW


def test_two_shared_instances_share_the_count_and_memory_ones_do_not(store: redis.Redis) -> None:
    clock = HeldClock(START)
    for state, second_remaining in (("shared", 8), ("memory", 9)):
        a = make(store, "A", STATE=state, CLOCK=clock, KEY_PREFIX=state)
        b = make(store, "B", STATE=state, CLOCK=clock, KEY_PREFIX=state)
        on_a = logged_in(a)
        on_b = b.test_client()
        on_b.set_cookie("session", on_a.get_cookie("session").value)
        assert on_a.get("/quota").get_json() == {"remaining": 9}
        assert on_b.get("/quota").get_json() == {"remaining": second_remaining}
    assert not [k for k in quota_keys(store) if k.startswith("memory")]  # nothing in Redis


def test_a_restart_forgets_a_memory_count_but_not_a_shared_one(store: redis.Redis) -> None:
    for state, after_restart in (("memory", 9), ("shared", 7)):
        cluster = LocalCluster(
            "quota",
            instances=1,
            redis=store,
            config={**SECRETS, "STATE": state, "CLOCK": HeldClock(START), "KEY_PREFIX": state},
        )
        client = cluster.client()
        client.post("/login", json={"username": "alice", "password": "wonderland"})
        client.get("/quota")
        client.get("/quota")
        cluster.restart("A")
        assert client.get("/quota").get_json() == {"remaining": after_restart}


class Recorder:
    """A pluggable limiter that records how the app calls it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def hit(self, store, key, limit, window, now):
        self.calls.append((store, key, limit, window, now))
        return len(self.calls) <= 2, len(self.calls), 7.2


def test_the_limiter_is_pluggable_and_called_as_documented(store: redis.Redis) -> None:
    recorder = Recorder()
    app = make(store, LIMITER=recorder, RATE_LIMIT=5, KEY_PREFIX="p:", CLOCK=lambda: START + 3)
    client = logged_in(app)
    answers = [client.get("/quota") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].get_json() == {"remaining": 3}
    assert answers[2].headers["Retry-After"] == "8"  # whole seconds, rounded up
    stored, key, limit, window, now = recorder.calls[0]
    assert stored is store and key == "p:quota:alice"
    assert (limit, window, now) == (5, 60, START + 3)


def test_a_limiter_named_by_its_module_path(store: redis.Redis) -> None:
    app = make(store, LIMITER="labs.solutions.ex08_shared_limiter", RATE_LIMIT=2)
    client = logged_in(app)
    assert [client.get("/quota").status_code for _ in range(3)] == [200, 200, 429]
    assert quota_keys(store)  # the solution counts in Redis


def test_the_shared_limiter_alone(store: redis.Redis) -> None:
    results = [shared_hit(store, "k", 2, 10, START + 4.5) for _ in range(3)]
    assert results == [(True, 1, 6), (True, 2, 6), (False, 3, 6)]


def test_later_hits_do_not_push_the_counters_ttl_back(store: redis.Redis) -> None:
    shared_hit(store, "k", 5, WINDOW, START + 1)
    counter = f"k:{int(START // WINDOW)}"
    assert 0 < store.ttl(counter) <= WINDOW  # the first hit gives the new key its TTL
    store.expire(counter, 7)  # as if 53 s of the window had gone by
    for _ in range(3):
        shared_hit(store, "k", 5, WINDOW, START + 2)
    assert 0 < store.ttl(counter) <= 7  # EXPIRE ... NX: only a key without a TTL gets one
    assert store.get(counter) == "4"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("STATE", "disk"),
        ("RATE_LIMIT", 0),
        ("RATE_LIMIT", 10**9),
        ("RATE_WINDOW", "soon"),
        ("RATE_WINDOW", 1.5),
        ("STORE_READ_SECONDS", -1),
        ("STORE_READ_SECONDS", "slow"),
        ("STORE_READ_SECONDS", True),
        ("STORE_READ_SECONDS", float("nan")),
        ("LIMITER", "labs.no_such_limiter"),
        ("LIMITER", object()),
        ("CLOCK", 12),
    ],
)
def test_a_bad_setting_stops_the_app_naming_it(
    store: redis.Redis, setting: str, value: object
) -> None:
    with pytest.raises(ValueError, match=setting):
        make(store, **{setting: value})


def test_settings_come_from_the_environment_too(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE", "memory")
    monkeypatch.setenv("RATE_LIMIT", "2")
    app = make(store)
    assert app.extensions["quota"]["state"] == "memory"
    assert app.extensions["quota"]["limit"] == 2


# --- products through a cache, likes as a counter ----------------------------------------------


def test_a_product_is_a_miss_then_a_hit(store: redis.Redis) -> None:
    client = make(store, STORE_READ_SECONDS=0.03).test_client()
    started = time.perf_counter()
    cold = client.get("/products/pen")
    cold_seconds = time.perf_counter() - started
    warm = client.get("/products/pen")
    assert cold.status_code == warm.status_code == 200
    assert cold.get_json() == warm.get_json() == CATALOG["pen"]
    assert (cold.headers["X-Cache"], warm.headers["X-Cache"]) == ("miss", "hit")
    assert cold_seconds >= 0.03


def test_each_instance_has_its_own_cache(store: redis.Redis) -> None:
    a, b = make(store, "A", STORE_READ_SECONDS=0), make(store, "B", STORE_READ_SECONDS=0)
    assert a.test_client().get("/products/mug").headers["X-Cache"] == "miss"
    assert a.test_client().get("/products/mug").headers["X-Cache"] == "hit"
    assert b.test_client().get("/products/mug").headers["X-Cache"] == "miss"  # not shared
    assert list(a.extensions["quota"]["cache"]) == ["mug"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/products/nothing-here", 404),
        ("/products/bad!sku", 400),
        ("/products/%00", 400),
        ("/products/" + "a" * 65, 400),
        ("/likes/nothing-here", 404),
        ("/likes/bad!sku", 400),
    ],
)
def test_a_bad_sku_is_a_json_4xx_and_caches_nothing(
    store: redis.Redis, path: str, status: int
) -> None:
    app = make(store, STORE_READ_SECONDS=0)
    answer = logged_in(app).get(path)
    assert answer.status_code == status and list(answer.get_json()) == ["error"]
    assert app.extensions["quota"]["cache"] == {}
    assert logged_in(app).post(path.replace("/products/", "/likes/")).status_code in (400, 404)
    assert quota_keys(store) == []


@pytest.mark.parametrize("state", ["memory", "shared"])
def test_liking_needs_a_session_and_counts(store: redis.Redis, state: str) -> None:
    app = make(store, STATE=state)
    assert app.test_client().post("/likes/pen").status_code == 401
    client = logged_in(app)
    assert [client.post("/likes/pen").get_json()["likes"] for _ in range(3)] == [1, 2, 3]
    assert app.test_client().get("/likes/pen").get_json() == {"sku": "pen", "likes": 3}
    assert app.test_client().get("/likes/mug").get_json() == {"sku": "mug", "likes": 0}
    assert bool(quota_keys(store)) == (state == "shared")


# --- the experiments ---------------------------------------------------------------------------


def no_leftovers(store: redis.Redis) -> None:
    assert store.keys("l08-*") == [] and store.keys("session:*") == []


@pytest.mark.parametrize("instances", [1, 2, 4])
def test_quota_through_is_n_times_the_limit_in_memory_and_the_limit_shared(
    store: redis.Redis, instances: int
) -> None:
    memory = qx.quota_through(instances, "memory", redis=store)
    shared = qx.quota_through(instances, "shared", redis=store)
    assert (memory.allowed, shared.allowed) == (instances * 10, 10)
    assert memory.requests == shared.requests == 20 * instances
    assert memory.allowed_per_instance == {n: 10 for n in "ABCD"[:instances]}
    assert sum(shared.allowed_per_instance.values()) == 10
    assert memory.retry_after == shared.retry_after == 59
    assert memory.summary() == (
        f"counter in instance memory, {instances} instance(s): {10 * instances} of "
        f"{20 * instances} requests got through (limit 10: {instances} × the limit)"
    )
    no_leftovers(store)


def test_quota_by_instances_is_the_lessons_table(store: redis.Redis) -> None:
    rows = qx.quota_by_instances((1, 2, 4, 8), limit=5, redis=store)
    assert rows == [(1, 5, 5), (2, 10, 5), (4, 20, 5), (8, 40, 5)]


def test_quota_through_with_fewer_requests_than_the_limit(store: redis.Redis) -> None:
    result = qx.quota_through(2, "shared", limit=10, requests=4, redis=store)
    assert (result.allowed, result.refused, result.retry_after) == (4, 0, None)


@pytest.mark.parametrize("state", ["memory", "shared"])
def test_quota_concurrent_is_the_limit_shared_and_more_in_memory(
    store: redis.Redis, state: str
) -> None:
    result = qx.quota_concurrent(8, 4, state, redis=store)
    assert result.in_band and result.other == 0
    assert result.allowed + result.refused == result.requests == 80
    if state == "shared":
        assert result.allowed == 10
        assert result.verdict() == (
            "8 concurrent clients, 4 instances, counter in Redis: exactly the limit got "
            "through (10 of 80)"
        )
    else:
        assert 40 <= result.allowed <= 80
        assert all(n >= 10 for n in result.allowed_per_instance.values())
        assert result.verdict() == (
            "8 concurrent clients, 4 instances, counter in instance memory: more than the "
            "limit got through (40 to 80 of 80; limit 10)"
        )
    assert set(result.counts()) == {
        "allowed",
        "refused",
        "other",
        "allowed_per_instance",
        "seconds",
    }
    no_leftovers(store)


def test_a_result_outside_its_band_says_so() -> None:
    result = qx.QuotaConcurrent("shared", 8, 4, 10, 80, 11, 69, 0, {}, 0.1)
    assert not result.in_band and "OUTSIDE the expected band (11 of 80)" in result.verdict()


def test_retry_after_on_a_moved_clock_is_honest(store: redis.Redis) -> None:
    result = qx.retry_after_honesty(redis=store)
    assert (result.retry_after, result.honest_retry_after) == (15, 15)
    assert (result.early_status, result.status_after_wait) == (429, 200)
    assert result.remaining_after_wait == 9 and result.honest
    assert result.summary() == (
        "refused 45.5 s into a 60 s window: Retry-After 15 s; 14 s: 429; after waiting 15 s: 200"
    )
    no_leftovers(store)


def test_retry_after_on_the_real_clock_with_a_one_second_window(store: redis.Redis) -> None:
    started = time.perf_counter()
    result = qx.retry_after_honesty(window=1, limit=3, real_time=True, redis=store)
    assert result.retry_after == 1 and result.early_status is None
    assert result.status_after_wait == 200 and result.honest
    assert 1 <= time.perf_counter() - started < 4  # it really waited, about one second


def test_retry_after_never_waits_real_minutes() -> None:
    with pytest.raises(ValueError, match="at most 2 s"):
        qx.retry_after_honesty(window=60, real_time=True)


@pytest.mark.parametrize("state", ["memory", "shared"])
def test_a_rolling_restart_cools_the_cache_and_loses_only_memory_likes(
    store: redis.Redis, state: str
) -> None:
    result = qx.rolling_restart(state, instances=3, likes=6, redis=store)
    products = len(CATALOG)
    assert result.warm_up_misses == 3 * products
    assert [r.misses for r in result.rounds] == [products] * 3  # the restarted one, cold
    assert [r.misses_on for r in result.rounds] == [[name] * products for name in "ABC"]
    assert [r.hits for r in result.rounds] == [2 * products] * 3
    assert result.wrong_records == 0  # a cold cache loses nothing
    assert result.latency_band
    assert result.cold_min_ms >= 20 and result.warm_median_ms < 10
    if state == "memory":
        assert result.likes_before == {"A": 2, "B": 2, "C": 2}  # each instance its own part
        assert result.likes_after == {"A": 0, "B": 0, "C": 0}
        assert result.likes_lost == 6
    else:
        assert result.likes_before == result.likes_after == {"A": 6, "B": 6, "C": 6}
        assert result.likes_lost == 0
    lines = result.verdict().splitlines()
    assert lines[0] == (
        f"cache: cold after each restart (misses right after restarting A: {products}, "
        f"B: {products}, C: {products}); records lost: 0"
    )
    assert lines[1] == "latency: cold reads ≥ 20 ms, warm reads < 10 ms: yes"
    assert lines[2] == f"likes: {6 if state == 'memory' else 0} of 6 lost"
    no_leftovers(store)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: qx.quota_through(2, "disk"), "state"),
        (lambda: qx.quota_through(0, "shared"), "instances"),
        (lambda: qx.quota_through(2, "shared", limit=True), "limit"),
        (lambda: qx.quota_through(2, "shared", requests=0), "requests"),
        (lambda: qx.quota_concurrent(clients=0), "clients"),
        (lambda: qx.rolling_restart(likes=-1), "likes"),
        (lambda: qx.rolling_restart(store_read_seconds=math.inf), "store_read_seconds"),
        (lambda: qx.retry_after_honesty(at=60), "at"),
    ],
)
def test_experiments_refuse_bad_arguments(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_quota_through_real_processes_gives_the_same_counts(store: redis.Redis) -> None:
    memory = qx.quota_through_processes(2, "memory", limit=5)
    shared = qx.quota_through_processes(2, "shared", limit=5)
    assert (memory.allowed, memory.refused) == (10, 10)
    assert memory.allowed_per_instance == {"A": 5, "B": 5}
    assert (shared.allowed, shared.refused) == (5, 15)
    assert 1 <= shared.retry_after <= 3600
    no_leftovers(store)
