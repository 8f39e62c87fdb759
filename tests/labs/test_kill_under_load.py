"""A kill under load on the real cluster (labs.experiments.run_kill_under_load, lesson 04).

Client threads keep sending GET /cart and POST /cart/items through the Python balancer to
gunicorn instances that take 0.1 s per request; B is killed while it holds at least two of
each. How many are in flight is up to the scheduler; the verdict is not: the POSTs B held fail
and are not sent again, the GETs it held are sent to A or C and succeed, nothing else fails.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from labs.cluster import process
from labs.cluster.process import ProcessCluster, delayed_app
from labs.experiments import LoadKillResult, kill_under_load, run_kill_under_load

CLIENTS = 8


def load_clients_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("load-client")]


def test_the_posts_in_flight_fail_unretried_and_the_gets_are_retried_elsewhere() -> None:
    result = run_kill_under_load(clients=CLIENTS)

    assert result.killed_instance == "B" and result.retry == "idempotent"
    assert 1 <= result.failed_in_flight["POST"] <= CLIENTS
    assert result.not_retried["POST"] == result.failed_in_flight["POST"]  # each one a 502
    assert result.retried["POST"] == 0
    assert 1 <= result.retried["GET"] <= CLIENTS
    assert result.failed_in_flight["GET"] == result.not_retried["GET"] == 0
    assert result.failed_otherwise == 0  # a refused connection later: resent, whatever the method
    assert result.held_at_kill["GET"] >= 2 and result.held_at_kill["POST"] >= 2
    # at most one out per client (each pauses at random between two requests), and at least
    # what B held; the failed ones are among them
    for method in ("GET", "POST"):
        assert 2 <= result.in_flight_at_kill[method] <= CLIENTS
        assert result.failed_in_flight[method] <= result.in_flight_at_kill[method]
    assert set(result.answered_after_kill) == {"A", "C"}  # B answered nothing after the kill
    assert f"in-flight POSTs failed: yes, 1–{CLIENTS} of {CLIENTS}; retried: 0" in result.verdict()
    assert "GETs retried on another instance: yes" in result.verdict()
    # B serves one at a time: all but one of what it died with waited in its socket, sent
    assert sum(result.held_when_killed.values()) >= 3 and result.waiting_when_killed >= 2
    assert result.held_when_killed["POST"] == result.failed_in_flight["POST"]
    assert "waited in its socket, not in service: yes, 2 or more" in result.verdict()
    assert not load_clients_left()


def test_with_retry_all_the_balancer_resends_the_posts_too() -> None:
    result = run_kill_under_load(clients=CLIENTS, retry="all", after_seconds=0.5)

    assert result.failed_in_flight == {"GET": 0, "POST": 0}
    assert result.retried["POST"] >= 1 and result.retried["GET"] >= 1
    assert "in-flight POSTs failed: NO (0 of 8); retried:" in result.verdict()


def test_the_verdict_says_no_when_the_kill_found_too_little() -> None:
    # A kill that came too early or too late: the bands must be able to say so.
    none = {"GET": 0, "POST": 0}
    result = LoadKillResult(
        app="stateless", retry="idempotent", instances=3, clients=8, request_delay=0.1,
        killed_instance="B", held_at_kill=none, in_flight_at_kill={"GET": 8, "POST": 8},
        failed_in_flight={"GET": 0, "POST": 1}, failed_otherwise=0, retried=none,
        not_retried={"GET": 0, "POST": 1}, sent={"GET": 20, "POST": 20},
    )  # fmt: skip
    assert result.held_when_killed == {"GET": 0, "POST": 1} and result.waiting_when_killed == 0
    verdict = result.verdict()
    assert "in-flight POSTs failed: yes, 1–8 of 8" in verdict
    assert "in-flight GETs retried on another instance: NO (0 of 8)" in verdict
    assert "not in service: NO (0)" in verdict
    assert "of those waiting in its socket:   0 or more" in result.counts()


def test_a_failure_after_the_clients_started_still_stops_them_and_the_cluster() -> None:
    with ProcessCluster("stateless", instances=2, balancer="python", request_delay=0.2) as cluster:

        def broken_kill(which: object) -> int:
            raise RuntimeError("the kill failed")

        cluster.kill = broken_kill  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="the kill failed"):
            kill_under_load(cluster, clients=2, hold=1)
        assert not load_clients_left()
    assert cluster.process_ids() == {} and cluster.workdir is None


def test_the_experiment_needs_the_python_balancer_and_a_real_instance() -> None:
    with pytest.raises(ValueError, match='balancer="python"'):
        kill_under_load(SimpleNamespace(balancer=None))  # type: ignore[arg-type]
    cluster = SimpleNamespace(balancer=object(), instance_ids=["A", "B"])
    with pytest.raises(ValueError, match="no instance 'Z'"):
        kill_under_load(cluster, kill="Z")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hold"):
        kill_under_load(cluster, clients=2, hold=3)  # type: ignore[arg-type]


def test_bad_retry_and_delay_settings_are_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="retry must be one of"):
        ProcessCluster(retry="twice")
    with pytest.raises(ValueError, match="request_delay must be from 0 to 10"):
        ProcessCluster(request_delay=-0.1)
    with pytest.raises(ValueError, match="request_delay must be from 0 to 10"):
        delayed_app("labs.apps.stateless_app", "A", 60)


def test_a_delayed_app_waits_before_the_handler_but_not_before_probes_or_logins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(process.time, "sleep", waits.append)  # record the waits, do not wait
    client = delayed_app("labs.apps.stateless_app", "A", 0.2).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/login", json={}).status_code == 400
    assert waits == []  # probes and logins are not slowed
    assert client.get("/cart").status_code == 401
    assert client.post("/cart/items", json={"sku": "pen", "qty": 1}).status_code == 401
    assert waits == [0.2, 0.2]  # every other request waits before its handler
