"""Lesson 09 exercise: move a job's status out of the process.

The learner writes a module in the notebook (``%%writefile my_jobs.py``) with the two functions
the jobs app and its workers call (``labs/jobs/status.py`` is the interface)::

    def save_status(store, key, status, result=None) -> None
    def load_status(store, key) -> dict | None     # {"status": ..., "result": ...}

The starter keeps the records in a dict of its process, so the instance that accepted a job,
the worker that ran it and the instance a client asks next each see a different dict. The check
first runs the module as separate processes would (each role loads a private copy of it, one
fakeredis shared between them), so every property below is tested deterministically:

* a record saved by one process is read by another (queued, running, done);
* the result comes back as the same JSON value (nested, unicode, floats, None, booleans);
* a job nobody saved is ``None`` (the app answers 404), and two jobs keep their own records;
* status and result change together: the check reads the record right after the first write
  of a change (``labs.interleaving.AfterWrite``), so "done" saved before its result is seen;
* the record is in Redis (not in a file on this machine's disk), and it expires (in a week or
  less: job records must not pile up forever).

Then, if all of that holds, it runs a real cluster with the learner's module in every process:
2 gunicorn instances of the jobs app and 2 worker processes (``python -m labs.jobs.worker``). A
job is accepted by instance A, which is killed at once; the worker that takes it is killed in the
middle of it; instance B must still report it, and report it done with its result once the other
worker has picked it up again (visibility timeout 0.5 s).
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

import fakeredis
import requests

from labs.apps.users import login_body
from labs.checking import CheckReport
from labs.cluster import ClusterError, ProcessCluster
from labs.cluster.clients import poll
from labs.cluster.workers import WorkerError
from labs.interleaving import AfterWrite
from labs.jobs.queue import JobQueue
from labs.learner_code import compile_file, error_line, fresh_copy, import_root, open_for_check
from labs.redis_store import connect

STARTER = '''\
# EXERCISE STARTER: job status kept in this process's memory. Make every process see it.
STATUS = {}  # job key -> {"status": ..., "result": ...}   <- state that lives in this process!


def save_status(store, key, status, result=None):
    """Record a job's status and result, for every instance and worker to read.

    store: the Redis client that every process shares (decode_responses=True: str in, str out);
    key: the job's record, e.g. "job:Xy3..."; status: "queued", "running", "done" or "failed";
    result: any JSON value (None until the job is done).
    """
    STATUS[key] = {"status": status, "result": result}


def load_status(store, key):
    """The job's {"status": ..., "result": ...}, or None if no process saved one."""
    return STATUS.get(key)
