"""A job queue on a Redis Stream with a consumer group: what a broker gives background jobs.

Why a broker, and why this one. A job queued in the instance (``queue.Queue`` and a thread) is
known only to that instance and dies with it. Here the queue is a Redis Stream, ``<prefix>jobs``,
that every instance appends to and every worker process reads, through one consumer group,
``workers``. Redis Streams keep, for the group, a *pending entries list*: every job handed to a
worker and not yet acknowledged, with who holds it and since when. That list is what makes a
crash survivable:

* ``XREADGROUP`` hands a new job to one worker (never to two) and records it as pending;
* while the worker works, it renews its lease every ``visibility / 3`` seconds (``XCLAIM ...
  JUSTID``, which resets the entry's idle time): a live worker keeps its job, however long;
* a worker that dies stops renewing; once the entry has been idle for ``visibility`` seconds
  (the *visibility timeout*, as SQS calls it), the next worker that asks takes it over
  (``XAUTOCLAIM``): the job is redelivered, and Redis counts the delivery;
* ``XACK`` (with ``XDEL``) ends the job, only after its result is saved.

So delivery is *at least once*: a worker killed after the job's effect but before its
acknowledgement leaves the job pending, and the next worker does it again. The effect must be
idempotent (lesson 10). After ``max_attempts`` deliveries a job is given up (``failed``) and
copied to ``<prefix>jobs:dead``, so one poisonous job cannot crash workers forever.

Each job also keeps a short history (``<prefix>job-runs:<id>``: "w1 started", "w2 done", ...)
for the lesson to print: the status record says *where* a job is, the history *what happened*.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from redis.exceptions import ResponseError

from labs.jobs import status as default_status

GROUP = "workers"
ID_BYTES = 12  # secrets.token_urlsafe(12): 16 characters, 96 random bits
HISTORY_TTL_SECONDS = 24 * 3600


def new_job_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def is_job_id(text: str) -> bool:
    """True if ``text`` has the shape of a job id (checked before any store is asked)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return len(text) == 16 and all(char in alphabet for char in text)


@dataclass(frozen=True)
class Delivery:
    """One job handed to one worker: the stream entry, the job, and which delivery this is."""

    entry_id: str
    job_id: str
    kind: str
    params: dict[str, Any]
    attempt: int  # 1 for the first delivery, 2 after one redelivery, ...


class JobQueue:
    """The queue of one cluster: its stream, its consumer group, its jobs' records."""

    def __init__(self, store: Any, prefix: str = "", status: ModuleType | None = None) -> None:
        self.store = store
        self.prefix = prefix
        self.stream = prefix + "jobs"
        self.dead_letters = prefix + "jobs:dead"
        self.status = status or default_status
        self._group_ready = False

    def job_key(self, job_id: str) -> str:
        """The job's status record (what ``save_status``/``load_status`` are given)."""
        return f"{self.prefix}job:{job_id}"

    def history_key(self, job_id: str) -> str:
        return f"{self.prefix}job-runs:{job_id}"

    def ensure_group(self) -> None:
        """Create the stream and its consumer group unless they exist (any process may).

        It looks before it creates: fakeredis' TCP server closes a connection after any error
        reply (such as ``BUSYGROUP``), so the course avoids asking for one. Two processes that
        both find no group still race; the loser's ``BUSYGROUP`` is expected and harmless.
        """
        if self._group_ready:
            return
        exists = self.store.exists(self.stream) and any(
            group["name"] == GROUP for group in self.store.xinfo_groups(self.stream)
        )
        if not exists:
            try:
                self.store.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    # --- what an instance does ---------------------------------------------------------------

    def enqueue(self, kind: str, params: dict[str, Any]) -> str:
        """Record the job as ``queued``, then append it to the stream; its id."""
        job_id = new_job_id()
        self.status.save_status(self.store, self.job_key(job_id), "queued", None)
        self.ensure_group()
        fields = {"job_id": job_id, "kind": kind, "params": json.dumps(params)}
        self.store.xadd(self.stream, fields)
        return job_id

    def lookup(self, job_id: str) -> dict[str, Any] | None:
        return self.status.load_status(self.store, self.job_key(job_id))

    def history(self, job_id: str) -> list[str]:
        """What happened to the job, in order: ``["w1 started", "w2 started", "w2 done"]``."""
        return self.store.lrange(self.history_key(job_id), 0, -1)

    def pending(self) -> dict[str, str]:
        """Jobs handed out and not acknowledged: ``{job entry id: worker holding it}``."""
        self.ensure_group()
        rows = self.store.xpending_range(self.stream, GROUP, "-", "+", 100)
        return {row["message_id"]: row["consumer"] for row in rows}

    # --- what a worker does ------------------------------------------------------------------

    def claim(self, worker: str, visibility: float) -> Delivery | None:
        """The next job for ``worker``: first one whose lease ran out (its worker died), else
        a new one; None if there is none now.

        It does not wait (no ``BLOCK``): the worker polls. fakeredis' TCP server, the embedded
        store, does not wake a blocked stream read when another connection adds an entry, so
        one code path that works on both is a short poll (every 50 ms, see the worker).
        """
        self.ensure_group()
        idle_ms = max(1, int(visibility * 1000))
        _, entries, *_ = self.store.xautoclaim(
            self.stream, GROUP, worker, min_idle_time=idle_ms, start_id="0-0", count=1
        )
        if not entries:
            answer = self.store.xreadgroup(GROUP, worker, {self.stream: ">"}, count=1)
            entries = answer[0][1] if answer else []
        if not entries:
            return None
        entry_id, fields = entries[0]
        if not fields:  # the entry was deleted while pending: nothing left to do
            self.store.xack(self.stream, GROUP, entry_id)
            return None
        rows = self.store.xpending_range(self.stream, GROUP, entry_id, entry_id, 1)
        attempt = rows[0]["times_delivered"] if rows else 1
        return Delivery(
            entry_id, fields["job_id"], fields["kind"], json.loads(fields["params"]), attempt
        )

    def renew(self, delivery: Delivery, worker: str) -> None:
        """Keep the lease: the entry's idle time starts again from zero."""
        self.store.xclaim(self.stream, GROUP, worker, 0, [delivery.entry_id], justid=True)

    def log(self, delivery: Delivery, event: str) -> None:
        key = self.history_key(delivery.job_id)
        self.store.pipeline().rpush(key, event).expire(key, HISTORY_TTL_SECONDS).execute()

    def ack(self, delivery: Delivery) -> None:
        """The job is over: off the pending list and out of the stream."""
        self.store.pipeline().xack(self.stream, GROUP, delivery.entry_id).xdel(
            self.stream, delivery.entry_id
        ).execute()

    def give_up(self, delivery: Delivery, reason: str) -> None:
        """Too many deliveries: record ``failed``, keep a copy for a human, end it."""
        self.status.save_status(self.store, self.job_key(delivery.job_id), "failed", reason)
        fields = {"job_id": delivery.job_id, "kind": delivery.kind, "reason": reason}
        self.store.xadd(self.dead_letters, fields, maxlen=1000, approximate=True)
        self.ack(delivery)
