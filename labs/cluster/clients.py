"""What the experiments' clients share: a logged-in session, a wait with a limit, a payment.

Every experiment that drives a real cluster logs a demo user in and then waits for something
the cluster does (a job to run, a stream to connect); both live here once, so that every wait in
the labs is bounded and says what it waited for. Lesson 10's experiments and exercise 10's check
pay through the same client, which records every attempt in a :class:`labs.history.History`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from labs.apps.users import login_body
from labs.history import Attempt, History, Intent


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


def attempt_payment(
    session: requests.Session, base: str, intent: Intent, timeout: float
) -> Attempt:
    """One ``POST /payments`` for ``intent``: its answer, or why there was none."""
    headers = {"Idempotency-Key": intent.key} if intent.key else {}
    body = {"amount_cents": intent.amount_cents, "currency": intent.currency}
    try:
        answer = session.post(base + "/payments", json=body, headers=headers, timeout=timeout)
    except requests.Timeout:
        return Attempt(None, error="timeout")
    except requests.ConnectionError:
        return Attempt(None, error="connection failed")
    try:
        content = answer.json()
    except ValueError:
        content = answer.text[:200]
    return Attempt(
        answer.status_code,
        content,
        replayed=answer.headers.get("Idempotent-Replayed") == "true",
        instance=answer.headers.get("X-Instance", ""),
    )


def pay_until_acknowledged(
    history: History,
    session: requests.Session,
    bases: list[str],
    intent: Intent,
    timeout: float,
    pause: float = 0.1,
    attempts: int = 6,
    growth: float = 3.0,
) -> None:
    """What a careful client does: try, and on a timeout, a broken connection, a 409 or a 5xx,
    try again (on the next of ``bases``), up to ``attempts`` times, waiting ``growth`` times
    longer for each answer than for the one before; every attempt recorded in ``history``."""
    for number in range(attempts):
        wait = timeout * growth**number
        attempt = attempt_payment(session, bases[number % len(bases)], intent, wait)
        history.record(intent, attempt)
        if attempt.status is not None and attempt.status < 500 and attempt.status != 409:
            return
        time.sleep(pause)
