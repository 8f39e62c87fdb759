"""Lesson 11's groundwork: the probes, the lazy app factories, and a supervisor that acts.

In process: what ``/healthz`` and ``/readyz`` answer with the course's probes, the deep ones and a
module plugged in with ``PROBES``; app factories that start with no store at all. Then real
clusters (gunicorn processes, the store behind the loopback proxy, the supervisor's probes at
a fast clock): instances that start before Redis, a Redis outage with each liveness design,
a crash that the supervisor repairs, a SIGTERM that it does not, and scaling both ways.
"""

from __future__ import annotations

import sys
import textwrap
import time

import pytest
import requests

from labs.apps import APPS, app_module, draining
from labs.cluster.balancer import LoadBalancer
from labs.cluster.clients import logged_in, poll
from labs.cluster.process import ProcessCluster, free_port
from labs.cluster.supervisor import Probe, Probes

FACTORY_APPS = ("stateless", "jwt", "quota", "race", "jobs", "files", "payments", "events")
LIVENESS = Probe("/healthz", periodSeconds=0.2, failureThreshold=3, timeoutSeconds=0.5)
READINESS = Probe("/readyz", periodSeconds=0.1, failureThreshold=2, timeoutSeconds=0.5)
STARTUP = Probe("/healthz", periodSeconds=0.1, failureThreshold=60, timeoutSeconds=0.5)
PROBES = Probes(liveness=LIVENESS, readiness=READINESS, startup=STARTUP)


@pytest.fixture
def no_redis(monkeypatch: pytest.MonkeyPatch) -> str:
    """REDIS_URL names a port where nothing listens: Redis does not exist (yet)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    return url


# --- in process -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORY_APPS)
def test_an_app_starts_before_redis_exists_and_says_not_ready(name: str, no_redis: str) -> None:
    app = app_module(APPS[name]).create_app("A")  # no PING at creation: no crash loop
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.is_json


def test_the_deep_liveness_probe_fails_when_redis_is_down(no_redis: str) -> None:
    app = app_module(APPS["stateless"]).create_app("A", config={"PROBES": "labs.apps.deep_probes"})
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert "Redis" in answer.get_json()["error"]


def test_both_designs_are_alive_and_ready_when_redis_is_up() -> None:
    for probes in ("labs.apps.probes", "labs.apps.deep_probes"):
        client = app_module(APPS["stateless"]).create_app("A", config={"PROBES": probes})
        client = client.test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_draining_is_not_ready_but_alive() -> None:
    client = app_module(APPS["stateless"]).create_app("A").test_client()
    draining.start_draining()
    try:
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
    finally:
        draining.reset()


def test_a_plugged_probe_module_decides_and_a_falsy_answer_is_503(tmp_path, monkeypatch) -> None:
    (tmp_path / "plugged_probes.py").write_text(
        textwrap.dedent(
            """
            def liveness(instance):
                return instance.id == "A"
            def readiness(instance):
                return None  # forgot to return True
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = app_module(APPS["stateless"])
    alive = module.create_app("A", config={"PROBES": "plugged_probes"}).test_client()
    dead = module.create_app("B", config={"PROBES": "plugged_probes"}).test_client()
    assert alive.get("/healthz").status_code == 200
    assert dead.get("/healthz").status_code == 503
    assert alive.get("/readyz").status_code == 503
    sys.modules.pop("plugged_probes", None)


