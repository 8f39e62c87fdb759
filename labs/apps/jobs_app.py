"""Lesson 09: background jobs, queued in the instance or in a broker that workers share.

The app is ``labs/apps/stateless_app.py`` (login, ``/me``, cart, sessions in Redis) plus the jobs
routes of COURSE_DESIGN §6b:

* ``POST /jobs`` JSON ``{"kind": "echo"|"sleep", "params": {...}}`` (logged in) → 202
  ``{"job_id"}``: the job is accepted, not done; 400 for a job that cannot run
  (``labs/jobs/kinds.py``), 401 without a session;
* ``GET /jobs/<job_id>`` → 200 ``{"job_id", "status", "result"}``, status ``queued``,
  ``running``, ``done`` or ``failed``; 404 for a job this app does not know. The id is 96 random
  bits: whoever holds it may read the job, as with a file's URL.

Where the jobs live is ``config["STATE"]`` (config, else environment, default ``"shared"``):

* ``"memory"``: the anti-pattern. A ``queue.Queue`` and one thread *in this instance* run the
  jobs, and their status is a dict in the instance. Another instance answers 404 (it never heard
  of the job), and a ``kill -9`` loses every job queued or running here, with its status.
* ``"shared"``: the instance only records the job (``queued``) and appends it to a Redis Stream
  (``labs/jobs/queue.py``); worker processes (``python -m labs.jobs.worker``, started by
  ``ProcessCluster(..., workers=N)``) run it and save its status where every instance reads it.
  An instance that dies loses nothing: it held no job.

Other settings (config, else environment): ``KEY_PREFIX`` (the cluster's prefix for the queue and
the records), ``JOB_STATUS`` (a module with ``save_status``/``load_status``, default
``labs.jobs.status``; exercise 09 plugs the learner's in here).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from flask import Flask, Response, jsonify
from redis import Redis
from werkzeug.exceptions import BadRequest

from labs.apps import stateless_app
from labs.apps.stateless_app import session_user
from labs.apps.web import choice_setting, error, json_body, text_setting
from labs.jobs.kinds import InvalidJob, check_job, run_job
from labs.jobs.queue import JobQueue, is_job_id, new_job_id
from labs.jobs.status import status_module
from labs.redis_store import lazy_redis

STATES = ("memory", "shared")
MAX_MEMORY_JOBS = 10_000  # the in-process design's queue and records, bounded
EXTENSION = "jobs"  # app.extensions[EXTENSION]: what this instance keeps (to look inside)


class MemoryJobs:
    """The anti-pattern: a queue and a worker thread inside the instance, status in a dict."""

    def __init__(self) -> None:
        self.status: dict[str, dict[str, Any]] = {}
        self.queue: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue(MAX_MEMORY_JOBS)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None  # started with the first job

    def enqueue(self, kind: str, params: dict[str, Any]) -> str:
        job_id = new_job_id()
        with self._lock:
            if len(self.status) >= MAX_MEMORY_JOBS:
                raise BadRequest("this instance holds too many jobs")
            self.status[job_id] = {"status": "queued", "result": None}
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="jobs", daemon=True)
                self._thread.start()
        self.queue.put((job_id, kind, params))
        return job_id

    def lookup(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return dict(self.status[job_id]) if job_id in self.status else None

    def _work(self) -> None:
        while True:
            job_id, kind, params = self.queue.get()
            self._save(job_id, "running", None)
            try:
                self._save(job_id, "done", run_job(kind, params))
            except Exception as exc:  # the job's failure, recorded
                self._save(job_id, "failed", f"{type(exc).__name__}: {exc}")

    def _save(self, job_id: str, status: str, result: Any) -> None:
        with self._lock:
            self.status[job_id] = {"status": status, "result": result}


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance; with ``STATE="shared"`` every instance given the same Redis sees every job."""
    config = dict(config or {})
    state = choice_setting(config, "STATE", "shared", STATES)
    prefix = text_setting(config, "KEY_PREFIX")
    status = status_module(text_setting(config, "JOB_STATUS") or None)
    store = redis if redis is not None else lazy_redis()
    app = stateless_app.create_app(instance_id, store, config)
    ttl = stateless_app.session_ttl(app.config)
    jobs: MemoryJobs | JobQueue = (
        MemoryJobs() if state == "memory" else JobQueue(store, prefix, status)
    )
    app.extensions[EXTENSION] = jobs

    @app.post("/jobs")
    def submit() -> tuple[Response, int]:
        session_user(store, ttl)
        body = json_body()
        try:
            kind, params = check_job(body.get("kind"), body.get("params"))
        except InvalidJob as exc:
            return error(400, str(exc))
        job_id = jobs.enqueue(kind, params)
        response = jsonify(job_id=job_id)
        response.headers["Location"] = f"/jobs/{job_id}"
        return response, 202

    @app.get("/jobs/<job_id>")
    def job(job_id: str) -> Response | tuple[Response, int]:
        found = jobs.lookup(job_id) if is_job_id(job_id) else None
        if found is None:
            return error(404, "unknown job (not queued through this store)")
        return jsonify(job_id=job_id, status=found["status"], result=found["result"])

    return app
