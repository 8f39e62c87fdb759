"""Lesson 08 exercise: make the rate limiter shared.

The learner writes a limiter *module* in the notebook (``%%writefile my_limiter.py``) with one
function, the interface of ``labs/apps/quota_app.py``::

    def hit(store, key, limit, window, now) -> (allowed, count, retry_after)

The starter below counts in a dict of the process, so behind three instances a user gets three
times the limit. The check runs the learner's module *inside the quota app*, each instance
loading its own copy of the module (as separate processes would, so a module-level dict is not
shared by accident), and reports each property. Every phase has a Redis of its own (so a key
that one phase leaves cannot spoil the next) and holds the app's clock: nothing depends on the
real time, or on how the threads are scheduled.

* exactly the limit gets through behind 1 instance and behind 3 (round robin), and the
  remaining counts go 9, 8, ... 0;
* exactly the limit under 8 concurrent clients (threads) on 3 instances;
* two instances counting one user's requests at the same moment: deterministically, B's whole
  request runs right after the nth store call of A's limiter (``AfterCommand`` of
  ``labs/interleaving.py``), once for each n = 1, 2, ... with a fresh Redis, until a run goes
  wrong or B came after A's last call (``each_gap``): so a read-then-write counts one slot
  twice wherever it is in hit() (after a first read of the TTL, say), and so does a write after
  ``INCR``; an atomic count (``INCR`` in ``MULTI``, a Lua script, ``SET NX`` + ``INCR``,
  ``WATCH`` and retry) does not. B's request runs on a thread of its own, and A goes on if B is
  still waiting after ``BLOCKED_SECONDS`` (B waits for a lock that A holds), so a limiter with
  a lock cannot hang the check;
* each user has a quota of their own (bob's does not shrink when alice uses hers);
* the window is the fixed one that holds ``now``: a client that keeps retrying to the window's
  end gets in at the start of the next one (remaining ``limit - 1``), ``Retry-After`` is the
  whole seconds left (refused at 30.0, 45.5, 59.2 s into a 60 s window: 30, 15, 1), and a
  client that waits exactly ``Retry-After`` gets through. The clock is virtual and Redis TTLs
  run on the real one, so a key whose TTL is the window (one key per user, ``EXPIRE`` on every
  hit) never ends during the check: as in production, where retries keep pushing it back;
* the same with a window of 10 s (``SHORT_WINDOW``), whose next one starts inside the same
  minute, so a limiter that writes 60 where it should use ``window`` fails (run when the 60 s
  windows were right, and a line only when it fails: the starter's report, stored in the
  lesson, and a right answer's read as before);
* the count is in Redis, and every key the limiter writes lives to the end of its window on
  the check's clock (less the real seconds the phase took: a TTL of 5 s, or ``PEXPIRE`` given
  seconds, is caught) and expires within two windows, plus how far the check's held clock runs
  ahead of the real one (``EXPIREAT`` the window's end on ``now`` is right). TTLs are read
  right after each phase, before a short one runs out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import fakeredis

from labs.apps import quota_app
from labs.apps.users import login_body
from labs.checking import CheckReport, is_number
from labs.cluster import LocalCluster
from labs.interleaving import READS, AfterCommand, each_gap
from labs.learner_code import NotRunnable, compile_file, error_line, fresh_copy, module_source

STARTER = '''\
# EXERCISE STARTER: this limiter counts in the instance's own memory. Make it count in Redis.
import math

COUNTS = {}  # (key, window number) -> requests counted   <- state that lives in this process!


def hit(store, key, limit, window, now):
    """Count one request of `key` in the fixed window of `window` seconds that holds `now`.

    store: the Redis client that every instance shares; key: the user's key ("quota:alice");
    limit: the requests allowed per window; now: seconds since the epoch (a float).
    Return (allowed, count, retry_after): is this request within the limit; the requests this
    window has counted so far, this one included when allowed (when refused it may exceed
    limit: the app answers 429 and does not use it); the whole seconds until the window ends,
    at least 1.
    """
    number = int(now // window)
    retry_after = max(1, math.ceil((number + 1) * window - now))
    count = COUNTS.get((key, number), 0)
    if count >= limit:
        return False, count, retry_after
    COUNTS[(key, number)] = count + 1
    return True, count + 1, retry_after
'''

TITLE = "Exercise 08 · Share the rate limiter"
LIMIT = 10
WINDOW = 60
REQUESTS = 25
SMALL_LIMIT = 3  # the race, the users and the window phases
SHORT_WINDOW = 10  # the window of one phase: a limiter must use the one it is given
CLIENTS, PER_CLIENT = 8, 5
USER, OTHER_USER = "alice", "bob"
BLOCKED_SECONDS = 1.0  # B's request still running after this: it waits for A (a lock)
GIVE_UP_SECONDS = 5.0  # a request still running after this: the check stops waiting, says so
RETRY_MOMENTS = (30.0, 45.5, 59.2)  # seconds into the window: refused, Retry-After 30, 15, 1
WAIT_MOMENT = 45.5
KEY_LINES = 4  # the keys the report names at most
HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "module": (
        "The check runs your limiter inside the app's instances, and each instance (a process "
        "of its own in production) imports it from a module file: an object defined in the "
        "notebook lives only in the notebook's process.",
        "put %%writefile my_limiter.py on the first line of the limiter's cell, run it, then "
        "check_shared_limiter('my_limiter')",
    ),
    "result": (
        "hit() must return three values, (allowed, count, retry_after): is this request within "
        "the limit, how many requests this window has counted, the seconds until it ends.",
        "return count <= limit, count, retry_after",
    ),
    "shared": (
        "Each instance counts in its own memory, so behind 3 instances a user gets 3 × the "
        "limit. Keep the count in Redis (the store argument), where every instance sees the "
        "same number.",
        "one key per user and window: k = f'{key}:{int(now // window)}'; count = store.incr(k) "
        "(INCR counts and answers the new count in one step)",
    ),
    "exact": (
        "The first `limit` requests of a window get through and the next one is refused: 10 "
        "allowed, remaining 9, 8, ... 0. Look at where your comparison lets one too many (or "
        "too few) through.",
        "count includes this request (INCR's answer): allowed = count <= limit",
    ),
    "atomic": (
        "Two instances counted at the same moment: each read the count, then wrote count + 1, "
        "so one request was never counted. Count in one step that reads and writes at once.",
        "count = store.incr(k), no GET first; put EXPIRE in the same transaction: "
        "count, _ = store.pipeline(transaction=True).incr(k).expire(k, window, nx=True)"
        ".execute()",
    ),
    "hang": (
        "A request waited for something that was never given back (a lock still held, a loop "
        "that waits for a key). Whatever a request takes, it must give back, on every path, "
        "and never wait without a limit.",
        "with store.lock(f'{k}:lock', timeout=5, blocking_timeout=5): ... (or no lock at all: "
        "INCR is atomic on its own)",
    ),
    "users": (
        "Each user has a quota of their own: the key the app passes (quota:alice, quota:bob) "
        "names the user. A counter whose name leaves the key out is one quota for everybody.",
        "name the counter after the key and the window: k = f'{key}:{int(now // window)}'",
    ),
    "window": (
        "A fixed window ends on time, and the next one starts counting from 0: the window is "
        "the one that holds `now`, whatever the requests before. A count kept under one name "
        "whose TTL every request pushes back never ends while the client keeps retrying (and a "
        "Redis TTL runs on Redis's clock, not on `now`).",
        "one counter per window, named after its number: k = f'{key}:{int(now // window)}'; "
        "set its TTL only when it is new: expire(k, window, nx=True)",
    ),
    "retry": (
        "Retry-After is the whole seconds from `now` to the end of the window that holds it, "
        "rounded up and at least 1: refused 45.5 s into a 60 s window, it is 15. Wait less and "
        "you are refused again; a client that waits exactly that long must get through.",
        "retry_after = max(1, math.ceil((int(now // window) + 1) * window - now))",
    ),
    "ttl": (
        "A counter's TTL is its window's: one that runs out sooner forgets the requests "
        "counted, and the next ones get a new batch in the same window; one that runs much "
        "longer keeps dead counters in Redis. The window is `window` seconds (EXPIRE counts "
        "seconds, PEXPIRE milliseconds).",
        "give a new counter the window's length: store.expire(k, window, nx=True)",
    ),
    "length": (
        "The app says how long a window is: `window` seconds, 60 in most of this check but 10 "
        "here. A limiter that writes 60 itself counts, expires and answers Retry-After for a "
        "window the app does not use.",
        "use the argument everywhere: number = int(now // window); expire(k, window, nx=True); "
        "retry_after = max(1, math.ceil((number + 1) * window - now))",
    ),
    "expire": (
        "A counter that never expires stays in Redis forever, one key per user and window. "
        "Every key the limiter writes must expire when its window is over.",
        "in one MULTI: store.pipeline(transaction=True).incr(k).expire(k, window, nx=True)"
        ".execute()",
    ),
}


def _source(module_or_name: Any) -> tuple[str, str]:
    return module_source(module_or_name, "my_limiter", "the app's instances")


class _Limiter:
    """One instance's copy of the learner's ``hit``, called with the check's store; records
    what went wrong (the app only answers 500). Each call runs on a thread of its own and is
    given ``GIVE_UP_SECONDS``: a call still running then (waiting for a lock that is never
    given back) is left behind, and every later call fails at once, so the check cannot hang."""

    def __init__(self, module: ModuleType, store: Any, setup: _Setup) -> None:
        self.function = getattr(module, "hit", None)
        self.store = store
        self.setup = setup

    def hit(self, _app_store: Any, key: str, limit: int, window: int, now: float) -> tuple:
        problems = self.setup.problems
        if not callable(self.function):
            problems.append("the module has no function hit(store, key, limit, window, now)")
            raise TypeError("no hit()")
        if self.setup.hung.is_set():
            raise TimeoutError("an earlier hit() never returned")
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["result"] = self.function(self.store, key, limit, window, now)
            except Exception as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(timeout=GIVE_UP_SECONDS)
        if worker.is_alive():
            self.setup.hung.set()
            problems.append(
                f"hit() had not returned after {GIVE_UP_SECONDS:g} s (waiting for a lock that "
                "is never released?)"
            )
            raise TimeoutError("hit() never returned")
        if "error" in outcome:
            exc = outcome["error"]
            problems.append(f"hit() raised {type(exc).__name__}: {exc} (line {error_line(exc)})")
            raise exc
        result = outcome["result"]
        if not isinstance(result, tuple | list) or len(result) != 3:
            problems.append(f"hit() returned {result!r:.80}, not (allowed, count, retry_after)")
            raise TypeError("bad result")
        allowed, count, retry_after = result
        whole = is_number(count) and float(count).is_integer()
        if not whole or not is_number(retry_after) or not math.isfinite(retry_after):
            problems.append(
                f"hit() returned count={count!r:.40}, retry_after={retry_after!r:.40}: "
                "both must be numbers (count a whole one)"
            )
            raise TypeError("bad result")
        return bool(allowed), int(count), retry_after


@dataclass
class _Phase:
    """A Redis of one phase: its clock and window, when it began (real time), and the keys
    the limiter left in it with their TTLs, read right after the phase (:meth:`_Setup.measure`)
    so a key with too short a TTL is seen before it is gone."""

    server: fakeredis.FakeServer
    clock: Callable[[], float]
    window: int
    began: float = field(default_factory=time.monotonic)
    held: float = 0.0  # the clock when the phase began: it has not moved if it still says so
    keys: list[tuple[str, int, str]] | None = None  # (key, TTL, what is wrong with it or "")

    def __post_init__(self) -> None:
        self.held = self.clock()


class _Setup:
    """The learner's module, compiled once, and a Redis of the check's own for each phase."""

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path = name, path
        self.code = compile_file(path)
        self.phases: list[_Phase] = []
        self.problems: list[str] = []
        self.hung = threading.Event()  # a call of hit() never returned: the check stops

    @property
    def servers(self) -> list[fakeredis.FakeServer]:
        return [phase.server for phase in self.phases]

    def new_server(self, config: dict[str, Any]) -> fakeredis.FakeServer:
        """A Redis for a phase that runs the app with ``config`` (its clock and window)."""
        server = fakeredis.FakeServer()
        self.phases.append(_Phase(server, config["CLOCK"], config["RATE_WINDOW"]))
        return server

    def measure(self) -> None:
        """Read the keys of the phases that ran since the last call, and judge their TTLs on
        the check's clock (Redis's run on the real one): a key must live to the end of the
        window its phase is in, when the phase held its clock (less the real seconds the phase
        took, and one for rounding), and not beyond two windows, plus how far the check's clock
        runs ahead of the real one (a key set to expire at the window's end on the check's clock
        lives that much longer in real seconds)."""
        for phase in self.phases:
            if phase.keys is not None:
                continue
            store = self.connect(phase.server)
            now, window = phase.clock(), phase.window
            left = (int(now // window) + 1) * window - now
            shortest = left - (time.monotonic() - phase.began) - 1
            longest = 2 * window + 1 + max(0.0, now - time.time())
            phase.keys = []
            for key in sorted(store.keys("*")):
                ttl = store.ttl(key)
                if key.startswith("session:") or ttl == -2:  # the app's, or gone already
                    continue
                if ttl == -1:
                    wrong = " (its TTL is -1: it never expires)"
                elif ttl > longest:
                    wrong = f" (TTL {ttl} s: more than two {window} s windows)"
                elif ttl < shortest and now == phase.held:
                    wrong = (
                        f" (TTL {ttl} s: shorter than the {math.ceil(left)} s left in its window)"
                    )
                else:
                    wrong = ""
                phase.keys.append((key, ttl, wrong))

    @staticmethod
    def connect(server: fakeredis.FakeServer) -> Any:
        return fakeredis.FakeRedis(server=server, decode_responses=True)

    def factory(self, server: fakeredis.FakeServer) -> Callable[..., Any]:
        """``create_app`` for a cluster on ``server``: every instance gets its own copy of the
        module."""

        def create_app(instance_id: str = "A", redis: Any = None, config: Any = None) -> Any:
            module = fresh_copy(self.name, self.path, self.code)
            limiter = _Limiter(module, self.connect(server), self)
            config = {**(config or {}), "LIMITER": limiter}
            app = quota_app.create_app(instance_id, redis=self.connect(server), config=config)
            return app

        return create_app

    def cluster(self, instances: int, config: dict[str, Any]) -> LocalCluster:
        return LocalCluster(self.factory(self.new_server(config)), instances, config=config)


def _config(limit: int, clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """The quota app's settings for a phase: ``limit`` per ``WINDOW``, the apps' clock held (by
    default 1 s into the next window)."""
    return {
        "RATE_LIMIT": limit,
        "RATE_WINDOW": WINDOW,
        "CLOCK": clock or quota_app.HeldClock.in_next_window(WINDOW, 1.0),
        "SECRET_KEY": "exercise-08",
    }


def _log_in(client: Any, user: str = USER) -> None:
    answer = client.post("/login", json=login_body(user))
    if answer.status_code != 200:  # pragma: no cover - the demo users always log in
        raise RuntimeError(f"login failed: {answer.status_code}")


def _problem(setup: _Setup) -> str:
    """What the learner's code did wrong last, for a line (the app itself only said 500)."""
    return f": {setup.problems[-1]}" if setup.problems else ""


