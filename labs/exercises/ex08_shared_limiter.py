"""Lesson 08 exercise: make the rate limiter shared.

The learner writes a limiter *module* in the notebook (``%%writefile my_limiter.py``) with one
function, the interface of ``labs/apps/quota_app.py``::

    def hit(store, key, limit, window, now) -> (allowed, count, retry_after)

The starter below counts in a dict of the process, so behind three instances a user gets three
times the limit. The check runs the learner's module *inside the quota app*, each instance
loading its own copy of the module (as separate processes would, so a module-level dict is not
shared by accident), all instances sharing one Redis of the check's own, and reports each
property:

* exactly the limit gets through behind 1 instance and behind 3 (round robin), and the
  remaining counts go 9, 8, ... 0;
* exactly the limit under 8 concurrent clients (threads) on 3 instances;
* two instances taking the last slot at the same moment: deterministically, B's whole request
  runs right after A's limiter first *reads* from Redis (the interleaving client of
  ``labs/exercises/ex02_cart_in_redis.py``), so a read-then-write counts one slot twice, and an
  atomic count (``INCR`` in ``MULTI``, a Lua script, ``SET NX`` + ``INCR``) does not;
* ``Retry-After``: whole seconds from 1 to the window, and a client that waits that long gets
  through (on the real clock, with a 1 s window);
* the count is in Redis, and every key the limiter writes expires (within two windows).

The other phases hold the app's clock still at the start of a window, so none can end midway.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import fakeredis

from labs.apps import quota_app
from labs.apps.users import demo_password
from labs.checking import CheckReport, is_number
from labs.cluster import LocalCluster
from labs.exercises.ex02_cart_in_redis import Interleaving

STARTER = '''\
# EXERCISE STARTER: this limiter counts in the instance's own memory. Make it count in Redis.
import math

COUNTS = {}  # (key, window number) -> requests counted   <- state that lives in this process!


def hit(store, key, limit, window, now):
    """Count one request of `key` in the fixed window of `window` seconds that holds `now`.

    store: the Redis client that every instance shares; key: the user's key ("quota:alice");
    limit: the requests allowed per window; now: seconds since the epoch (a float).
    Return (allowed, count, retry_after): is this request within the limit; how many requests
    this window has counted, this one included when allowed; the whole seconds until the
    window ends, at least 1.
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
RACE_LIMIT = 3
CLIENTS, PER_CLIENT = 8, 5
USER = "alice"
READS = frozenset(
    {"get", "mget", "exists", "ttl", "pttl", "hget", "hgetall", "hmget", "type", "scard"}
    | {"zcard", "zcount", "zrange", "zrangebyscore", "lrange", "llen", "getex"}
)
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
        "count, _ = store.pipeline(transaction=True).incr(k).expire(k, window).execute()",
    ),
    "retry": (
        "A refused request says when to come back: Retry-After, the whole seconds until the "
        "window ends (at least 1). A client that waits that long must get through.",
        "retry_after = max(1, math.ceil((int(now // window) + 1) * window - now))",
    ),
    "expire": (
        "A counter that never expires stays in Redis forever, one key per user and window. "
        "Every key the limiter writes must expire when its window is over.",
        "in one MULTI: store.pipeline(transaction=True).incr(k).expire(k, window).execute()",
    ),
}


class NotRunnable(Exception):
    """The check was given something the app's instances cannot import."""


def _source(module_or_name: Any) -> tuple[str, str]:
    """``(module name, path of its file)``, or :class:`NotRunnable` saying why not."""
    if isinstance(module_or_name, ModuleType):
        path = getattr(module_or_name, "__file__", None)
        if not path or module_or_name.__name__ == "__main__":
            raise NotRunnable(
                f"module {module_or_name.__name__} has no file that another process could load"
            )
        return module_or_name.__name__, path
    if not isinstance(module_or_name, str):
        kind = type(module_or_name).__name__
        name = getattr(module_or_name, "__name__", repr(module_or_name))[:60]
        raise NotRunnable(
            f"got a {kind} ({name}) defined in the notebook, not a module: the app's instances "
            "cannot import it. Write the limiter to a file (%%writefile my_limiter.py) and pass "
            "its module name, 'my_limiter'"
        )
    name = module_or_name.removesuffix(".py")
    if not all(part.isidentifier() for part in name.split(".")):
        raise NotRunnable(f"{module_or_name!r} is not a module name (like 'my_limiter')")
    importlib.invalidate_caches()  # the file may have been written a moment ago
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise NotRunnable(
            f"no module {name!r} found: run the cell that writes {name.replace('.', '/')}.py "
            "(%%writefile), next to the notebook"
        )
    return name, spec.origin


