"""Process lifecycle shared by the lab apps: is this instance draining?

A real deploy tells an instance to stop with SIGTERM. A well-behaved instance
first reports *not ready* (``/readyz`` -> 503) so the load balancer stops
sending it new work, finishes what is in flight, then exits. The gunicorn
configuration in ``labs`` sets this flag when SIGTERM arrives; the apps'
``/readyz`` reads it.
"""

from __future__ import annotations

import threading

_draining = threading.Event()


def start_draining() -> None:
    """Mark this process as shutting down: readiness checks fail from now on."""
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()


def reset() -> None:
    """Ready again (for tests that reuse one process)."""
    _draining.clear()