'''

TITLE = "Exercise 09 · Move the job status out of the process"
RESULT = {"caption": "crème brûlée", "sizes": [64, 128.5], "thumb": None, "ok": True, "x": {}}
MAX_TTL_SECONDS = 7 * 24 * 3600
GIVE_UP_SECONDS = 5.0  # a call of the learner's code still running then: reported, not awaited
JOB_SECONDS = 0.5  # the cluster phase's job: long enough to kill its worker in the middle
VISIBILITY_SECONDS = "0.5"
WAIT_SECONDS = 10.0
COURSE_MODULES = ("labs.jobs.status", "labs.solutions.ex09_job_status")  # answers, not yours
HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "module": (
        "The jobs app and its workers are separate processes, and each imports your functions "
        "from a module file: an object defined in the notebook lives only in the notebook's "
        "process.",
        "put %%writefile my_jobs.py on the first line of the cell, run it, then "
        "check_job_status('my_jobs')",
    ),
    "functions": (
        "The app and the workers call two functions: save_status(store, key, status, result) "
        "and load_status(store, key).",
        None,
    ),
    "own": (
        "The exercise is to write the two functions yourself: importing the course's module "
        "passes nothing but the import.",
        None,
    ),
    "shared": (
        "The instance that accepted the job, the worker that runs it and the instance you ask "
        "next are three processes: a dict in one of them is invisible to the others. Keep the "
        "record in Redis (the store argument), which they all share.",
        "one hash per job: store.hset(key, mapping={'status': status, 'result': "
        "json.dumps(result)}); load it with store.hgetall(key)",
    ),
    "redis": (
        "The record must live in the shared store (the store argument): a file on this "
        "machine's disk is not there for an instance on another machine, nor after a container "
        "restarts.",
        "store.hset(key, mapping=...) or store.set(key, json.dumps(...)), not open(...)",
    ),
    "result": (
        "A job's result must come back as the same JSON value that was saved (a dict stays a "
        "dict, 128.5 stays a float, None stays None): Redis stores strings, so encode it.",
        "save json.dumps(result) and return json.loads(...) of it",
    ),
    "unknown": (
        "A job that no process saved must load as None, so that the app answers 404 (unknown "
        "job) instead of inventing a status.",
        "record = store.hgetall(key); if not record: return None",
    ),
    "keys": (
        "Each job has its own record: the key argument names it. A record under one fixed "
        "name is one status for every job.",
        "use key itself as the Redis key",
    ),
    "atomic": (
        "A reader looked between your writes and saw 'done' with no result yet: a client "
        "polling the job would take that as the answer. Write the status and the result in "
        "one step.",
        "one HSET with both fields (mapping=...), or both writes in one "
        "store.pipeline(transaction=True) ... .execute()",
    ),
    "expire": (
        "A record that never expires stays in Redis forever, one per job ever run. Give every "
        "record a TTL (a day is plenty for a client to read its result).",
        "in the same transaction: store.pipeline().hset(key, mapping=...).expire(key, 86400)"
        ".execute()",
    ),
    "cluster": (
        "Your functions work when the check calls them, but not inside the real processes: "
        "read the worker's or the instance's last output below.",
        None,
    ),
}


class _Roles:
    """The learner's module loaded once per role (what separate processes would each have),
    all given clients of one fakeredis; every call is bounded by ``GIVE_UP_SECONDS``."""

    def __init__(self, name: str, path: str) -> None:
        code = compile_file(path)
        self.server = fakeredis.FakeServer()
        self.copies = {role: fresh_copy(name, path, code) for role in ("A", "worker", "B")}
        self.problems: list[str] = []

    def store(self) -> Any:
        return fakeredis.FakeRedis(server=self.server, decode_responses=True)

    def call(self, role: str, function: str, *args: Any) -> Any:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = getattr(self.copies[role], function)(*args)
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(GIVE_UP_SECONDS)
        if thread.is_alive():
            raise TimeoutError(f"{function}() had not returned after {GIVE_UP_SECONDS:g} s")
        if "error" in outcome:
            exc = outcome["error"]
            raise RuntimeError(
                f"{function}() raised {type(exc).__name__}: {exc} (line {error_line(exc)})"
            ) from None
        return outcome.get("value")

    def save(self, role: str, key: str, status: str, result: Any = None, store: Any = None) -> None:
        self.call(role, "save_status", store or self.store(), key, status, result)

    def load(self, role: str, key: str) -> Any:
        return self.call(role, "load_status", self.store(), key)


def _shown(record: Any, limit: int = 90) -> str:
    text = repr(record)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_in_process(report: CheckReport, roles: _Roles) -> bool:
    """The deterministic properties, with the module as three processes would have it."""
    key, other, fresh = "job:check-first", "job:check-second", "job:never-saved"
    roles.save("A", key, "queued")
    seen = roles.load("B", key)
    ok = report.expect(
        isinstance(seen, dict) and seen.get("status") == "queued",
        f"A saves 'queued', B loads {_shown(seen)}",
        *HINTS["shared"],
    )
    if not ok:
        return False
    report.expect(
        "result" in seen and seen["result"] is None,
        f"a queued job's result is None (got {_shown(seen.get('result'))})",
        *HINTS["result"],
    )
    report.expect(
        bool(roles.store().keys("*")),
        "the record is in Redis (the store every process shares)",
        *HINTS["redis"],
    )
    roles.save("worker", key, "running")
    roles.save("worker", key, "done", RESULT)
    seen = roles.load("B", key)
    if seen is not None and seen.get("status") == "done":
        report.expect(
            seen.get("result") == RESULT and type(seen.get("result")) is dict,
            f"the worker saves 'done' with a result; B loads result {_shown(seen.get('result'))}",
            *HINTS["result"],
        )
    else:
        report.expect(False, f"the worker saves 'done'; B loads {_shown(seen)}", *HINTS["shared"])
    roles.save("A", other, "queued")
    first, second = roles.load("B", key), roles.load("B", other)
    statuses = [(record or {}).get("status") for record in (first, second)]
    report.expect(
        statuses == ["done", "queued"],
        f"two jobs keep their own records: job 1 {statuses[0]}, job 2 {statuses[1]}",
        *HINTS["keys"],
    )
    seen = roles.load("B", fresh)
    report.expect(seen is None, f"a job nobody saved loads as {_shown(seen)}", *HINTS["unknown"])
    _check_atomic(report, roles)
    _check_expiry(report, roles)
    return report.passed


def _check_atomic(report: CheckReport, roles: _Roles) -> None:
    key = "job:check-atomic"
    roles.save("worker", key, "running")
    seen: list[Any] = []
    watched = AfterWrite(roles.store())
    watched.arm(lambda: seen.append(roles.load("B", key)))
    roles.save("worker", key, "done", RESULT, store=watched)
    torn = [r for r in seen if r and r.get("status") == "done" and r.get("result") != RESULT]
    report.expect(
        not torn,
        "a reader between the writes of 'done' never sees it without its result"
        + (f" (saw {_shown(torn[0])})" if torn else ""),
        *HINTS["atomic"],
    )


def _check_expiry(report: CheckReport, roles: _Roles) -> None:
    store = roles.store()
    ttls = {key: store.ttl(key) for key in store.keys("*")}
    forever = [key for key, ttl in ttls.items() if ttl < 0]
    too_long = [key for key, ttl in ttls.items() if ttl > MAX_TTL_SECONDS]
    detail = ""
    if forever:
        detail = f" ({forever[0]} never expires)"
    elif too_long:
        detail = f" ({too_long[0]} lives {ttls[too_long[0]] // 86400} days)"
    report.expect(not detail, f"every record expires, within a week{detail}", *HINTS["expire"])


def _status(base: str, job_id: str, session: requests.Session) -> dict[str, Any]:
    answer = session.get(f"{base}/jobs/{job_id}", timeout=5)
    return (
        answer.json()
        if answer.headers.get("Content-Type", "").startswith("application/json")
        else {}
    )


def _check_cluster(report: CheckReport, name: str, path: str) -> None:
    """Your module in 2 real instances and 2 real workers; A and a worker killed mid-job."""
    root = import_root(name, path)
    env = {
        "JOB_STATUS": name,
        "VISIBILITY_TIMEOUT": VISIBILITY_SECONDS,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    story = "2 instances and 2 workers, your module in each: "
    try:
        with ProcessCluster("jobs", instances=2, balancer="python", workers=2, env=env) as c:
            a, b = c.instance_urls
            session = requests.Session()
            session.post(
                a + "/login",
                json=login_body("alice"),
                timeout=5,
            )
            answer = session.post(
                a + "/jobs", json={"kind": "sleep", "params": {"seconds": JOB_SECONDS}}, timeout=5
            )
            if answer.status_code != 202:
                report.expect(
                    False,
                    f"{story}POST /jobs on A answered {answer.status_code}. A's last output:\n"
                    f"{c.log_tail(0, 6)}",
                    *HINTS["cluster"],
                )
                return
            job_id = answer.json()["job_id"]
            c.kill(0)
            with connect(c.redis_url) as store:
                jobs = JobQueue(store, c.key_prefix)
                running = poll(
                    lambda: _status(b, job_id, session).get("status") == "running", WAIT_SECONDS
                )
                holders = list(jobs.pending().values()) if running else []
                if not holders:
                    seen = _status(b, job_id, session)
                    report.expect(
                        False,
                        f"{story}A accepted a job and was killed; B never saw it running "
                        f"(B says {_shown(seen)}). A worker's last output:\n"
                        f"{c.workers.log_tail(0, 6)}",
                        *HINTS["cluster"],
                    )
                    return
                c.workers.kill(holders[0])
                done = poll(
                    lambda: _status(b, job_id, session).get("status") == "done", WAIT_SECONDS
                )
                seen = _status(b, job_id, session)
            report.expect(
                done and seen.get("result") == {"slept": JOB_SECONDS},
                f"{story}A accepted a job and was killed, its worker was killed mid-job; "
                f"B reports {_shown({k: seen.get(k) for k in ('status', 'result')})}",
                *HINTS["cluster"],
            )
    except (ClusterError, WorkerError) as exc:
        report.expect(False, f"{story}the cluster did not start: {exc}", *HINTS["cluster"])


def check_job_status(module_or_name: Any, *, hint: bool = False) -> CheckReport:
    """Check the job-status module ``module_or_name`` (``'my_jobs'``): first as separate
    processes would run it, then in a real cluster with a kill of an instance and of a worker."""
    report = CheckReport(TITLE, closer=hint)
    opened = open_for_check(
        report,
        module_or_name,
        "my_jobs",
        "the app's instances and workers",
        _Roles,
        HINTS["module"],
    )
    if opened is None:
        return report.show()
    name, path, roles = opened
    copy: ModuleType = roles.copies["A"]
    missing = [f for f in ("save_status", "load_status") if not callable(getattr(copy, f, None))]
    if missing:
        report.expect(False, f"{name} has a function {missing[0]}", *HINTS["functions"])
        return report.show()
    borrowed = {
        getattr(getattr(copy, f), "__module__", name) for f in ("save_status", "load_status")
    } & set(COURSE_MODULES)
    if borrowed and name not in COURSE_MODULES:
        report.expect(
            False,
            f"{name}'s functions are the course's own, imported from {sorted(borrowed)[0]}",
            *HINTS["own"],
        )
        return report.show()
    if report.attempt("the check", lambda: _check_in_process(report, roles), *HINTS["shared"]):
        report.attempt(
            "the cluster phase", lambda: _check_cluster(report, name, path), *HINTS["cluster"]
        )
    else:
        report.expect(
            False,
            "a real cluster (2 instances, 2 workers, a kill of each): not run until the "
            "checks above pass",
        )
    return report.show()