def _compile(path: str) -> CodeType:
    """The module's code, read from its file now (not the import cache: the file may be new)."""
    return compile(Path(path).read_text(encoding="utf-8"), path, "exec")


def _fresh_copy(name: str, path: str, code: CodeType) -> ModuleType:
    """A private copy of the module: what one more process importing it would have."""
    module = ModuleType(name)
    module.__file__ = path
    exec(code, module.__dict__)
    return module


def _line(exc: BaseException) -> int | None:
    frames = traceback.extract_tb(exc.__traceback__)
    return frames[-1].lineno if frames else None


class _Limiter:
    """One instance's copy of the learner's ``hit``, called with the check's store; records
    what went wrong (the app only answers 500)."""

    def __init__(self, module: ModuleType, store: Any, problems: list[str]) -> None:
        self.function = getattr(module, "hit", None)
        self.store = store
        self.problems = problems
        self.retry_afters: list[Any] = []

    def hit(self, _app_store: Any, key: str, limit: int, window: int, now: float) -> tuple:
        if not callable(self.function):
            self.problems.append("the module has no function hit(store, key, limit, window, now)")
            raise TypeError("no hit()")
        try:
            result = self.function(self.store, key, limit, window, now)
        except Exception as exc:
            self.problems.append(f"hit() raised {type(exc).__name__}: {exc} (line {_line(exc)})")
            raise
        if not isinstance(result, tuple | list) or len(result) != 3:
            self.problems.append(
                f"hit() returned {result!r:.80}, not (allowed, count, retry_after)"
            )
            raise TypeError("bad result")
        allowed, count, retry_after = result
        whole = is_number(count) and float(count).is_integer()
        if not whole or not is_number(retry_after) or not math.isfinite(retry_after):
            self.problems.append(
                f"hit() returned count={count!r:.40}, retry_after={retry_after!r:.40}: "
                "both must be numbers (count a whole one)"
            )
            raise TypeError("bad result")
        if not allowed:
            self.retry_afters.append(retry_after)
        return bool(allowed), int(count), retry_after


class _Setup:
    """The learner's module, compiled once, and one Redis of the check's own."""

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path = name, path
        self.code = _compile(path)
        self.server = fakeredis.FakeServer()
        self.problems: list[str] = []
        self.limiters: list[_Limiter] = []

    def connect(self) -> Any:
        return fakeredis.FakeRedis(server=self.server, decode_responses=True)

    def factory(self, wrap: Callable[[Any], Any] = lambda store: store) -> Callable[..., Any]:
        """``create_app`` for a cluster: every instance gets its own copy of the module."""

        def create_app(instance_id: str = "A", redis: Any = None, config: Any = None) -> Any:
            limiter = _Limiter(
                _fresh_copy(self.name, self.path, self.code), wrap(self.connect()), self.problems
            )
            self.limiters.append(limiter)
            app = quota_app.create_app(
                instance_id, redis=self.connect(), config={**(config or {}), "LIMITER": limiter}
            )
            app.logger.disabled = True  # the report says what went wrong, not a traceback
            return app

        return create_app


def _config(prefix: str, limit: int, window: int, clock: Callable[[], float]) -> dict[str, Any]:
    return {
        "RATE_LIMIT": limit,
        "RATE_WINDOW": window,
        "KEY_PREFIX": prefix,
        "CLOCK": clock,
        "SECRET_KEY": "exercise-08",
    }


def _held_clock(window: int) -> Callable[[], float]:
    """The start of the next window (plus 1 s), held still: no window ends during a phase."""
    moment = (math.floor(time.time() / window) + 1) * window + 1.0
    return lambda: moment


def _log_in(client: Any) -> None:
    answer = client.post("/login", json={"username": USER, "password": demo_password(USER)})
    if answer.status_code != 200:  # pragma: no cover - the demo user always logs in
        raise RuntimeError(f"login failed: {answer.status_code}")


