"""What the experiments' clients share: a logged-in session, and a wait with a limit.

Every experiment that drives a real cluster logs a demo user in and then waits for something
the cluster does (a job to run, a stream to connect); both live here once, so that every wait in
the labs is bounded and says what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from labs.apps.users import login_body


def logged_in(
    base: str, user: str = "alice", error: type[Exception] = RuntimeError, timeout: float = 5.0
) -> requests.Session:
    """A session logged in as demo ``user`` through ``base`` (a balancer or an instance);
    ``error`` (naming the status) if the login is refused."""
    session = requests.Session()
    answer = session.post(base + "/login", json=login_body(user), timeout=timeout)
    if answer.status_code != 200:
        raise error(f"{user} could not log in: {answer.status_code} {answer.text[:200]}")
    return session


def poll(check: Callable[[], object], seconds: float, every: float = 0.02) -> bool:
    """Call ``check()`` until it is true or ``seconds`` have passed; whether it became true."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def wait_until(
    check: Callable[[], object], what: str, seconds: float, error: type[Exception] = TimeoutError
) -> float:
    """:func:`poll`, but ``error`` naming ``what`` if time runs out; the seconds it took."""
    start = time.monotonic()
    if not poll(check, seconds):
        raise error(f"gave up after {seconds:g} s waiting for {what}")
    return time.monotonic() - start
