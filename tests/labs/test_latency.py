"""compare_latency measures every app on the same requests; it never asserts a timing."""

from __future__ import annotations

import pytest
import redis

from labs.apps import stateful_app, stateless_app
from labs.latency import LatencyError, compare_latency


def test_every_app_gets_a_positive_median(store: redis.Redis) -> None:
    apps = {"memory": stateful_app.create_app("A"), "redis": stateless_app.create_app("A", store)}
    medians = compare_latency(apps, requests=20)
    assert list(medians) == ["memory", "redis"]
    assert all(value > 0 for value in medians.values())
    assert len(store.keys("session:*")) == 1  # one login, on the app that uses the store


def test_a_failing_request_is_an_error_not_a_time() -> None:
    with pytest.raises(LatencyError, match="GET /nope answered 404"):
        compare_latency({"A": stateful_app.create_app("A")}, path="/nope", requests=3)


def test_a_failing_login_is_an_error() -> None:
    with pytest.raises(LatencyError, match="login failed with 401"):
        compare_latency({"A": stateful_app.create_app("A")}, user="mallory")


def test_at_least_one_request() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        compare_latency({"A": stateful_app.create_app("A")}, requests=0)