def _problem(setup: _Setup) -> str:
    """What the learner's code did wrong last, for a line (the app itself only said 500)."""
    return f": {setup.problems[-1]}" if setup.problems else ""


def _exact(report: CheckReport, setup: _Setup, instances: int) -> None:
    """Sequential requests of one user through round robin: exactly the limit, 9 ... 0."""
    prefix = f"exact{instances}:"
    cluster = LocalCluster(
        setup.factory(), instances, config=_config(prefix, LIMIT, WINDOW, _held_clock(WINDOW))
    )
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
    cluster = LocalCluster(
        setup.factory(), 3, config=_config("concurrent:", LIMIT, WINDOW, _held_clock(WINDOW))
    )
    first = cluster.client()
    _log_in(first)
    statuses: list[int] = []
    remaining: list[int] = []
    barrier = threading.Barrier(CLIENTS)

    def send() -> None:
        browser = cluster.client()
        browser.cookies.update(first.cookies)
        barrier.wait(timeout=10)
        for _ in range(PER_CLIENT):
            answer = browser.get("/quota")
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                remaining.append(answer.get_json()["remaining"])

    threads = [threading.Thread(target=send) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    total = CLIENTS * PER_CLIENT
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
    request and at its last slot. B's whole request runs right after A's limiter first reads
    from Redis (or right after A's, when it reads nothing)."""
    for used, story in (
        (0, "A and B count a user's first two requests of a window at once"),
        (
            RACE_LIMIT - 1,
            f"{RACE_LIMIT - 1} of {RACE_LIMIT} used, A and B take the last slot at once",
        ),
    ):
        story += " (B's request lands between A's read and A's write)"
        answers = _interleaved(setup, f"race{used}:", used)
        statuses = [status for status, _ in answers]
        if any(status not in (200, 429) for status in statuses):
            report.expect(False, f"{story}: answered {statuses}{_problem(setup)}", *HINTS["atomic"])
            continue
        allowed = sorted(remaining for status, remaining in answers if status == 200)
        ok = allowed == list(range(RACE_LIMIT))
        if ok:
            detail = ": each is counted once"
        elif len(allowed) > RACE_LIMIT:
            detail = f": {len(allowed)} got through a limit of {RACE_LIMIT} (a count was lost)"
        elif len(allowed) < RACE_LIMIT:
            detail = f": only {len(allowed)} got through a limit of {RACE_LIMIT}"
        else:
            detail = f": remaining answered {sorted(allowed, reverse=True)} (a count was lost)"
        report.expect(ok, story + detail, *HINTS["atomic"])


def _interleaved(setup: _Setup, prefix: str, used: int) -> list[tuple[int, int | None]]:
    """``used`` requests, the two at once, then more until the window's slots are surely gone:
    ``(status, remaining)`` of every request."""
    factory = setup.factory(wrap=_ReadsInterleaving)
    config = _config(prefix, RACE_LIMIT, WINDOW, _held_clock(WINDOW))
    app_a, app_b = factory("A", config=config), factory("B", config=config)
    on_a, on_b = app_a.test_client(), app_b.test_client()
    _log_in(on_a)
    on_b.set_cookie("session", on_a.get_cookie("session").value)
    answers: list[Any] = [(on_a, on_b)[i % 2].get("/quota") for i in range(used)]
    store_a = app_a.config["LIMITER"].store
    raced: list[Any] = []
    store_a.arm(lambda: raced.append(on_b.get("/quota")))
    answers.append(on_a.get("/quota"))
    store_a.fire()  # A's hit read nothing: B's request comes right after it
    answers += raced
    answers += [(on_a, on_b)[i % 2].get("/quota") for i in range(RACE_LIMIT + 1 - len(answers))]
    return [
        (a.status_code, a.get_json()["remaining"] if a.status_code == 200 else None)
        for a in answers
    ]


class _ReadsInterleaving(Interleaving):
    """ex02's interleaving client, firing after the reads a limiter may make (also in a
    pipeline, where a ``WATCH``-ed read returns at once)."""

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name == "pipeline":
            return lambda *args, **kwargs: _FiringPipeline(attribute(*args, **kwargs), self)
        if name not in READS or not callable(attribute):
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            self.fire()
            return value

        return read


class _FiringPipeline:
    def __init__(self, pipeline: Any, owner: Interleaving) -> None:
        self._pipeline, self._owner = pipeline, owner

    def __enter__(self) -> _FiringPipeline:
        self._pipeline.__enter__()
        return self

    def __exit__(self, *problem: Any) -> Any:
        return self._pipeline.__exit__(*problem)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        value = self._pipeline.execute(*args, **kwargs)
        self._owner.fire()
        return value

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._pipeline, name)
        if name not in READS or not callable(attribute):
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            if value is not self._pipeline:  # a WATCH-ed read returned a value: run B now
                self._owner.fire()
            return value

        return read


def _retry_after(report: CheckReport, setup: _Setup) -> None:
    """Retry-After is 1 to the window (60 s), and on the real clock (a 1 s window) a client
    that waits it out gets through."""
    values = [r for limiter in setup.limiters for r in limiter.retry_afters]
    headers_ok = bool(values) and all(1 <= math.ceil(v) <= WINDOW for v in values)
    shown = sorted({math.ceil(v) for v in values})[:5] if values else "none: nothing was refused"
    report.expect(
        headers_ok,
        f"refused requests carry Retry-After from 1 to {WINDOW} s (got {shown})",
        *HINTS["retry"],
    )
    for attempt in range(3):
        cluster = LocalCluster(
            setup.factory(), 1, config=_config(f"retry{attempt}:", 2, 1, time.time)
        )
        client = cluster.client()
        _log_in(client)
        started = time.time()
        statuses = [client.get("/quota") for _ in range(3)]
        if int(started) != int(time.time()):  # the 1 s window ended during the burst
            continue
        refused = statuses[-1]
        if [a.status_code for a in statuses] != [200, 200, 429]:
            got = [a.status_code for a in statuses]
            report.expect(
                False,
                f"limit 2 per 1 s window: 200, 200, then 429 (got {got}{_problem(setup)})",
                *HINTS["exact"],
            )
            return
        wait = int(refused.headers["Retry-After"])
        if wait > 1:
            report.expect(
                False,
                f"a 1 s window: Retry-After is 1 s (got {wait} s: the client waits too long)",
                *HINTS["retry"],
            )
            return
        time.sleep(wait + 0.05)
        after = client.get("/quota").status_code
        report.expect(
            after == 200,
            f"a client refused with Retry-After: {wait} (1 s window) waits it out and gets "
            f"through (got {after})",
            *HINTS["retry"],
        )
        return
    report.expect(False, "the 1 s window kept ending during the burst", *HINTS["retry"])


def _keys(report: CheckReport, setup: _Setup) -> None:
    """The count is in Redis, and every key the limiter wrote expires within two windows."""
    store = setup.connect()
    keys = sorted(k for k in store.keys("*") if not k.startswith("session:"))
    shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
    report.expect(
        bool(keys),
        f"the counts are kept in Redis ({'keys: ' + shown if keys else 'no key in Redis'})",
        *HINTS["shared"],
    )
    for key in keys[:6]:
        ttl = store.ttl(key)
        window = 1 if key.startswith("retry") else WINDOW
        if ttl == -1:
            note = " (its TTL is -1: it never expires)"
        elif 0 < ttl <= 2 * window + 1:
            note = ""
        else:
            note = f" (TTL {ttl} s: more than two {window} s windows)"
        report.expect(not note, f"key {key} expires with its window{note}", *HINTS["expire"])


def check_shared_limiter(module_or_name: Any, *, hint: bool = False) -> CheckReport:
    """Run the limiter module ``module_or_name`` (``'my_limiter'``) in the quota app on 1 and
    3 instances, with concurrent clients and a forced interleaving; report ✓/✗ per property."""
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
        f"import {name}", lambda: _fresh_copy(name, path, setup.code), *HINTS["module"]
    )
    if copy is None:
        return report.show()
    if not callable(getattr(copy, "hit", None)):
        report.expect(
            False, f"{name} has a function hit(store, key, limit, window, now)", *HINTS["result"]
        )
        return report.show()
    phases = [
        lambda: _exact(report, setup, 1),
        lambda: _exact(report, setup, 3),
        lambda: _concurrent(report, setup),
        lambda: _race(report, setup),
        lambda: _retry_after(report, setup),
        lambda: _keys(report, setup),
    ]
    for phase in phases:
        report.attempt("the check", phase, *HINTS["shared"])
    return report.show()
