"""Lesson 09's jobs: the kinds, the status record, the Redis Streams queue (leases, redelivery,
giving up), the worker, the jobs app in both designs, and real worker processes killed and
stopped. Runs on fakeredis, and on the real server of ``REDIS_URL`` in CI's second pass."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from lab_stores import SECRETS, fresh_store

from labs.apps import jobs_app
from labs.apps.users import demo_password
from labs.cluster import ProcessCluster
from labs.cluster.process import free_port, group_pids
from labs.cluster.workers import MAX_WORKERS, WorkerError
from labs.jobs import status
from labs.jobs.kinds import MAX_SLEEP_SECONDS, InvalidJob, check_job
from labs.jobs.queue import JobQueue, is_job_id, new_job_id
from labs.jobs.worker import Worker
from labs.redis_store import connect

PREFIX = "test-jobs:"


@pytest.fixture
def store() -> redis.Redis:
    return fresh_store()


def worker(store: redis.Redis, name: str = "w1", **settings) -> Worker:
    return Worker(JobQueue(store, PREFIX), name, log=lambda line: None, **settings)


# --- kinds and the status record -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("echo", {"a": [1, 2], "b": "ü"}),
        ("echo", None),
        ("sleep", {"seconds": 0}),
        ("sleep", {"seconds": 2.5}),
        ("sleep", {"seconds": MAX_SLEEP_SECONDS}),
    ],
)
def test_jobs_that_can_run_are_accepted(kind: str, params: object) -> None:
    assert check_job(kind, params) == (kind, params or {})


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("resize", {}),
        (None, {}),
        (["echo"], {}),
        ("echo", [1, 2]),
        ("echo", "text"),
        ("echo", {"blob": "x" * 5000}),
        ("sleep", {}),
        ("sleep", {"seconds": -1}),
        ("sleep", {"seconds": MAX_SLEEP_SECONDS + 0.5}),
        ("sleep", {"seconds": True}),
        ("sleep", {"seconds": "1"}),
        ("sleep", {"seconds": math.inf}),
        ("sleep", {"seconds": math.nan}),
    ],
)
def test_jobs_that_cannot_run_are_refused_with_a_reason(kind: object, params: object) -> None:
    with pytest.raises(InvalidJob, match="'"):
        check_job(kind, params)


def test_a_status_record_round_trips_and_expires(store: redis.Redis) -> None:
    key = PREFIX + "job:one"
    assert status.load_status(store, key) is None
    status.save_status(store, key, "queued")
    assert status.load_status(store, key) == {"status": "queued", "result": None}
    status.save_status(store, key, "done", {"n": [1, 2.5, None]})
    assert status.load_status(store, key) == {"status": "done", "result": {"n": [1, 2.5, None]}}
    assert 0 < store.ttl(key) <= status.TTL_SECONDS


def test_a_status_module_is_the_course_one_or_a_checked_module_path() -> None:
    assert status.status_module(None) is status
    assert status.status_module("labs.solutions.ex09_job_status").load_status
    with pytest.raises(ValueError, match="no function save_status"):
        status.status_module("labs.jobs.kinds")
    with pytest.raises(ImportError):
        status.status_module("no_such_status_module")


def test_job_ids_are_random_and_checked_by_shape() -> None:
    ids = {new_job_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_job_id(job_id) for job_id in ids)
    for bad in ["", "x" * 15, "x" * 17, "abc/def/ghijklmn", "../../etc/passwd", "é" * 16]:
        assert not is_job_id(bad)


# --- the queue: at least once, leases, redelivery, giving up -----------------------------------


def test_a_job_goes_to_one_worker_and_ends_with_its_ack(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    job_id = jobs.enqueue("echo", {"x": 1})
    assert jobs.lookup(job_id) == {"status": "queued", "result": None}
    first = jobs.claim("w1", visibility=30)
    assert first is not None and (first.job_id, first.kind, first.attempt) == (job_id, "echo", 1)
    assert jobs.claim("w2", visibility=30) is None  # handed to w1, to nobody else
    assert jobs.pending() == {first.entry_id: "w1"}
    jobs.ack(first)
    assert jobs.pending() == {} and store.xlen(jobs.stream) == 0


def test_a_job_whose_lease_lapses_is_redelivered_and_counted(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    job_id = jobs.enqueue("echo", {})
    jobs.claim("w1", visibility=0.05)  # w1 takes it, then dies: no renewal, no ack
    assert jobs.claim("w2", visibility=0.05) is None  # too early: w1 may still be working
    time.sleep(0.1)
    again = jobs.claim("w2", visibility=0.05)
    assert again is not None and (again.job_id, again.attempt) == (job_id, 2)
    assert list(jobs.pending().values()) == ["w2"]


def test_a_renewed_lease_keeps_the_job_with_its_worker(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    jobs.enqueue("echo", {})
    held = jobs.claim("w1", visibility=0.15)
    for _ in range(4):  # 0.2 s in all, longer than the lease, renewed every 0.05 s
        time.sleep(0.05)
        jobs.renew(held, "w1")
        assert jobs.claim("w2", visibility=0.15) is None


def test_the_worker_runs_a_job_and_records_what_happened(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    job_id = jobs.enqueue("echo", {"hello": "world"})
    assert worker(store).run_once()
    assert jobs.lookup(job_id) == {"status": "done", "result": {"hello": "world"}}
    assert jobs.history(job_id) == ["w1 started", "w1 done"]
    assert jobs.pending() == {} and not worker(store).run_once()


def test_a_job_that_raises_is_failed_not_a_dead_worker(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labs.jobs import worker as worker_module

    def broken(kind: str, params: dict) -> object:
        raise OSError("disk full")

    monkeypatch.setattr(worker_module, "run_job", broken)
    jobs = JobQueue(store, PREFIX)
    job_id = jobs.enqueue("echo", {})
    assert worker(store).run_once()
    assert jobs.lookup(job_id) == {"status": "failed", "result": "OSError: disk full"}
    assert jobs.pending() == {}


def test_a_job_delivered_too_often_is_given_up_and_kept_for_a_human(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    job_id = jobs.enqueue("echo", {})
    for name in ("w1", "w2"):  # two workers take it and die
        assert jobs.claim(name, visibility=0.05) is not None
        time.sleep(0.08)
    assert worker(store, "w3", visibility=0.05, max_attempts=2).run_once()  # the third delivery
    assert jobs.lookup(job_id) == {"status": "failed", "result": "gave up after 2 attempts"}
    assert jobs.history(job_id) == ["w3 gave up"]
    [(_, dead)] = store.xrange(jobs.dead_letters)
    assert dead["job_id"] == job_id and jobs.pending() == {}


def test_a_worker_renews_its_lease_while_a_long_job_runs(store: redis.Redis) -> None:
    jobs = JobQueue(store, PREFIX)
    # The job runs 2.5 leases long; renewals come every third of a lease, so a renewal would
    # have to be two thirds of a lease (0.4 s) late for w2 to take the job.
    job_id = jobs.enqueue("sleep", {"seconds": 1.5})
    busy = worker(store, "w1", visibility=0.6)
    thread = threading.Thread(target=busy.run_once)
    thread.start()
    # w2 starts asking once w1 holds the job: before that, w2 could simply be first to read it
    # (what failed twice against a real redis-server, where a read is quicker than a thread start).
    deadline = time.monotonic() + 5
    while list(jobs.pending().values()) != ["w1"] and time.monotonic() < deadline:
        time.sleep(0.005)
    assert list(jobs.pending().values()) == ["w1"]
    stolen = []
    while thread.is_alive():  # another worker keeps asking: the job is never free
        stolen.append(jobs.claim("w2", visibility=0.6))
        time.sleep(0.03)
    thread.join()
    assert not any(stolen)
    assert jobs.history(job_id) == ["w1 started", "w1 done"]


def test_a_worker_waits_out_a_redis_it_cannot_reach() -> None:
    lines: list[str] = []
    unreachable = redis.Redis.from_url(
        nobody_listens(), decode_responses=True, socket_connect_timeout=0.2
    )
    lonely = Worker(JobQueue(unreachable, PREFIX), "w1", log=lines.append)
    thread = threading.Thread(target=lonely.run_forever)
    thread.start()
    time.sleep(0.5)
    lonely.stopping.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(lines) == 1 and "cannot reach Redis" in lines[0]  # said once, not every retry


def nobody_listens() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize(
    "settings",
    [{"visibility": 0}, {"visibility": -1}, {"max_attempts": 0}, {"ack_delay": 61}],
)
def test_worker_settings_out_of_range_are_refused(store: redis.Redis, settings: dict) -> None:
    with pytest.raises(ValueError, match="must be from"):
        worker(store, **settings)


# --- the app -----------------------------------------------------------------------------------


def app(store: redis.Redis, state: str, instance: str = "A", **config):
    return jobs_app.create_app(
        instance, redis=store, config={**SECRETS, "STATE": state, "KEY_PREFIX": PREFIX, **config}
    )


def logged_in(flask_app):
    client = flask_app.test_client()
    answer = client.post("/login", json={"username": "alice", "password": demo_password("alice")})
    assert answer.status_code == 200
    return client


def wait_for(client, job_id: str, wanted: str) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = client.get(f"/jobs/{job_id}").get_json()
        if answer.get("status") == wanted:
            return answer
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never became {wanted}: {answer}")


@pytest.mark.parametrize("state", jobs_app.STATES)
def test_a_job_is_accepted_with_202_and_a_location(store: redis.Redis, state: str) -> None:
    client = logged_in(app(store, state))
    answer = client.post("/jobs", json={"kind": "echo", "params": {"n": 1}})
    assert answer.status_code == 202 and answer.headers["X-Instance"] == "A"
    job_id = answer.get_json()["job_id"]
    assert answer.headers["Location"] == f"/jobs/{job_id}" and is_job_id(job_id)
    assert client.get(f"/jobs/{job_id}").get_json()["status"] in ("queued", "running", "done")


@pytest.mark.parametrize("state", jobs_app.STATES)
@pytest.mark.parametrize(
    ("body", "status_code"),
    [
        ({"kind": "resize"}, 400),
        ({"params": {}}, 400),
        ({"kind": "echo", "params": [1]}, 400),
        ({"kind": "sleep", "params": {"seconds": 11}}, 400),
        ({"kind": "sleep", "params": {"seconds": "1"}}, 400),
        ({"kind": "echo", "params": {"x": "y" * 20_000}}, 413),
    ],
)
def test_bad_jobs_are_4xx_json_and_store_nothing(
    store: redis.Redis, state: str, body: dict, status_code: int
) -> None:
    flask_app = app(store, state)
    client = logged_in(flask_app)
    before = sorted(store.keys(PREFIX + "*"))
    answer = client.post("/jobs", json=body)
    assert answer.status_code == status_code and "error" in answer.get_json()
    assert sorted(store.keys(PREFIX + "*")) == before
    if state == "memory":
        assert flask_app.extensions[jobs_app.EXTENSION].status == {}


@pytest.mark.parametrize("state", jobs_app.STATES)
def test_jobs_need_a_login_and_unknown_ids_are_404(store: redis.Redis, state: str) -> None:
    client = app(store, state).test_client()
    assert client.post("/jobs", json={"kind": "echo"}).status_code == 401
    for job_id in (new_job_id(), "short", "../../x", "a" * 300):
        answer = client.get(f"/jobs/{job_id}")
        assert answer.status_code == 404 and "error" in answer.get_json()


def test_in_memory_a_job_runs_in_the_instance_and_no_other_knows_it(store: redis.Redis) -> None:
    a = logged_in(app(store, "memory", "A"))
    b = logged_in(app(store, "memory", "B"))
    job_id = a.post("/jobs", json={"kind": "echo", "params": {"n": 2}}).get_json()["job_id"]
    assert wait_for(a, job_id, "done")["result"] == {"n": 2}
    assert b.get(f"/jobs/{job_id}").status_code == 404
    assert store.keys(PREFIX + "*") == []  # nothing of it reached the shared store


def test_shared_any_instance_reports_the_job_a_worker_ran(store: redis.Redis) -> None:
    a = logged_in(app(store, "shared", "A"))
    b = logged_in(app(store, "shared", "B"))
    job_id = a.post("/jobs", json={"kind": "echo", "params": {"n": 3}}).get_json()["job_id"]
    assert b.get(f"/jobs/{job_id}").get_json() == {
        "job_id": job_id,
        "status": "queued",
        "result": None,
    }
    assert worker(store).run_once()
    assert b.get(f"/jobs/{job_id}").get_json()["result"] == {"n": 3}


def test_the_app_uses_the_status_module_it_is_given(store: redis.Redis) -> None:
    client = logged_in(app(store, "shared", JOB_STATUS="labs.solutions.ex09_job_status"))
    job_id = client.post("/jobs", json={"kind": "echo"}).get_json()["job_id"]
    assert store.type(f"{PREFIX}job:{job_id}") == "string"  # the solution's JSON, not a hash


@pytest.mark.parametrize(
    ("config", "message"),
    [({"STATE": "disk"}, "STATE must be one of"), ({"JOB_STATUS": "labs.jobs.kinds"}, "no func")],
)
def test_bad_settings_stop_the_app_at_start(store: redis.Redis, config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jobs_app.create_app("A", redis=store, config={**SECRETS, **config})


def test_the_factory_does_not_contact_redis() -> None:
    unreachable = redis.Redis.from_url(
        nobody_listens(), decode_responses=True, socket_connect_timeout=0.2
    )
    client = jobs_app.create_app("A", redis=unreachable, config=SECRETS).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get(f"/jobs/{new_job_id()}").status_code == 503


# --- real worker processes ---------------------------------------------------------------------


def submit(cluster: ProcessCluster, seconds: float) -> tuple[object, str]:
    import requests

    session = requests.Session()
    base = cluster.instance_urls[0]
    session.post(base + "/login", json={"username": "bob", "password": demo_password("bob")})
    answer = session.post(base + "/jobs", json={"kind": "sleep", "params": {"seconds": seconds}})
    assert answer.status_code == 202
    return session, answer.json()["job_id"]


def poll(check, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_sigterm_lets_a_worker_finish_its_job_then_exit_0() -> None:
    with ProcessCluster("jobs", instances=1, balancer="python", workers=1) as cluster:
        session, job_id = submit(cluster, 0.5)
        base = cluster.instance_urls[0]
        poll(lambda: session.get(f"{base}/jobs/{job_id}").json()["status"] == "running")
        assert cluster.workers.terminate("w1") == 0
        assert session.get(f"{base}/jobs/{job_id}").json()["status"] == "done"
        with connect(cluster.redis_url) as store:
            assert JobQueue(store, cluster.key_prefix).history(job_id) == ["w1 started", "w1 done"]


def test_killed_workers_leave_no_process_and_a_restart_serves_again() -> None:
    with ProcessCluster("jobs", instances=1, balancer="python", workers=2) as cluster:
        pids = [cluster.workers.pid(name) for name in cluster.workers.names]
        assert cluster.workers.kill(0) == -signal.SIGKILL
        assert group_pids(pids[0]) == [] and not cluster.workers.is_alive("w1")
        with pytest.raises(RuntimeError, match="not running"):
            cluster.workers.kill("w1")
        cluster.workers.restart("w1")
        assert cluster.workers.is_alive("w1") and cluster.workers.pid("w1") != pids[0]
        with pytest.raises(ValueError, match="no worker"):
            cluster.workers.kill("w9")
        pids = [cluster.workers.pid(name) for name in cluster.workers.names]
    assert all(group_pids(pid) == [] for pid in pids)


def test_a_worker_that_cannot_start_says_why() -> None:
    with pytest.raises(WorkerError, match="VISIBILITY_TIMEOUT must be a number"):
        ProcessCluster(
            "jobs", instances=1, balancer="python", workers=1, env={"VISIBILITY_TIMEOUT": "soon"}
        ).start()


def test_a_cluster_takes_at_most_max_workers() -> None:
    with pytest.raises(ValueError, match="workers must be from 0"):
        ProcessCluster("jobs", workers=MAX_WORKERS + 1)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="a shared Redis outlives a cluster")
def test_a_cluster_leaves_no_key_behind_in_a_shared_redis() -> None:
    with ProcessCluster("jobs", instances=1, balancer="python", workers=1) as cluster:
        prefix = cluster.key_prefix
        session, job_id = submit(cluster, 0)
        base = cluster.instance_urls[0]
        poll(lambda: session.get(f"{base}/jobs/{job_id}").json()["status"] == "done")
        with connect(cluster.redis_url) as store:
            assert store.keys(prefix + "*")
    with connect(os.environ["REDIS_URL"]) as store:
        assert store.keys(prefix + "*") == []


def test_the_work_dir_holds_the_workers_logs_and_goes_with_the_cluster() -> None:
    with ProcessCluster("jobs", instances=1, balancer="python", workers=1) as cluster:
        workdir = Path(cluster.workdir)
        assert "worker w1 ready" in (workdir / "worker-w1.log").read_text()
    assert not workdir.exists()