def _remaining(answer: Any) -> int | None:
    return answer.get_json()["remaining"] if answer.status_code == 200 else None


def _exact(report: CheckReport, setup: _Setup, instances: int) -> None:
    """Sequential requests of one user through round robin: exactly the limit, 9 ... 0."""
    cluster = setup.cluster(instances, _config(LIMIT))
    client = cluster.client()
    _log_in(client)
    answers = [client.get("/quota") for _ in range(REQUESTS)]
    statuses = [a.status_code for a in answers]
    where = "1 instance" if instances == 1 else f"{instances} instances (round robin)"
    if any(s not in (200, 429) for s in statuses):
        report.expect(
            False,
            f"{where}: GET /quota answered {sorted(set(statuses))}{_problem(setup)}",
            *HINTS["result"],
        )
        return
    remaining = [a.get_json()["remaining"] for a in answers if a.status_code == 200]
    allowed = len(remaining)
    ok = (
        allowed == LIMIT
        and remaining == list(range(LIMIT - 1, -1, -1))
        and statuses[:LIMIT] == [200] * LIMIT
    )
    detail = ""
    if allowed != LIMIT:
        detail = f" (got {allowed} through)"
    elif not ok:
        detail = f" (remaining went {', '.join(map(str, remaining))})"
    hint = HINTS["exact"] if instances == 1 or allowed < LIMIT else HINTS["shared"]
    report.expect(
        ok,
        f"{where}: exactly {LIMIT} of {REQUESTS} requests get through, remaining "
        f"{LIMIT - 1} … 0{detail}",
        *hint,
    )