def test_a_probe_module_without_both_functions_stops_the_app_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"PROBES module 'labs\.apps\.draining' has no function"):
        app_module(APPS["stateless"]).create_app("A", config={"PROBES": "labs.apps.draining"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"path": "healthz"}, "starts with '/'"),
        ({"path": "/h", "periodSeconds": 0}, "periodSeconds"),
        ({"path": "/h", "failureThreshold": True}, "failureThreshold"),
        ({"path": "/h", "successThreshold": 0}, "successThreshold"),
        ({"path": "/h", "initialDelaySeconds": -1}, "initialDelaySeconds"),
    ],
)
def test_a_probe_refuses_bad_settings(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Probe(**settings)


def test_a_probe_scales_every_time_and_keeps_its_thresholds() -> None:
    probe = Probe("/healthz", periodSeconds=5, failureThreshold=3, initialDelaySeconds=2)
    fast = probe.scaled(10)
    assert (fast.periodSeconds, fast.initialDelaySeconds, fast.timeoutSeconds) == (0.5, 0.2, 0.1)
    assert fast.failureThreshold == 3
    assert probe.detection_seconds == 15 and fast.detection_seconds == pytest.approx(1.5)


def test_a_strict_balancer_sends_nothing_to_an_unready_instance() -> None:
    with LoadBalancer([("A", "http://127.0.0.1:9")], health_interval=None, strict_readiness=True):
        pass
    balancer = LoadBalancer([("A", "http://127.0.0.1:9")], strict_readiness=True)
    balancer.backend("A").ready = False
    assert balancer.candidates() == []
    loose = LoadBalancer([("A", "http://127.0.0.1:9")])
    loose.backend("A").ready = False
    assert [b.id for b in loose.candidates()] == ["A"]  # all look down: try them anyway
    balancer.add_backend("B", "http://127.0.0.1:10")
    assert [b.id for b in balancer.candidates()] == ["B"]
    with pytest.raises(ValueError, match="already"):
        balancer.add_backend("B", "http://127.0.0.1:11")
    balancer.remove_backend("B")
    assert balancer.candidates() == []


# --- real clusters --------------------------------------------------------------------------


def test_instances_started_before_redis_stay_up_and_become_ready_when_it_appears() -> None:
    with ProcessCluster("stateless", 2, probes=PROBES, store_proxy="refuse") as cluster:
        for url in cluster.instance_urls:
            assert requests.get(url + "/healthz", timeout=5).status_code == 200
            assert requests.get(url + "/readyz", timeout=5).status_code == 503
        answer = requests.get(cluster.url + "/me", timeout=5)
        assert answer.status_code == 502 and "no instance" in answer.json()["error"]
        time.sleep(1.0)  # five liveness periods with Redis missing: still no restart
        assert cluster.supervisor.total_restarts() == 0
        cluster.store_proxy.restore()  # Redis appears
        assert poll(lambda: len(cluster.supervisor.ready_instances()) == 2, 5)
        session = logged_in(cluster.url)
        assert session.get(cluster.url + "/me", timeout=5).status_code == 200
        assert cluster.supervisor.total_restarts() == 0


@pytest.mark.parametrize(
    ("probes", "restarted"), [("labs.apps.probes", False), ("labs.apps.deep_probes", True)]
)
def test_a_redis_outage_restarts_every_instance_only_if_liveness_pings_redis(
    probes: str, restarted: bool
) -> None:
    with ProcessCluster(
        "stateless", 3, probes=PROBES, store_proxy="open", env={"PROBES": probes}
    ) as cluster:
        assert poll(lambda: len(cluster.supervisor.ready_instances()) == 3, 5)
        cluster.store_proxy.cut()
        time.sleep(1.2)  # twice the liveness detection time (0.2 s x 3)
        cluster.store_proxy.restore()
        assert poll(lambda: len(cluster.supervisor.ready_instances()) == 3, 10)
        restarts = cluster.supervisor.restarts
        if restarted:
            assert set(restarts) == {"A", "B", "C"}
        else:
            assert cluster.supervisor.total_restarts() == 0
            kinds = {event.what for event in cluster.supervisor.events}
            assert {"unready", "ready"} <= kinds
        assert requests.get(cluster.url + "/readyz", timeout=5).status_code == 200


def test_the_supervisor_restarts_a_killed_instance_but_not_a_terminated_one() -> None:
    with ProcessCluster("stateless", 2, probes=PROBES, drain_seconds=0.2) as cluster:
        assert poll(lambda: len(cluster.supervisor.ready_instances()) == 2, 5)
        old = cluster.pid("A")
        cluster.kill("A")
        assert poll(lambda: cluster.supervisor.restarts["A"] == 1, 5)
        assert poll(lambda: cluster.supervisor.is_ready("A"), 10)
        assert cluster.pid("A") not in (None, old)  # a new process: disposable
        cluster.terminate("B")
        assert cluster.wait("B", timeout=15) == 0
        assert poll(lambda: not cluster.supervisor.is_ready("B"), 5)
        time.sleep(1.0)
        assert cluster.supervisor.restarts["B"] == 0 and not cluster.is_alive("B")


def test_scaling_both_ways_keeps_serving_the_same_user() -> None:
    with ProcessCluster("stateless", 1, balancer="python") as cluster:
        session = logged_in(cluster.url)
        session.post(cluster.url + "/cart/items", json={"sku": "tea", "qty": 2}, timeout=5)
        for replicas in (3, 2):
            assert cluster.scale(replicas) == ["A", "B", "C"][:replicas]
            served = set()
            for _ in range(replicas * 2):
                answer = session.get(cluster.url + "/cart", timeout=5)
                assert answer.status_code == 200 and answer.json()["items"] == {"tea": 2}
                served.add(answer.headers["X-Instance"])
            assert served == set(cluster.instance_ids)
        with pytest.raises(ValueError, match="replicas"):
            cluster.scale(0)
