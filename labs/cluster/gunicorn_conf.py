"""Gunicorn settings for one lab cluster instance.

    gunicorn -c python:labs.cluster.gunicorn_conf "labs.apps.stateless_app:create_app()"

One sync worker per instance (one request at a time, like the simulation's instances), and a
graceful SIGTERM, the way a deploy stops an instance:

1. SIGTERM arrives (gunicorn's master passes it on to the worker);
2. the worker starts *draining*: ``/readyz`` answers 503 (``labs.apps.draining``), so a balancer
   that checks readiness stops sending new work, while the instance keeps serving every request
   that still arrives, for ``DRAIN_SECONDS`` (like a Kubernetes ``preStop`` delay: it gives
   balancers that only learn from failures time to notice);
3. then gunicorn stops as usual: the request in flight finishes, the worker and master exit 0.

``BOOT_SECONDS`` plays a slow start (loading a model, warming caches): the worker waits that long
before it takes its first request, so a restarted instance is out of service for its boot time
(lesson 11). Its port is open all along (gunicorn's master holds it), so a probe sent meanwhile
waits unanswered until its own timeout, as a probe of a booting container does.

A watchdog in the master also stops the instance if the process that started it disappears
(a notebook kernel killed hard), so no instance outlives its cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from labs.apps import draining

DRAIN_SECONDS = float(os.environ.get("DRAIN_SECONDS", "1.0"))
BOOT_SECONDS = float(os.environ.get("BOOT_SECONDS", "0"))

workers = 1
worker_class = "sync"
timeout = 30
graceful_timeout = int(DRAIN_SECONDS) + 10  # the drain, then time to finish the request in flight
control_socket_disable = True  # gunicorn 27's control socket would leave a file behind
loglevel = "info"
accesslog = None


def post_worker_init(worker: Any) -> None:
    """Boot (``BOOT_SECONDS``), then replace the worker's SIGTERM handler: drain first, then
    stop the way gunicorn would."""
    if BOOT_SECONDS > 0:
        worker.log.info("booting: %.1f s before the first request", BOOT_SECONDS)
        time.sleep(BOOT_SECONDS)
    stop_worker = worker.handle_exit  # gunicorn's own: alive = False, finish the request, exit

    def finish_draining() -> None:
        stop_worker(signal.SIGTERM, None)
        with contextlib.suppress(OSError):
            os.write(worker.PIPE[1], b".")  # wake the worker's select() so it sees alive = False

    def drain_then_exit(signum: int, frame: Any) -> None:
        if draining.is_draining():
            return
        draining.start_draining()
        worker.log.info("SIGTERM: draining for %.1f s (/readyz: 503), then exiting", DRAIN_SECONDS)
        timer = threading.Timer(DRAIN_SECONDS, finish_draining)
        timer.daemon = True
        timer.start()

    worker.handle_exit = drain_then_exit
    signal.signal(signal.SIGTERM, drain_then_exit)


def when_ready(server: Any) -> None:
    """Stop this instance (quick shutdown) if the cluster that started it is gone."""
    parent = int(os.environ.get("SBD_PARENT_PID", "0"))
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        server.log.warning("the process that started this instance is gone: stopping")
        os.kill(os.getpid(), signal.SIGQUIT)

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()
