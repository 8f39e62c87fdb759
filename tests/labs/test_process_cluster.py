"""The real multi-process cluster (labs.cluster.process): crashes, graceful stops, cleanup.

Every test starts real gunicorn processes behind a real balancer, with both balancers: the
Python one always, nginx when it is installed (CI installs it). The crash experiments send
their requests one at a time in a fixed order and kill between two requests, so the counts
asserted here do not depend on timing (see labs.experiments).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from labs.apps.users import demo_password
from labs.cluster.process import (
    ClusterError,
    ProcessCluster,
    find_nginx,
    group_pids,
    nginx_config,
    port_is_open,
    sweep_stale_workdirs,
)
from labs.experiments import run_crash_experiment

STATELESS = "stateless"
STATEFUL = "stateful"

BALANCERS = [
    "python",
    pytest.param(
        "nginx", marks=pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
    ),
]


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def everything_started(cluster: ProcessCluster) -> tuple[list[int], list[int]]:
    """Every process (gunicorn masters and workers, nginx) and every port of ``cluster``."""
    pids = [pid for group in cluster.process_ids().values() for pid in group]
    return pids, cluster.ports


def login(session: requests.Session, url: str, user: str = "alice") -> requests.Response:
    return session.post(
        url + "/login", json={"username": user, "password": demo_password(user)}, timeout=10
    )


# --- the "done when": a crash with real processes ------------------------------------


@pytest.mark.parametrize("balancer", BALANCERS)
def test_a_stateless_cluster_loses_no_user_when_an_instance_is_killed(balancer: str) -> None:
    result = run_crash_experiment(STATELESS, users=20, requests=200, kill_at=100, kill=1,
                                  policy="round_robin", balancer=balancer)  # fmt: skip

    assert result.balancer == balancer
    assert result.killed_instance == "B"
    assert result.users_logged_out == 0
    assert result.failed_requests == 0  # the balancer skipped the dead instance
    assert result.unauthorized_before_kill == result.unauthorized_after_kill == 0
    # Round robin: the 20 logins go A, B, C, A, ... (B: 7 users), and B answered every third
    # of the 100 requests before the kill, then nothing.
    assert result.logins_per_instance == {"A": 7, "B": 7, "C": 6}
    assert result.users_on_killed_instance == 7
    assert result.requests_per_instance["B"] == 33
    assert sum(result.requests_per_instance.values()) == 200


@pytest.mark.parametrize("balancer", BALANCERS)
def test_a_stateful_sticky_cluster_logs_out_exactly_the_killed_instances_users(
    balancer: str,
) -> None:
    result = run_crash_experiment(STATEFUL, users=20, requests=200, kill_at=100, kill=1,
                                  policy="sticky", balancer=balancer)  # fmt: skip

    # Before the crash, sticky routing kept every user on the instance holding their session.
    assert result.unauthorized_before_kill == 0
    assert result.requests_per_instance["B"] == 35  # B's 7 users x 5 requests each before the kill
    # After it, B's users were sent elsewhere, where nobody knows them: logged out. Nobody else.
    assert result.users_on_killed_instance == 7
    assert result.users_rerouted == 7
    assert result.users_logged_out == 7
    assert result.unauthorized_after_kill == 35  # their 5 requests each after the kill
    assert result.failed_requests == 0


# --- kill, terminate, restart ----------------------------------------------------------------


def test_kill_really_ends_the_instance_and_restart_brings_it_back() -> None:
    with ProcessCluster(STATELESS, instances=2, policy="sticky", balancer="python") as cluster:
        browser = requests.Session()
        requests.get(cluster.url + "/healthz", timeout=10)  # round robin: A; the login goes to B
        response = login(browser, cluster.url)
        assert response.status_code == 200
        assert response.headers["X-Instance"] == "B"
        cookies = response.raw.headers.getlist("Set-Cookie")  # the session's and the route's
        assert len(cookies) == 2
        assert "route=B; Path=/; HttpOnly; SameSite=Lax" in cookies

        b_pids = group_pids(cluster.pid("B"))
        assert len(b_pids) == 2  # gunicorn's master and its worker
        assert cluster.kill("B") == -9
        assert not any(pid_exists(pid) for pid in b_pids)
        assert not cluster.is_alive("B")
        assert not port_is_open(int(cluster.instance_urls[1].rsplit(":", 1)[1]))
        # The user pinned to B is sent to A, which finds the session in Redis: still logged in.
        answers = [browser.get(cluster.url + "/me", timeout=10) for _ in range(4)]
        assert [(r.status_code, r.headers["X-Instance"]) for r in answers] == [(200, "A")] * 4
        assert browser.cookies["route"] == "A"
        with pytest.raises(RuntimeError, match="not running"):
            cluster.kill("B")

        cluster.restart("B")
        assert requests.get(cluster.instance_urls[1] + "/healthz", timeout=10).status_code == 200
        # The balancer's readiness check puts B back in the pool (bounded wait, not a timing).
        deadline = time.monotonic() + 20
        seen = set()
        while "B" not in seen and time.monotonic() < deadline:
            seen.add(requests.get(cluster.url + "/healthz", timeout=10).headers["X-Instance"])
        assert "B" in seen
        browser.close()


@pytest.mark.parametrize("balancer", BALANCERS)
def test_sigterm_drains_then_exits_cleanly_without_failing_a_request(balancer: str) -> None:
    with ProcessCluster(STATELESS, instances=2, balancer=balancer, drain_seconds=2) as cluster:
        browser = requests.Session()
        assert login(browser, cluster.url).status_code == 200
        cookies = browser.cookies.get_dict()
        statuses: list[int | str] = []
        stop = threading.Event()

        def traffic() -> None:  # a user clicking away through the balancer the whole time
            while not stop.is_set():
                try:
                    statuses.append(browser.get(cluster.url + "/me", timeout=10).status_code)
                except requests.RequestException as exc:
                    statuses.append(type(exc).__name__)

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            b = cluster.instance_urls[1]
            cluster.terminate("B")
            deadline = time.monotonic() + 10
            while requests.get(b + "/readyz", timeout=10).status_code != 503:
                assert time.monotonic() < deadline, "B never reported draining"
            drain = requests.get(b + "/me", cookies=cookies, timeout=10)
            exit_code = cluster.wait("B", timeout=30)
        finally:
            stop.set()
            worker.join(timeout=30)
            browser.close()

    assert drain.status_code == 200  # still serving while draining
    assert drain.headers["X-Instance"] == "B"
    assert exit_code == 0  # a graceful exit
    assert statuses and set(statuses) == {200}  # no request failed during the whole deploy


# --- nothing left behind ---------------------------------------------------------------------


@pytest.mark.parametrize("balancer", BALANCERS)
def test_an_error_inside_the_with_block_still_stops_everything(balancer: str) -> None:
    with pytest.raises(ZeroDivisionError), ProcessCluster(STATELESS, balancer=balancer) as cluster:
        pids, ports = everything_started(cluster)
        workdir = cluster.workdir
        for which in range(3):
            cluster.kill(which)
        everyone_down = requests.get(cluster.url + "/me", timeout=10)
        raise ZeroDivisionError("a bug in the lesson's code")

    assert everyone_down.status_code == 502
    assert everyone_down.json() == {"error": "no instance is available"}
    expected = 3 * 2 + (balancer == "nginx")  # 3 x (master + worker), nginx
    assert len(pids) == expected
    assert not [pid for pid in pids if pid_exists(pid)]
    assert not [port for port in ports if port_is_open(port)]
    assert len(ports) == 4 + (os.environ.get("REDIS_URL") is None)  # + the embedded store
    assert workdir and not Path(workdir).exists()
    assert not [t for t in threading.enumerate() if t.name in ("balancer", "health")]


def test_stop_stops_everything_and_a_stopped_cluster_stays_stopped() -> None:
    cluster = ProcessCluster(STATELESS, instances=2, balancer="python").start()
    pids, ports = everything_started(cluster)
    assert all(port_is_open(port) for port in ports)
    cluster.stop()
    cluster.stop()  # twice is fine
    assert not [pid for pid in pids if pid_exists(pid)]
    assert not [port for port in ports if port_is_open(port)]
    with pytest.raises(RuntimeError, match="not running"):
        _ = cluster.url
    with pytest.raises(RuntimeError, match="stopped"):
        cluster.start()


def test_an_instance_that_cannot_start_is_reported_with_its_output() -> None:
    # The module imports (the cluster checks that first) but has no create_app for gunicorn.
    cluster = ProcessCluster("labs.apps.users", instances=1, balancer="python")
    with pytest.raises(ClusterError) as failure:
        cluster.start()
    message = str(failure.value)
    assert "instance A (labs.apps.users) exited" in message
    assert "create_app" in message  # gunicorn's own words, from stderr
    assert cluster.process_ids() == {}
    assert cluster.workdir is None  # deleted


@pytest.mark.parametrize("app", ["labs.no_such_app", "stateles"])
def test_an_unknown_app_is_refused_before_anything_starts(app: str) -> None:
    with pytest.raises(ValueError, match="stateful, stateless, jwt"):
        ProcessCluster(app, instances=1, balancer="python")


def test_bad_arguments_are_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="policy"):
        ProcessCluster(policy="random")
    with pytest.raises(ValueError, match="balancer"):
        ProcessCluster(balancer="haproxy")
    with pytest.raises(ValueError, match="instances"):
        ProcessCluster(instances=0)


@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
@pytest.mark.parametrize(
    ("policy", "retry"),
    [("round_robin", "idempotent"), ("sticky", "idempotent"), ("round_robin", "all"),
     ("sticky", "off")],
)  # fmt: skip
def test_the_generated_nginx_config_is_valid(policy: str, retry: str, tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    members = [("A", 8001), ("B", 8002)]
    config.write_text(nginx_config(members, 8000, policy, str(tmp_path), retry))
    error_log = tmp_path / "error.log"
    check = subprocess.run(
        [str(find_nginx()), "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(error_log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert ("$cookie_route" in config.read_text()) == (policy == "sticky")
    # The retry setting, in nginx's words: the Python balancer's RETRY values.
    next_upstream = {"idempotent": "error timeout;", "all": "error timeout non_idempotent;",
                     "off": "off;"}[retry]  # fmt: skip
    assert f"proxy_next_upstream {next_upstream}" in config.read_text()


def test_a_work_dir_whose_owner_died_is_swept_by_the_next_cluster(tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "sbd-cluster-stale"
    stale.mkdir()
    (stale / "owner.pid").write_text(str(dead.pid))
    (stale / "instance-0.log").write_text("the kernel that owned this was killed")
    mine = tmp_path / "sbd-cluster-mine"
    mine.mkdir()
    (mine / "owner.pid").write_text(str(os.getpid()))
    foreign = tmp_path / "sbd-cluster-unknown"
    foreign.mkdir()  # no owner recorded: left alone
    assert sweep_stale_workdirs(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and mine.exists() and foreign.exists()


def test_a_cluster_records_its_owner_in_its_work_dir() -> None:
    with ProcessCluster(STATELESS, instances=1, balancer="python") as cluster:
        assert Path(cluster.workdir, "owner.pid").read_text() == str(os.getpid())
