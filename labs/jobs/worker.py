"""A worker process: takes jobs from the shared queue, runs them, saves their status.

    REDIS_URL=redis://... KEY_PREFIX=sbd-1a2b3c4d: python -m labs.jobs.worker w1

The cluster starts workers (``labs.cluster.workers``); a lesson kills one with ``kill -9`` to
play a container's death. One job at a time:

1. claim a job (:meth:`labs.jobs.queue.JobQueue.claim`): one whose lease expired, else a new one;
2. save ``running``, and renew the lease every ``visibility / 3`` seconds while working;
3. run it, save ``done`` with its result (``failed`` if it raised);
4. acknowledge it. ``WORKER_ACK_DELAY`` puts a pause between 3 and 4 (a slow link to Redis,
   a large result to write): a kill in that pause shows why the job's effect must be idempotent.

SIGTERM finishes the job in hand, then exits 0. If Redis cannot be reached the worker waits
and tries again (it stays up); if the process that started it disappears, it exits.

Settings (environment): ``REDIS_URL`` (required), ``KEY_PREFIX`` (default ""),
``VISIBILITY_TIMEOUT`` (seconds, default 30), ``MAX_ATTEMPTS`` (default 5), ``WORKER_ACK_DELAY``
(seconds, default 0), ``JOB_STATUS`` (a module with ``save_status``/``load_status``, default
:mod:`labs.jobs.status`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import TimeoutError as StoreTimeoutError

from labs.jobs.kinds import run_job
from labs.jobs.queue import Delivery, JobQueue
from labs.jobs.status import status_module
from labs.redis_store import lazy_redis

POLL_SECONDS = 0.05  # an idle worker asks for a job this often
READY = "ready"  # the line a worker prints once it can take jobs (the pool waits for it)


class Worker:
    """Runs the jobs of one queue, one at a time, as ``name``."""

    def __init__(
        self,
        queue: JobQueue,
        name: str,
        visibility: float = 30.0,
        max_attempts: int = 5,
        ack_delay: float = 0.0,
        log: Callable[[str], None] = print,
    ) -> None:
        if not 0.05 <= visibility <= 24 * 3600:
            raise ValueError(f"VISIBILITY_TIMEOUT must be from 0.05 s to a day, not {visibility}")
        if not 1 <= max_attempts <= 100:
            raise ValueError(f"MAX_ATTEMPTS must be from 1 to 100, not {max_attempts}")
        if not 0 <= ack_delay <= 60:
            raise ValueError(f"WORKER_ACK_DELAY must be from 0 to 60 s, not {ack_delay}")
        self.queue, self.name, self.visibility = queue, name, visibility
        self.max_attempts, self.ack_delay, self.log = max_attempts, ack_delay, log
        self.stopping = threading.Event()

    def run_once(self) -> bool:
        """Claim and run one job; False if there was none to claim."""
        delivery = self.queue.claim(self.name, self.visibility)
        if delivery is None:
            return False
        if delivery.attempt > self.max_attempts:
            self.queue.give_up(delivery, f"gave up after {self.max_attempts} attempts")
            self.queue.log(delivery, f"{self.name} gave up")
            return True
        key = self.queue.job_key(delivery.job_id)
        save = self.queue.status.save_status
        save(self.queue.store, key, "running", None)
        self.queue.log(delivery, f"{self.name} started")
        with _Renewal(self, delivery):
            try:
                result = run_job(delivery.kind, delivery.params)
            except Exception as exc:  # the job's own failure: recorded, never a dead worker
                save(self.queue.store, key, "failed", f"{type(exc).__name__}: {exc}")
                self.queue.log(delivery, f"{self.name} failed")
            else:
                save(self.queue.store, key, "done", result)
                self.queue.log(delivery, f"{self.name} done")
            time.sleep(self.ack_delay)  # a kill -9 now: done, but not acknowledged
        self.queue.ack(delivery)
        return True

    def run_forever(self) -> None:
        """Take jobs until :attr:`stopping` is set; survive a Redis outage by waiting."""
        down_since = None
        while not self.stopping.is_set():
            try:
                if not self.run_once():
                    self.stopping.wait(POLL_SECONDS)
                if down_since is not None:
                    self.log(f"worker {self.name}: Redis is back")
                    down_since = None
            except (StoreConnectionError, StoreTimeoutError, OSError) as exc:
                if down_since is None:
                    self.log(f"worker {self.name}: cannot reach Redis ({exc}); retrying")
                    down_since = time.monotonic()
                self.stopping.wait(0.5)


class _Renewal:
    """While a job runs: renew its lease every ``visibility / 3`` seconds, in a thread."""

    def __init__(self, worker: Worker, delivery: Delivery) -> None:
        self.worker, self.delivery = worker, delivery
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="lease", daemon=True)

    def __enter__(self) -> _Renewal:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join()

    def _renew(self) -> None:
        while not self.done.wait(self.worker.visibility / 3):
            # Redis away: the lease may lapse, and the job be redelivered.
            with contextlib.suppress(StoreConnectionError, StoreTimeoutError, OSError):
                self.worker.queue.renew(self.delivery, self.worker.name)


def _watch_parent(worker: Worker) -> None:
    """Stop the worker if the process that started it is gone (a kernel killed hard)."""
    parent = int(os.environ.get("SBD_PARENT_PID", "0"))
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent and not worker.stopping.is_set():
            time.sleep(0.5)
        worker.stopping.set()

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()


def _number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isidentifier():
        raise SystemExit("usage: python -m labs.jobs.worker NAME  (a name such as w1)")
    name = argv[0]
    url = os.environ.get("REDIS_URL")
    if not url:
        raise SystemExit("REDIS_URL is not set: a worker needs the Redis its cluster shares")
    try:
        status = status_module(os.environ.get("JOB_STATUS"))
        attempts = int(os.environ.get("MAX_ATTEMPTS") or 5)
        worker = Worker(
            JobQueue(lazy_redis(url, timeout=5.0), os.environ.get("KEY_PREFIX", ""), status),
            name,
            visibility=_number("VISIBILITY_TIMEOUT", 30.0),
            max_attempts=attempts,
            ack_delay=_number("WORKER_ACK_DELAY", 0.0),
            log=lambda line: print(line, flush=True),
        )
    except (ValueError, ImportError) as exc:
        raise SystemExit(f"worker {name} cannot start: {exc}") from None
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())  # finish the job in hand
    _watch_parent(worker)
    print(f"worker {name} {READY}", flush=True)
    worker.run_forever()
    print(f"worker {name} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
