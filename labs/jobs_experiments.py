"""Lesson 09's jobs experiments: a job queued in the instance, then in a broker, under kills.

Each function starts a real cluster (``ProcessCluster("jobs", ...)``: gunicorn instances, and
for the broker, worker processes), plays one story, stops everything, and returns what it saw::

    run = jobs_in_the_instance()       # queue.Queue + a thread in instance A
    print(run.verdict())               # B: 404 unknown; after kill -9 of A: 404, the job is lost
    run = jobs_through_a_broker()      # Redis Stream + 2 worker processes
    print(run.verdict())               # worker killed mid-job: redelivered, done once
    run = jobs_through_a_broker(kill_after_done=True)
    print(run.verdict())               # killed after the work, before the ack: done twice

Which worker takes a job first is up to Redis and the scheduler, so ``verdict()`` names roles
("the worker holding it"), and ``counts()`` the exact names and timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from labs.cluster import ProcessCluster
from labs.cluster.clients import logged_in, wait_until
from labs.jobs.queue import JobQueue
from labs.redis_store import connect

USER = "alice"
SLEEP_SECONDS = 0.5  # the job's work: long enough to be killed in the middle of
VISIBILITY_SECONDS = 0.5  # a dead worker's job is redelivered this long after its last renewal
ACK_DELAY_SECONDS = 0.5  # the kill_after_done story: the gap between "done" and the ack
WAIT_SECONDS = 15.0  # every wait in here is bounded by this


class JobsExperimentError(RuntimeError):
    """The experiment could not run as designed (an answer never came)."""


def _submit(session: requests.Session, base: str, seconds: float) -> tuple[int, str]:
    """``POST /jobs`` of a sleep job on ``base``: its status code and job id."""
    answer = session.post(
        base + "/jobs", json={"kind": "sleep", "params": {"seconds": seconds}}, timeout=5
    )
    if answer.status_code != 202:
        raise JobsExperimentError(f"POST /jobs refused: {answer.status_code} {answer.text[:200]}")
    return answer.status_code, answer.json()["job_id"]


def _login(base: str) -> requests.Session:
    return logged_in(base, USER, JobsExperimentError)


def _status(session: requests.Session, base: str, job_id: str) -> tuple[int, str | None]:
    answer = session.get(f"{base}/jobs/{job_id}", timeout=5)
    return answer.status_code, answer.json().get("status") if answer.ok else None


def _until(check: Callable[[], object], what: str) -> float:
    return wait_until(check, what, WAIT_SECONDS, JobsExperimentError)


@dataclass(frozen=True)
class InstanceJobsRun:
    """A job queued in instance A's own memory (``STATE="memory"``)."""

    accepted: int  # POST /jobs on A
    on_b: int  # GET /jobs/<id> on B
    on_a_before: str  # its status on A before the kill
    on_a_after_restart: int  # GET on A once it restarted after kill -9

    @property
    def lost(self) -> bool:
        return self.on_a_after_restart == 404

    def verdict(self) -> str:
        return "\n".join(
            [
                f"POST /jobs on A: {self.accepted}; A says: {self.on_a_before}",
                f"GET /jobs/<id> on B: {self.on_b} (B never heard of it)",
                f"kill -9 A, restart it, GET on A: {self.on_a_after_restart}"
                + (" (the job is lost)" if self.lost else ""),
            ]
        )


def jobs_in_the_instance() -> InstanceJobsRun:
    """The anti-pattern: the job sits in A's queue and thread; B cannot see it, a kill loses it."""
    with ProcessCluster("jobs", instances=2, balancer="python", env={"STATE": "memory"}) as c:
        a, b = c.instance_urls
        session = _login(a)  # the session is in Redis: B knows alice too
        accepted, job_id = _submit(session, a, 5)
        _until(lambda: _status(session, a, job_id)[1] == "running", "A to start the job")
        _, before = _status(session, a, job_id)
        on_b, _ = _status(session, b, job_id)
        c.kill(0)
        c.restart(0)
        after, _ = _status(session, a, job_id)
    return InstanceJobsRun(accepted, on_b, str(before), after)


@dataclass(frozen=True)
class BrokerJobsRun:
    """A job through the broker: queued by A, run by a worker that is killed."""

    kill_after_done: bool
    accepted: int
    on_b_while_running: str  # the job's status as B reports it, before any kill
    final_status: str
    result: object
    history: list[str]  # "w1 started", "w2 started", "w2 done"...
    killed_worker: str
    redelivered_after: float  # seconds from the kill to the next "started"

    @property
    def deliveries(self) -> int:
        return sum(event.endswith(" started") for event in self.history)

    @property
    def completions(self) -> int:
        """How many times the job's work was done: its effect, if it had one."""
        return sum(event.endswith(" done") for event in self.history)

    def verdict(self) -> str:
        when = "after the work, before the ack" if self.kill_after_done else "in the middle"
        lines = [
            f"POST /jobs on A: {self.accepted}; kill -9 A at once: A held nothing",
            f"GET /jobs/<id> on B: {self.on_b_while_running}",
            f"kill -9 the worker holding it, {when}",
            f"redelivered to the other worker: {'yes' if self.deliveries >= 2 else 'no'}, "
            f"{self.deliveries} deliveries",
            f"final status on B: {self.final_status}, result {self.result}",
            f"times the work was done: {self.completions}"
            + (" (at least once, not exactly once)" if self.completions > 1 else ""),
        ]
        return "\n".join(lines)

    def counts(self) -> str:
        return (
            f"history {self.history}; killed {self.killed_worker}; redelivered "
            f"{self.redelivered_after:.2f} s after the kill"
        )


def jobs_through_a_broker(kill_after_done: bool = False) -> BrokerJobsRun:
    """A job queued by A in a Redis Stream, run by one of two worker processes, which is killed
    mid-job (or, ``kill_after_done``, after saving "done" but before acknowledging)."""
    env = {"VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS)}
    if kill_after_done:
        env["WORKER_ACK_DELAY"] = str(ACK_DELAY_SECONDS)
    with ProcessCluster("jobs", instances=2, balancer="python", workers=2, env=env) as c:
        a, b = c.instance_urls
        session = _login(a)
        accepted, job_id = _submit(session, a, SLEEP_SECONDS)
        c.kill(0)  # the instance that accepted the job: it only wrote to Redis
        store = connect(c.redis_url)
        try:
            jobs = JobQueue(store, c.key_prefix)
            target = "done" if kill_after_done else "running"
            _until(lambda: _status(session, b, job_id)[1] == target, f"the job to be {target}")
            _, seen_on_b = _status(session, b, job_id)
            holders = list(jobs.pending().values())
            if len(holders) != 1:
                raise JobsExperimentError(f"expected one worker holding the job, saw {holders}")
            killed = holders[0]
            c.workers.kill(killed)
            killed_at = time.monotonic()
            started = len([e for e in jobs.history(job_id) if e.endswith(" started")])
            _until(
                lambda: len([e for e in jobs.history(job_id) if e.endswith(" started")]) > started,
                "the job to be redelivered",
            )
            redelivered = time.monotonic() - killed_at
            _until(lambda: not jobs.pending(), "the job to be acknowledged")
            final = session.get(f"{b}/jobs/{job_id}", timeout=5).json()
            history = jobs.history(job_id)
        finally:
            store.close()
    return BrokerJobsRun(
        kill_after_done,
        accepted,
        f"{seen_on_b} (any instance reads the record in Redis)",
        str(final.get("status")),
        final.get("result"),
        history,
        killed,
        redelivered,
    )
