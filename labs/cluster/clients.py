"""What the experiments' clients share: a logged-in session, a wait with a limit, a payment.

Every experiment that drives a real cluster logs a demo user in and then waits for something
the cluster does (a job to run, a stream to connect); both live here once, so that every wait in
the labs is bounded and says what it waited for. Lesson 10's experiments and exercise 10's check
pay through the same client, which records every attempt in a :class:`labs.history.History`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Answer:
    """One request of a :class:`SteadyLoad`: when it left (seconds since the load started), how
    long it took, its status (None: no answer at all) and the instance that answered."""

    sent: float
    seconds: float
    status: int | None
    instance: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200


class SteadyLoad:
    """``clients`` threads, each with its own logged-in session, sending ``GET path`` one at a
    time (``pause`` seconds apart) through ``base`` until the ``with`` block ends; every answer
    is in :attr:`answers`, in the order they came back. Every request waits at most
    ``timeout`` seconds (then it counts as no answer)."""

    def __init__(
        self,
        base: str,
        path: str = "/me",
        clients: int = 4,
        pause: float = 0.02,
        timeout: float = 2.0,
        users: tuple[str, ...] = ("alice", "bob"),
    ) -> None:
        self.base, self.path, self.pause, self.timeout = base, path, pause, timeout
        self.sessions = [logged_in(base, users[i % len(users)]) for i in range(clients)]
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.started = 0.0

    def __enter__(self) -> SteadyLoad:
        self.started = time.monotonic()
        for number, session in enumerate(self.sessions):
            thread = threading.Thread(target=self._send, args=(session,), name=f"load-{number}")
            thread.daemon = True
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        for session in self.sessions:
            session.close()

    def now(self) -> float:
        """Seconds since the load started (the clock of :attr:`answers`)."""
        return time.monotonic() - self.started

    def _send(self, session: requests.Session) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            status = instance = None
            try:
                response = session.get(self.base + self.path, timeout=self.timeout)
                status, instance = response.status_code, response.headers.get("X-Instance")
            except requests.RequestException:
                pass
            answer = Answer(sent - self.started, time.monotonic() - sent, status, instance)
            with self._lock:
                self.answers.append(answer)
            self._stop.wait(self.pause)

    def failed(self, start: float = 0.0, end: float = float("inf")) -> int:
        """Requests that failed, answered from ``start`` to ``end`` (seconds since the load
        started): a request in flight when something happened at ``start`` counts."""
        return sum(1 for a in self.answers if start <= a.sent + a.seconds < end and not a.ok)

    def sent(self, start: float = 0.0, end: float = float("inf")) -> int:
        return sum(1 for a in self.answers if start <= a.sent < end)

    def last_failure(self) -> float | None:
        """When the last failed request was sent, or None if none failed."""
        failures = [a.sent for a in self.answers if not a.ok]
        return max(failures) if failures else None
