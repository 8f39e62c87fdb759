"""Lesson 08's race you can count: "the current user" in a global, on a real gunicorn worker.

:func:`count_mixups` starts one real instance of ``labs/apps/race_app.py`` (one gunicorn
``gthread`` worker with ``threads`` threads, behind the Python balancer), logs alice and bob in,
and has them ask ``GET /me`` at the same time, each from a client thread of their own, each
``requests_per_user`` times. It counts the answers that name someone other than the user who
asked::

    result = count_mixups("memory", threads=4)
    print(result.verdict())   # wrong user in answers: yes, at least 1 of 20
    print(result.counts())    # the exact numbers (they vary from run to run)

How many answers mix depends on scheduling, so the lesson prints the verdict, which does not:

* ``state="memory"`` and ``threads`` ≥ 2: every request waits ``io_wait`` seconds between the
  hook that stores the user and the line that reads it back, and the two clients keep a request
  each in the worker nearly all the time, so in each such overlap the user whose hook ran last
  is named in both answers: about every other answer is wrong (measured on a busy 2-core
  machine: 11 to 19 of 20, never fewer than 5 of 10), never none in practice;
* ``threads=1``: the worker runs one request at a time, start to end, so no request can
  overwrite another's user: 0, whatever the timing (that is why one-at-a-time tests never see
  the bug);
* ``state="shared"``: the user lives in ``flask.g``, one per request: 0 with any thread count.

(The balancer's readiness probes are requests too: in ``"memory"`` they set the user to nobody,
so an answer may name nobody, or be a 401, instead of naming the other user. Either is counted
as a mix-up: the process forgot who asked.)
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from requests import RequestException, Session

from labs.apps.race_app import MAX_IO_WAIT_SECONDS, STATES
from labs.apps.users import PASSWORD_HASHES, login_body
from labs.apps.web import whole_number
from labs.cluster import ProcessCluster

NOBODY = "(nobody)"  # what an answer names when it names no user
MAX_THREADS = 64
MAX_REQUESTS_PER_USER = 1000
TIMEOUT_SECONDS = 10


class RaceExperimentError(RuntimeError):
    """The experiment could not run as designed (a login was refused, a client got no answer)."""


@dataclass(frozen=True)
class MixupResult:
    """Who each user was told they are, in one run of :func:`count_mixups`."""

    state: str  # "memory" (a class attribute) or "shared" (flask.g)
    threads: int  # threads of the one gunicorn gthread worker
    io_wait: float  # seconds each GET /me waits between storing and reading the user
    requests_per_user: int
    answers: dict[str, dict[str, int]]  # user who asked -> {user named in the answer: count}
    errors: int  # answers that were neither 200 nor 401, or no answer at all
    seconds: float  # wall time of the whole call, cluster start and stop included

    @property
    def total(self) -> int:
        """How many ``GET /me`` were answered (200, or 401: see ``NOBODY``)."""
        return sum(sum(named.values()) for named in self.answers.values())

    @property
    def mixups_per_user(self) -> dict[str, int]:
        """User -> how many of their answers named someone else (or nobody)."""
        return {
            user: sum(n for name, n in named.items() if name != user)
            for user, named in self.answers.items()
        }

    @property
    def mixups(self) -> int:
        """Answers, over all users, that named someone other than the user who asked."""
        return sum(self.mixups_per_user.values())

    def verdict(self) -> str:
        """The part that does not depend on scheduling: mixed up or not, out of how many."""
        sent = self.requests_per_user * len(self.answers)
        found = f"yes, at least 1 of {sent}" if self.mixups else f"none of {sent}"
        line = f"wrong user in answers: {found}"
        if self.errors:
            line += f" (and {self.errors} requests failed)"
        return line

    def counts(self) -> str:
        """The exact numbers of this run (they vary from run to run)."""
        rows = [
            f"state={self.state}, {self.threads} thread(s), io_wait {self.io_wait:g} s, "
            f"{self.requests_per_user} requests per user, in {self.seconds:.1f} s"
        ]
        for user, named in self.answers.items():
            told = ", ".join(f"{name} {count}" for name, count in sorted(named.items()))
            rows.append(f"  {user} was told: {told}  (wrong: {self.mixups_per_user[user]})")
        rows.append(f"  mix-ups: {self.mixups} of {self.total}; failed requests: {self.errors}")
        return "\n".join(rows)


def count_mixups(
    state: str = "memory",
    threads: int = 4,
    requests_per_user: int = 10,
    io_wait: float = 0.05,
    users: Sequence[str] = ("alice", "bob"),
) -> MixupResult:
    """Run one race on a real gunicorn instance of the ``race`` app and count the mix-ups.

    Every user in ``users`` logs in, then all of them send ``requests_per_user`` ``GET /me`` at
    once, one client thread each, one request at a time. The cluster is stopped on return, even
    if something failed.
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, not {state!r}")
    whole_number("threads", threads, 1, MAX_THREADS)
    whole_number("requests_per_user", requests_per_user, 1, MAX_REQUESTS_PER_USER)
    if isinstance(io_wait, bool) or not 0 <= io_wait <= MAX_IO_WAIT_SECONDS:
        raise ValueError(f"io_wait must be from 0 to {MAX_IO_WAIT_SECONDS:g} s, not {io_wait!r}")
    users = list(users)
    unknown = [user for user in users if user not in PASSWORD_HASHES]
    if len(users) < 2 or len(set(users)) != len(users) or unknown:
        raise ValueError(f"users must be two or more different demo users, not {users!r}")

    started = time.monotonic()
    env = {
        "STATE": state,
        "IO_WAIT_SECONDS": repr(float(io_wait)),
        "GUNICORN_CMD_ARGS": f"--threads {threads}",  # gunicorn reads extra options from here
    }
    with ProcessCluster(
        "race", instances=1, worker_class="gthread", balancer="python", env=env
    ) as cluster:
        answers, errors = _race(cluster.url, users, requests_per_user)
    return MixupResult(
        state=state,
        threads=threads,
        io_wait=float(io_wait),
        requests_per_user=requests_per_user,
        answers=answers,
        errors=errors,
        seconds=time.monotonic() - started,
    )


