"""Lesson 09 exercise: move a job's status out of the process.

The learner writes a module in the notebook (``%%writefile my_jobs.py``) with the two functions
the jobs app and its workers call (``labs/jobs/status.py`` is the interface)::

    def save_status(store, key, status, result=None) -> None
    def load_status(store, key) -> dict | None     # {"status": ..., "result": ...}

The starter keeps the records in a dict of its process, so the instance that accepted a job,
the worker that ran it and the instance a client asks next each see a different dict. The check
first runs the module as separate processes would (each role loads a private copy of it, one
fakeredis shared between them), so every property below is tested deterministically:

* a record saved by one process is read by another (queued, running, done), and once the worker
  saved "done" every process reads "done", also the one that saved "queued" (a copy kept in a
  process goes stale);
* the result comes back as the same JSON value, type for type (nested, unicode, floats, None,
  booleans), also when it is falsy (0, [], False, ...: a result, not "no result");
* a job nobody saved is ``None`` (the app answers 404), and two jobs keep their own records;
* status and result change together: the check reads the record after each store call of a
  change (``labs.interleaving.AfterCommand``, one gap at a time) and must see the record before
  it or after it, never half of it (no "done" before its result, no record gone mid-change);
* the record is in Redis (not in a file on this machine's disk), and it expires, in 10 minutes
  at the least (a client must find its job when it polls) and a week at the most (job records
  must not pile up forever).

Then, if all of that holds, it runs a real cluster with the learner's module in every process:
2 gunicorn instances of the jobs app and 2 worker processes (``python -m labs.jobs.worker``). A
job is accepted by instance A, which is killed at once; the worker that takes it is killed in the
middle of it; instance B must still report it, and report it done with its result once the other
worker has picked it up again (visibility timeout 0.5 s).
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType
from typing import Any

import fakeredis
import requests

from labs.apps.users import login_body
from labs.checking import CheckReport
from labs.cluster import ClusterError, ProcessCluster
from labs.cluster.clients import poll
from labs.cluster.workers import WorkerError
from labs.interleaving import AfterCommand, each_gap
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
FALSY_RESULTS = (0, 0.0, False, "", [], {})  # results all the same, none of them "no result"
MIN_TTL_SECONDS = 600  # a client polls a queued job or a result within minutes, not seconds
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
    "stale": (
        "Once the worker saved 'done', every process must read 'done': a copy of the record kept "
        "in a process's memory goes stale when another process changes the record, and the "
        "clients that process answers see the old status forever. Read Redis every time.",
        "no dict in the module: load_status returns what store.get / store.hgetall returns now",
    ),
    "result": (
        "A job's result must come back as the same JSON value that was saved (a dict stays a "
        "dict, 128.5 stays a float, None stays None): Redis stores strings, so encode it.",
        "save json.dumps(result) and return json.loads(...) of it",
    ),
    "falsy": (
        "A result of 0, [] or False is a result (a job that found nothing found 0), not 'no "
        "result': test for None, not for truth, or it comes back as None.",
        "always json.dumps(result) (None becomes 'null') and always json.loads it: no "
        "'if result' on either side",
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
        "A reader looked between two of your store calls and saw half a change (say 'done' with "
        "no result yet, or no record at all): a client polling the job would take that as the "
        "answer. Write the status and the result in one step.",
        "one HSET with both fields (mapping=...), or both writes in one "
        "store.pipeline(transaction=True) ... .execute()",
    ),
    "expire": (
        "A record that never expires stays in Redis forever, one per job ever run. Give every "
        "record a TTL (a day is plenty for a client to read its result).",
        "in the same transaction: store.pipeline().hset(key, mapping=...).expire(key, 86400)"
        ".execute()",
    ),
    "short": (
        "A record that expires within minutes is gone before a client asks: a job still waiting "
        "in the queue, or a result nobody has fetched yet, then answers 404 (unknown job). Keep "
        "records at least 10 minutes (a day is plenty).",
        "px= counts milliseconds and ex= seconds: px=86400 is 86 s, ex=86400 is a day",
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


def _same(seen: Any, saved: Any) -> bool:
    """Whether ``seen`` is the JSON value ``saved``, type for type: ``==`` alone takes True
    for 1, 64.0 for 64 and 0 for False."""
    if type(seen) is not type(saved):
        return False
    if isinstance(saved, dict):
        return seen.keys() == saved.keys() and all(_same(seen[k], saved[k]) for k in saved)
    if isinstance(saved, list):
        return len(seen) == len(saved) and all(map(_same, seen, saved))
    return bool(seen == saved)


def _retyped(seen: Any, saved: Any, where: str = "") -> str:
    """Where ``seen`` equals ``saved`` by ``==`` but a value changed type, in words; else ''."""
    if isinstance(saved, dict) and isinstance(seen, dict) and seen.keys() == saved.keys():
        found = (_retyped(seen[k], saved[k], f"{where}[{k!r}]") for k in saved)
        return next(filter(None, found), "")
    if isinstance(saved, list) and isinstance(seen, list) and len(seen) == len(saved):
        found = (_retyped(seen[i], b, f"{where}[{i}]") for i, b in enumerate(saved))
        return next(filter(None, found), "")
    if type(seen) is not type(saved) and seen == saved:
        return (
            f"result{where} was saved as {saved!r} ({type(saved).__name__}), "
            f"loads as {seen!r} ({type(seen).__name__})"
        )
    return ""


def _is_record(seen: Any, status: str, result: Any) -> bool:
    return (
        isinstance(seen, dict)
        and seen.get("status") == status
        and _same(seen.get("result"), result)
    )


def _check_in_process(report: CheckReport, roles: _Roles) -> bool:
    """The deterministic properties, with the module as three processes would have it."""
    began = time.monotonic()
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
    if isinstance(seen, dict) and seen.get("status") == "done":
        report.expect(
            _same(seen.get("result"), RESULT),
            f"the worker saves 'done' with a result; B loads result {_shown(seen.get('result'))}"
            + (f": {retyped}" if (retyped := _retyped(seen.get("result"), RESULT)) else ""),
            *HINTS["result"],
        )
    else:
        older = isinstance(seen, dict) and seen.get("status") in ("queued", "running")
        report.expect(
            False,
            f"the worker saves 'done'; B loads {_shown(seen)}",
            *HINTS["stale" if older else "shared"],
        )
    _check_everywhere(report, roles, key, seen)
    _check_falsy(report, roles)
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
    _check_expiry(report, roles, time.monotonic() - began)
    return report.passed


def _check_everywhere(report: CheckReport, roles: _Roles, key: str, in_b: Any) -> None:
    """Once the worker saved 'done', A (which saved 'queued') and the worker read what B read:
    a copy of the record kept in a process is stale there, and its clients see 'queued' forever."""
    for role, story in (("A", "A (which saved 'queued')"), ("worker", "the worker")):
        seen = roles.load(role, key)
        if not _same(seen, in_b):
            report.expect(
                False,
                f"after the worker saves 'done', {story} loads {_shown(seen, 60)}"
                + ("" if _is_record(in_b, "done", RESULT) else f", B {_shown(in_b, 60)}"),
                *HINTS["stale"],
            )
            return
    report.expect(True, "after the worker saves 'done', A and the worker load what B loads")


def _check_falsy(report: CheckReport, roles: _Roles) -> None:
    """0, 0.0, False, '', [] and {} are results: each comes back as itself, not as None."""
    key = "job:check-falsy"
    for result in FALSY_RESULTS:
        roles.save("worker", key, "done", result)
        seen = roles.load("B", key)
        if not _is_record(seen, "done", result):
            report.expect(
                False,
                f"the worker saves 'done' with result {result!r}; B loads {_shown(seen)}",
                *HINTS["falsy"],
            )
            return
    report.expect(True, "a falsy result (0, 0.0, False, '', [], {}) comes back as itself")


def _check_atomic(report: CheckReport, roles: _Roles) -> None:
    """A reader after each store call of saving 'done' (one gap per run, ``each_gap``) sees
    the record before the change or after it, never half of it."""
    key = "job:check-atomic"
    torn: list[Any] = []

    def race(n: int) -> tuple[bool, bool]:
        roles.save("worker", key, "running")
        before = roles.load("B", key)
        seen: list[Any] = []
        watched = AfterCommand(roles.store(), nth=n)
        watched.arm(lambda: seen.append(roles.load("B", key)))
        roles.save("worker", key, "done", RESULT, store=watched)
        after = roles.load("B", key)
        torn[:] = [r for r in seen if not (_same(r, before) or _same(r, after))]
        return not torn, watched.fired

    each_gap(race)
    report.expect(
        not torn,
        "a reader between any two store calls of saving 'done' sees the record before or "
        "after, never half of it" + (f" (saw {_shown(torn[0])})" if torn else ""),
        *HINTS["atomic"],
    )


def _check_expiry(report: CheckReport, roles: _Roles, elapsed: float) -> None:
    """Every record expires, in ``MIN_TTL_SECONDS`` at the least (counted from when the check
    began: its own calls take some of it) and ``MAX_TTL_SECONDS`` at the most."""
    store = roles.store()
    pttls = {key: store.pttl(key) for key in store.keys("*")}  # -1: no TTL, -2: gone already
    ttls = {key: max(pttl, 0) / 1000 for key, pttl in pttls.items()}
    forever = [key for key, pttl in pttls.items() if pttl == -1]
    too_short = [key for key, ttl in ttls.items() if ttl < MIN_TTL_SECONDS - elapsed - 1]
    too_long = [key for key, ttl in ttls.items() if ttl > MAX_TTL_SECONDS]
    detail, hint = "", HINTS["expire"]
    if forever:
        detail = f" ({forever[0]} never expires)"
    elif too_short:
        detail = f" ({too_short[0]} expires after {ttls[too_short[0]]:.0f} s)"
        hint = HINTS["short"]
    elif too_long:
        detail = f" ({too_long[0]} lives {ttls[too_long[0]] // 86400:.0f} days)"
    report.expect(
        not detail,
        f"every record expires, in 10 minutes at the least and a week at the most{detail}",
        *hint,
    )


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
