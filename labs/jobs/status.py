"""Where a job's status lives: one Redis hash per job, shared by every instance and worker.

``save_status(store, key, status, result=None)`` and ``load_status(store, key)`` are the whole
interface. ``store`` is the Redis client every process shares (``decode_responses=True``),
``key`` the job's record (``<prefix>job:<id>``, chosen by the caller), ``status`` one of
:data:`STATUSES` and ``result`` any JSON value. ``load_status`` returns ``{"status": ...,
"result": ...}`` or ``None`` for a job nobody saved.

The app saves ``queued`` when it accepts a job; a worker saves ``running``, then ``done`` with
the result (or ``failed``). Any instance answers ``GET /jobs/<id>`` from the record, whichever
instance accepted the job and whichever worker ran it. Status and result are written in one
``HSET`` (a reader never sees ``done`` without its result), and the record expires a day
after its last change: nothing is left behind.

Exercise 09 replaces this module with the learner's (``JOB_STATUS``, a module path).
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

from labs.learner_code import plugged_module

STATUSES = ("queued", "running", "done", "failed")
TTL_SECONDS = 24 * 3600


def save_status(store: Any, key: str, status: str, result: Any = None) -> None:
    """Record ``status`` (and ``result``) for the job at ``key``, for every process to read."""
    pipe = store.pipeline()  # MULTI/EXEC: the new fields and their expiry together
    pipe.hset(key, mapping={"status": status, "result": json.dumps(result)})
    pipe.expire(key, TTL_SECONDS)
    pipe.execute()


def load_status(store: Any, key: str) -> dict[str, Any] | None:
    """``{"status", "result"}`` of the job at ``key``, or None if no process saved one."""
    record = store.hgetall(key)
    if "status" not in record:
        return None
    return {"status": record["status"], "result": json.loads(record.get("result", "null"))}


def status_module(path: str | None) -> ModuleType:
    """The module keeping job status: ``path`` (e.g. a learner's ``my_jobs``), else this one."""
    if not path:
        return importlib.import_module(__name__)
    return plugged_module("JOB_STATUS", path, ("save_status", "load_status"))