def _race(url: str, users: list[str], requests_per_user: int) -> tuple[dict, int]:
    """Log ``users`` in, then send their ``GET /me`` in parallel; who each was told, and errors."""
    sessions = {user: Session() for user in users}
    told: dict[str, Counter[str]] = {user: Counter() for user in users}
    errors = Counter[str]()
    start = threading.Barrier(len(users))

    def ask(user: str) -> None:
        session = sessions[user]
        start.wait(timeout=TIMEOUT_SECONDS)
        for _ in range(requests_per_user):
            try:
                answer = session.get(url + "/me", timeout=TIMEOUT_SECONDS)
            except RequestException:
                errors[user] += 1
                continue
            if answer.status_code == 401:  # logged in, yet told "not logged in": forgotten
                told[user][NOBODY] += 1
            elif answer.status_code == 200:
                told[user][answer.json().get("user") or NOBODY] += 1
            else:
                errors[user] += 1

    try:
        for user, session in sessions.items():
            body = login_body(user)
            login = session.post(url + "/login", json=body, timeout=TIMEOUT_SECONDS)
            if login.status_code != 200:
                raise RaceExperimentError(f"{user} could not log in: {login.status_code}")
        clients = [threading.Thread(target=ask, args=(user,), daemon=True) for user in users]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=requests_per_user * (TIMEOUT_SECONDS + 1))
        if any(client.is_alive() for client in clients):
            raise RaceExperimentError("a client got no answer in time")
    finally:
        for session in sessions.values():
            session.close()
    return {user: dict(told[user]) for user in users}, sum(errors.values())
