"""Lesson 13, the capstone: make the shop stateless, and prove it under faults.

The learner copies the starter shop (``labs/apps/shop_app.py``: sessions, carts, quota counters,
uploads, jobs and payments all kept in the instance) to a module next to the notebook
(:func:`write_starter` writes ``my_shop.py``), moves every piece of state out of the instance,
and runs ``check_capstone("my_shop")``. The check is the audit (:mod:`labs.audit`): the module as
3 real gunicorn instances behind a balancer, with Redis, object storage and a job worker, broken
the way production breaks things (``kill -9``, a rolling restart, 8 duplicates at once, Redis cut
off), one ✓ or ✗ per property with what was seen. The same audit runs from a shell on any app
that follows COURSE_DESIGN §6/§6b: ``python -m labs.audit my_shop``.

An object defined in the notebook cannot be run by another process: the check says so, and how
to write the module instead (``labs.learner_code``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from labs.apps import APPS, shop_app
from labs.audit import audit
from labs.checking import CheckReport
from labs.learner_code import compile_file, open_for_check

TITLE = "Capstone: a stateless shop"
STARTER = Path(shop_app.__file__)

HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "module": (
        "The cluster's instances import your module by its name, as gunicorn does: it must be a "
        "file next to the notebook with a create_app(instance_id, redis, config).",
        "Run write_starter() once (it writes my_shop.py), edit my_shop.py, then "
        "check_capstone('my_shop').",
    ),
    "errors": (
        "Every bad request deserves a 4xx JSON answer: a 500 or an HTML page tells the client "
        "nothing and hides a bug (the contract of lesson 00).",
        "Validate with labs.apps.web's json_body, credentials and cart_item, or raise werkzeug's "
        "BadRequest: create_base_app turns every HTTPException into JSON.",
    ),
    "sessions": (
        "A session kept in one instance's memory exists nowhere else, and dies with the process "
        "(lessons 01 and 02).",
        "Keep each session and its cart in Redis, one hash per session id with a TTL, as "
        "labs/apps/stateless_app.py does; the cookie holds only the random id.",
    ),
    "quota": (
        "Instances that count on their own give a user the limit once per instance; a count read "
        "and then written loses updates when two instances do it at once (lesson 08).",
        "One atomic INCR per request on a key per user and window, with EXPIRE in the same "
        "pipeline (labs.apps.quota_app.shared_hit).",
    ),
    "files": (
        "A file on an instance's disk is on that instance only, and gone when it is replaced "
        "(lesson 09).",
        "Put uploads in object storage through the S3 API (S3_ENDPOINT_URL, S3_BUCKET; "
        "labs.apps.files_app.S3Files is one way).",
    ),
    "jobs": (
        "A job queued in a thread of the instance dies with it: the 202 promised more than the "
        "instance could keep (lesson 09).",
        "Enqueue on Redis with labs.jobs.queue.JobQueue(store, prefix); the workers (python -m "
        "labs.jobs.worker) run it, and GET /jobs/<id> reads JobQueue.lookup.",
    ),
    "payments": (
        "A retry, a balancer's resend or a double click must not charge twice: the first request "
        "with an Idempotency-Key must win it atomically, in a store every instance shares, and "
        "the key is its user's own (lesson 10).",
        "Claim the key with SET NX on a name with the user in it (exercise 10's layer), store "
        "the answer and replay it with Idempotent-Replayed: true; 422 for another body, 409 "
        "while the first still runs, 400 with no key.",
    ),
    "rolling": (
        "A rolling restart is every instance's death in turn: a request that fails means some "
        "state, or some request in flight, died with an instance (lessons 04 and 05).",
        "Keep nothing in the instance, and drain on SIGTERM: /readyz 503 first, finish what is "
        "in flight, then exit (labs.apps.draining, labs.cluster.gunicorn_conf).",
    ),
    "liveness": (
        "Liveness asks 'is this process stuck?'. One that asks Redis restarts every instance at "
        "once when Redis blinks: a cold, empty fleet (lesson 11).",
        "Let /healthz check only the process: answer 200 without touching the store.",
    ),
    "readiness": (
        "Readiness asks 'can I serve right now?': an instance that cannot reach Redis must say "
        "503, so that the balancer sends users elsewhere (lesson 11).",
        "Make the readiness part ask Redis: functools.partial(labs.apps.probes.readiness, "
        "labs.apps.probes.Instance(instance_id, store)) pings it with a short timeout (the "
        "shop's /readyz route already answers 503 when the part says no).",
    ),
}


def write_starter(target: str | Path = "my_shop.py", *, overwrite: bool = False) -> str:
    """Copy the starter shop to ``target`` (next to the notebook) for the learner to change.
    A file that differs from the starter is kept unless ``overwrite``: it may be hours of work.
    Says what it did (the same words whether it copied now or found the copy unchanged)."""
    path = Path(target)
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise ValueError(f"{target!r} is not a module file name like 'my_shop.py'")
    starter = STARTER.read_text(encoding="utf-8")
    if path.exists() and not overwrite and path.read_text(encoding="utf-8") != starter:
        return (
            f"kept your {path}: it differs from the starter (write_starter(overwrite=True) "
            "replaces it with the starter)"
        )
    path.write_text(starter, encoding="utf-8")
    lines = len(starter.splitlines())
    return (
        f"{path}: a copy of the starter shop (labs/apps/shop_app.py, {lines} lines), "
        "ready for your changes"
    )


def _load(name: str, path: str) -> ModuleType:
    """The module run once more from its file, as an instance imports it, with its
    ``create_app``. It sits in ``sys.modules`` while it runs (a dataclass looks itself up
    there), and the kernel's own import of it, if any, is left as it was."""
    module = ModuleType(name)
    module.__file__ = path
    before = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(compile_file(path), module.__dict__)
    finally:
        if before is None:
            del sys.modules[name]
        else:
            sys.modules[name] = before
    if not callable(getattr(module, "create_app", None)):
        raise AttributeError(f"{name} has no create_app(instance_id, redis, config)")
    return module


def check_capstone(module_or_name: Any = "my_shop", *, hint: bool = False) -> CheckReport:
    """Audit ``module_or_name`` (``'my_shop'``, or a name of ``labs.apps.APPS`` such as
    ``'shop'``) as a real 3-instance cluster: one line per property of :mod:`labs.audit`."""
    report = CheckReport(TITLE, closer=hint)
    if isinstance(module_or_name, str) and module_or_name in APPS:
        module_or_name = APPS[module_or_name]
    opened = open_for_check(
        report, module_or_name, "my_shop", "the cluster's instances", _load, HINTS["module"]
    )
    if opened is None:
        return report.show()
    name = opened[0]
    result = audit(name)
    for finding in result.findings:
        report.expect(finding.ok, f"{finding.title}: {finding.evidence}", *HINTS[finding.name])
    return report.show()