def _concurrent(report: CheckReport, setup: _Setup) -> None:
    """8 clients of one user at once on 3 instances: still exactly the limit."""
    cluster = setup.cluster(3, _config(LIMIT))
    first = cluster.client()
    _log_in(first)
    statuses: list[int] = []
    remaining: list[int] = []
    barrier = threading.Barrier(CLIENTS)

    def send() -> None:
        browser = cluster.client()
        browser.cookies.update(first.cookies)
        barrier.wait(timeout=GIVE_UP_SECONDS)
        for _ in range(PER_CLIENT):
            answer = browser.get("/quota")
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                remaining.append(answer.get_json()["remaining"])

    threads = [threading.Thread(target=send, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 2 * GIVE_UP_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    total = CLIENTS * PER_CLIENT
    if any(thread.is_alive() for thread in threads):
        report.expect(
            False,
            f"{CLIENTS} concurrent clients on 3 instances: {len(statuses)} of {total} requests "
            f"answered, the others still waiting after {2 * GIVE_UP_SECONDS:g} s",
            *HINTS["hang"],
        )
        return
    allowed = statuses.count(200)
    ok = allowed == LIMIT and sorted(remaining) == list(range(LIMIT)) and len(statuses) == total
    detail = "" if ok else f" (got {allowed} through{_problem(setup) if 500 in statuses else ''})"
    report.expect(
        ok,
        f"{CLIENTS} concurrent clients on 3 instances: exactly {LIMIT} of {total} get "
        f"through{detail}",
        *(HINTS["shared"] if allowed > 3 * LIMIT - 1 else HINTS["atomic"]),
    )


def _race(report: CheckReport, setup: _Setup) -> None:
    """A and B count one user's requests at the same moment, twice: at the window's first
    request and at its last slot. B's whole request runs right after A's limiter's nth store
    call, for n = 1, 2, ... (a fresh Redis each time), until a run goes wrong or B came after
    A's last call (:func:`labs.interleaving.each_gap`): a read-then-write anywhere in hit()
    loses B's update."""
    for used, story in (
        (0, "A and B count a user's first two requests of a window at the same moment"),
        (SMALL_LIMIT - 1, "A and B count a user's last free slot at the same moment"),
    ):
        runs = _each_gap(setup, used)
        race, answers = runs[-1]
        if race.stuck:
            report.expect(
                False,
                f"{story}: B's request was still waiting {GIVE_UP_SECONDS:g} s after A's had "
                "been answered",
                *HINTS["hang"],
            )
            continue
        statuses = [status for status, _ in answers]
        if any(status not in (200, 429) for status in statuses):
            report.expect(False, f"{story}: answered {statuses}{_problem(setup)}", *HINTS["atomic"])
            continue
        allowed = sorted(remaining for status, remaining in answers if status == 200)
        ok = _counted_once(answers)
        between = f"; B's request ran {race.gap}" if race.inside else ""
        if used == 0:
            message = f"{story}: each is counted once"
            if not ok:
                first, second = (remaining for _, remaining in answers[:2])
                message += (
                    f" (remaining answered {first} and {second}; {len(allowed)} got through a "
                    f"limit of {SMALL_LIMIT}{between})"
                )
        else:
            message = f"{story}: at most {SMALL_LIMIT} must get through"
            if len(allowed) > SMALL_LIMIT:
                message += f" (got {len(allowed)}{between})"
            elif not ok:
                message += f" (got {len(allowed)}, with a slot still free{between})"
        if ok and any(earlier.waited for earlier, _ in runs):
            message += " (B waited for A)"
        if ok or race.inside:
            hint = HINTS["atomic"]
        else:  # B came after A: the counts are not shared (or not counted at all)
            hint = HINTS["shared"] if len(allowed) > SMALL_LIMIT else HINTS["exact"]
        report.expect(ok, message, *hint)


def _each_gap(setup: _Setup, used: int) -> list[tuple[_Race, list[tuple[int, int | None]]]]:
    """The race for each gap (n = 1, 2, ...) until one goes wrong or B came after A: the races
    run and their answers."""
    runs: list[tuple[_Race, list[tuple[int, int | None]]]] = []

    def run(nth: int) -> tuple[bool, bool]:
        race = _Race(setup, used, nth)
        runs.append((race, race.run()))
        if race.stuck or setup.hung.is_set():
            return False, race.inside
        return _counted_once(runs[-1][1]), race.inside

    each_gap(run)
    return runs


def _counted_once(answers: list[tuple[int, int | None]]) -> bool:
    """The race's answers let exactly the limit through, remaining 2, 1, 0 in some order."""
    allowed = sorted(remaining for status, remaining in answers if status == 200)
    return all(status in (200, 429) for status, _ in answers) and allowed == list(
        range(SMALL_LIMIT)
    )


class _Race:
    """``used`` requests on instances A and B, then the two at once, then more until the
    window's slots are surely gone. B's raced request runs on a thread of its own, started
    right after the ``nth`` store call of A's limiter (or after A's request, when it makes
    fewer): if it is still running after ``BLOCKED_SECONDS`` it waits for A, and A goes on."""

    def __init__(self, setup: _Setup, used: int, nth: int) -> None:
        self.setup, self.used, self.nth = setup, used, nth
        self.config = _config(SMALL_LIMIT)
        self.server = setup.new_server(self.config)
        self.inside = False  # B ran between two store calls of A's limiter
        self.gap = ""  # which: "between A's read and its write", ...
        self.waited = False  # B was still running when A went on, and finished after A
        self.stuck = False  # B was still running GIVE_UP_SECONDS after A had finished
        self.thread: threading.Thread | None = None

    def run(self) -> list[tuple[int, int | None]]:
        factory = self.setup.factory(self.server)
        app_a, app_b = factory("A", config=self.config), factory("B", config=self.config)
        on_a, on_b = app_a.test_client(), app_b.test_client()
        _log_in(on_a)
        on_b.set_cookie("session", on_a.get_cookie("session").value)
        answers: list[Any] = [(on_a, on_b)[i % 2].get("/quota") for i in range(self.used)]
        limiter_a = app_a.config["LIMITER"]
        store_a = limiter_a.store = AfterCommand(limiter_a.store, self.nth)  # counts from here
        raced: list[Any] = []
        store_a.arm(lambda: self._start_b(lambda: raced.append(on_b.get("/quota"))))
        answers.append(on_a.get("/quota"))
        self.inside = store_a.fired and store_a.calls > self.nth
        if self.inside:
            after = store_a.made[self.nth - 1]
            self.gap = (
                "between A's read and its write"
                if after in READS
                else f"between A's {after.upper()} and its next store call"
            )
        store_a.fire()  # A's hit made fewer calls: B's request comes right after it
        if self.thread is not None:
            self.thread.join(timeout=GIVE_UP_SECONDS + BLOCKED_SECONDS)
            if self.thread.is_alive():  # hit() gives up sooner: a backstop
                self.stuck = True
                self.setup.connect(self.server).flushall()  # let go of any lock B waits for
                self.thread.join(timeout=BLOCKED_SECONDS)
                return []
        answers += raced
        more = SMALL_LIMIT + 1 - len(answers)
        answers += [(on_a, on_b)[i % 2].get("/quota") for i in range(more)]
        return [(a.status_code, _remaining(a)) for a in answers]

    def _start_b(self, request_b: Callable[[], Any]) -> None:
        self.thread = threading.Thread(target=request_b, daemon=True)
        self.thread.start()
        self.thread.join(timeout=BLOCKED_SECONDS)
        self.waited = self.thread.is_alive()


def _users(report: CheckReport, setup: _Setup) -> None:
    """alice uses her quota (and one more); bob still has all of his own."""
    cluster = setup.cluster(1, _config(SMALL_LIMIT))
    alice, bob = cluster.client(), cluster.client()
    _log_in(alice)
    _log_in(bob, OTHER_USER)
    spent = [alice.get("/quota") for _ in range(SMALL_LIMIT + 1)]
    answers = [bob.get("/quota") for _ in range(SMALL_LIMIT)]
    expected = list(range(SMALL_LIMIT - 1, -1, -1))
    got = [_remaining(a) if a.status_code == 200 else a.status_code for a in answers]
    ok = got == expected
    shown = ", ".join(map(str, expected))
    detail = "" if ok else f" (got {', '.join(map(str, got))}{_problem(setup)})"
    report.expect(
        ok,
        f"{OTHER_USER} has a quota of his own: after {USER} used her {SMALL_LIMIT}, his first "
        f"{SMALL_LIMIT} get through, remaining {shown}{detail}",
        *(HINTS["users"] if any(a.status_code == 200 for a in spent) else HINTS["exact"]),
    )


def _windows(report: CheckReport, setup: _Setup) -> bool:
    """On the check's clock: a client that keeps retrying gets in when the next window starts;
    Retry-After is the whole seconds left; a client that waits it out gets through. Returns
    whether all of it held."""
    clock = quota_app.HeldClock.in_next_window(WINDOW, 1.0)
    cluster = setup.cluster(1, _config(SMALL_LIMIT, clock))
    client = cluster.client()
    _log_in(client)
    for _ in range(SMALL_LIMIT):
        client.get("/quota")
    retries: list[Any] = []
    for moment in RETRY_MOMENTS:
        clock.at(moment)
        retries.append(client.get("/quota"))
    clock.at(WINDOW)  # the next window's first moment
    first = client.get("/quota")
    held = report.expect(
        _remaining(first) == SMALL_LIMIT - 1,
        f"a client that keeps retrying to the end of a window gets in when the next one starts: "
        f"200, remaining {SMALL_LIMIT - 1}{_got(first, setup)}",
        *HINTS["window"],
    )
    expected = [math.ceil(WINDOW - moment) for moment in RETRY_MOMENTS]
    got = [_retry_after(answer) for answer in retries]
    moments = ", ".join(f"{m:.1f} s → {e}" for m, e in zip(RETRY_MOMENTS, expected, strict=True))
    held &= report.expect(
        got == expected,
        f"Retry-After is the whole seconds left in the window: refused {moments}"
        + ("" if got == expected else f" (got {', '.join(map(str, got))})"),
        *HINTS["retry"],
    )
    clock = quota_app.HeldClock.in_next_window(WINDOW, WAIT_MOMENT)
    cluster = setup.cluster(1, _config(SMALL_LIMIT, clock))
    client = cluster.client()
    _log_in(client)
    answers = [client.get("/quota") for _ in range(SMALL_LIMIT + 1)]
    wait = _retry_after(answers[-1])
    if not isinstance(wait, int):
        report.expect(
            False,
            f"refused {WAIT_MOMENT} s into a {WINDOW} s window, request {SMALL_LIMIT + 1} of a "
            f"limit of {SMALL_LIMIT} answered {wait}{_problem(setup)}",
            *HINTS["exact"],
        )
        return False
    clock.advance(wait)
    after = client.get("/quota")
    return held & report.expect(
        _remaining(after) == SMALL_LIMIT - 1,
        f"refused {WAIT_MOMENT} s into a {WINDOW} s window, a client that waits its Retry-After "
        f"({wait} s) gets through: 200, remaining {SMALL_LIMIT - 1}{_got(after, setup)}",
        *HINTS["retry"],
    )


def _short_window(report: CheckReport, setup: _Setup) -> None:
    """The same with a window of ``SHORT_WINDOW`` seconds: refused 1 s into it, Retry-After is
    the rest of it, and the next one lets the client in (still inside the same 60 s window, so
    a limiter that counts, expires or answers in 60 s windows whatever ``window`` says is
    caught). Run when the 60 s windows were right, and a line only when it fails: the report of
    a right answer, and the lesson's stored one of the starter, read as they did."""
    clock = _short_clock()
    config = {**_config(SMALL_LIMIT, clock), "RATE_WINDOW": SHORT_WINDOW}
    client = setup.cluster(1, config).client()
    _log_in(client)
    wait = _retry_after([client.get("/quota") for _ in range(SMALL_LIMIT + 1)][-1])
    clock.at(SHORT_WINDOW)
    after = client.get("/quota")
    seen = []
    if wait != SHORT_WINDOW - 1:
        seen.append(f"Retry-After {wait}" if isinstance(wait, int) else f"answered {wait}")
    if _remaining(after) != SMALL_LIMIT - 1:
        seen.append(f"the next window: {_got(after, setup).strip(' ()')}")
    if seen:
        report.expect(
            False,
            f"with a {SHORT_WINDOW} s window: refused 1.0 s into it, Retry-After "
            f"{SHORT_WINDOW - 1}; when the next one starts, 200, remaining {SMALL_LIMIT - 1} "
            f"(got {'; '.join(seen)})",
            *HINTS["length"],
        )


def _short_clock() -> quota_app.HeldClock:
    """Held 1 s into the next ``SHORT_WINDOW`` of the real clock whose follower starts inside
    the same ``WINDOW`` (one later when it would not)."""
    start = (math.floor(time.time() / SHORT_WINDOW) + 1) * SHORT_WINDOW
    if (start + SHORT_WINDOW) % WINDOW == 0:
        start += SHORT_WINDOW
    clock = quota_app.HeldClock(start)
    clock.at(1.0)
    return clock


def _retry_after(answer: Any) -> int | str:
    """A refused answer's Retry-After (an int), else what came instead."""
    if answer.status_code != 429:
        return f"{answer.status_code} instead of 429"
    return int(answer.headers["Retry-After"])


def _got(answer: Any, setup: _Setup) -> str:
    if answer.status_code == 200:
        remaining = answer.get_json()["remaining"]
        return "" if remaining == SMALL_LIMIT - 1 else f" (got 200, remaining {remaining})"
    problem = _problem(setup) if answer.status_code == 500 else ""
    return f" (got {answer.status_code}{problem})"


def _keys(report: CheckReport, setup: _Setup) -> None:
    """The count is in Redis, and every key the limiter wrote lives to the end of its window
    and expires within two (read after each phase, :meth:`_Setup.measure`). One line per key
    name, at most ``KEY_LINES``: the names with a wrong TTL, if there are any."""
    setup.measure()
    keys = [key for phase in setup.phases for key in phase.keys or []]
    names = sorted({key for key, _, _ in keys})
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    report.expect(
        bool(keys),
        f"the counts are kept in Redis ({'keys: ' + shown if keys else 'no key in Redis'})",
        *HINTS["shared"],
    )
    wrong: dict[str, str] = {}  # each key name (in the order seen), what is wrong with it first
    for key, _, note in keys:
        if not wrong.get(key):
            wrong[key] = note
    named = [key for key in wrong if wrong[key]] or list(wrong)  # the wrong ones, if any
    for key in named[:KEY_LINES]:
        note = wrong[key]
        hint = HINTS["expire"] if "never expires" in note else HINTS["ttl"]
        report.expect(not note, f"key {key} expires with its window{note}", *hint)


def check_shared_limiter(module_or_name: Any, *, hint: bool = False) -> CheckReport:
    """Run the limiter module ``module_or_name`` (``'my_limiter'``) in the quota app on 1 and
    3 instances, with concurrent clients, a forced interleaving and a clock it moves; report
    ✓/✗ per property."""
    report = CheckReport(TITLE, closer=hint)
    try:
        name, path = _source(module_or_name)
    except NotRunnable as why:
        report.expect(False, f"cannot run it: {why}", *HINTS["module"])
        return report.show()
    setup = report.attempt(f"load {name}", lambda: _Setup(name, path), *HINTS["module"])
    if setup is None:
        return report.show()
    copy = report.attempt(
        f"import {name}", lambda: fresh_copy(name, path, setup.code), *HINTS["module"]
    )
    if copy is None:
        return report.show()
    if not callable(getattr(copy, "hit", None)):
        report.expect(
            False, f"{name} has a function hit(store, key, limit, window, now)", *HINTS["result"]
        )
        return report.show()
    # The report says what went wrong, not a traceback in the app's log. (Every app built on the
    # stateless app shares its logger: silence it for the check only.)
    with _silenced(logging.getLogger(quota_app.stateless_app.__name__)):
        _run_phases(report, setup)
    return report.show()


@contextlib.contextmanager
def _silenced(logger: logging.Logger) -> Iterator[None]:
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def _run_phases(report: CheckReport, setup: _Setup) -> None:
    phases = [
        lambda: _exact(report, setup, 1),
        lambda: _exact(report, setup, 3),
        lambda: _concurrent(report, setup),
        lambda: _race(report, setup),
        lambda: _users(report, setup),
        lambda: _windows(report, setup) and _short_window(report, setup),
        lambda: _keys(report, setup),
    ]
    for phase in phases:
        report.attempt("the check", phase, *HINTS["shared"])
        setup.measure()  # the keys' TTLs now, before a short one runs out
        if setup.hung.is_set():  # the root cause of whatever failed: say so, and stop
            report.hint, report.code_hint = HINTS["hang"]
            for server in setup.servers:  # let go of the locks a left-behind call waits for
                setup.connect(server).flushall()
            break
