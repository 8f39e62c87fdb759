"""Exercise 08's check fails on the starter, passes on the solution, catches the classic wrong
limiters (every time: the race is forced, not hoped for) and passes right limiters written
differently. Each limiter is a module file, as the notebook's ``%%writefile`` makes it."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from labs.exercises.ex08_shared_limiter import HINTS, STARTER, check_shared_limiter


@pytest.fixture
def write_limiter(module_writer):
    """``write_limiter(source)``: a module file next to the "notebook"; returns its name."""
    return module_writer("my_limiter")


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


HEADER = """\
import math

def window_end(window, now):
    number = int(now // window)
    return number, max(1, math.ceil((number + 1) * window - now))
"""

READ_THEN_WRITE = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count = int(store.get(counter) or 0)          # read ...
    if count >= limit:
        return False, count, retry_after
    store.set(counter, count + 1, ex=window)      # ... then write: another instance in between
    return True, count + 1, retry_after
"""
)

EXISTS_THEN_SET = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    if not store.exists(counter):                 # check, then act
        store.set(counter, 1, ex=window)
        count = 1
    else:
        count = store.incr(counter)
    return count <= limit, count, retry_after
"""
)

OFF_BY_ONE = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count, _ = store.pipeline(transaction=True).incr(counter).expire(counter, window).execute()
    return count < limit, count, retry_after      # one short: 9 of 10
"""
)

ONE_TOO_MANY = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count = store.incr(counter) - 1               # counts before this request
    store.expire(counter, window)
    return count <= limit, count, retry_after     # 11 of 10
"""
)

NO_EXPIRY = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    count = store.incr(f"{key}:{number}")         # atomic, but the key lives forever
    return count <= limit, count, retry_after
"""
)

LUA = (
    HEADER
    + """
SCRIPT = '''
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
'''

def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    count = store.eval(SCRIPT, 1, f"{key}:{number}", window)
    return count <= limit, count, retry_after
"""
)

SET_NX_THEN_INCR = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    store.set(counter, 0, ex=window, nx=True)     # the TTL once, when the key is new
    count = store.incr(counter)
    return count <= limit, count, retry_after
"""
)

SLIDING = """
def hit(store, key, limit, window, now):
    count = store.incr(key)                       # one key per user: no window number
    store.expire(key, window)                     # pushed back on every hit: the window slides
    return count <= limit, count, max(1, store.ttl(key))
"""

SLIDING_HONEST_CLOCK = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)  # Retry-After from `now`, but ...
    count = store.incr(key)                        # ... one key per user, its TTL pushed back
    store.expire(key, window)
    return count <= limit, count, retry_after
"""
)

TTL_WINDOW = """
def hit(store, key, limit, window, now):
    # the window starts at the user's first request and ends with the key's (real) TTL
    store.set(key, 0, ex=window, nx=True)
    count = store.incr(key)
    return count <= limit, count, max(1, store.ttl(key))
"""

RIGHT_COUNT = (
    HEADER
    + """
def right_count(store, key, window, now):
    number, _ = window_end(window, now)
    counter = f"{key}:{number}"
    count, _ = store.pipeline(transaction=True).incr(counter).expire(counter, window).execute()
    return count
"""
)

RETRY_ALWAYS_ONE = (
    RIGHT_COUNT
    + """
def hit(store, key, limit, window, now):
    count = right_count(store, key, window, now)
    return count <= limit, count, 1               # "try again in a second"
"""
)

RETRY_FLOOR = (
    RIGHT_COUNT
    + """
def hit(store, key, limit, window, now):
    count = right_count(store, key, window, now)
    left = (int(now // window) + 1) * window - now
    return count <= limit, count, max(1, math.floor(left))   # rounded down: 14.5 s -> 14
"""
)

NO_USER = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"quota:{number}"                   # one counter for everybody
    count, _ = store.pipeline(transaction=True).incr(counter).expire(counter, window).execute()
    return count <= limit, count, retry_after
"""
)

LOCKED = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    with store.lock(f"{counter}:lock", timeout=5, blocking_timeout=10):
        count = int(store.get(counter) or 0)      # a read, then a write, but under a lock
        if count >= limit:
            return False, count, retry_after
        store.set(counter, count + 1, ex=window)
    return True, count + 1, retry_after
"""
)

LOCK_NEVER_RELEASED = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    lock = store.lock(f"{counter}:lock")          # no timeout ...
    lock.acquire()
    count = int(store.get(counter) or 0)
    if count >= limit:
        return False, count, retry_after          # ... and not released on this path
    store.set(counter, count + 1, ex=window)
    lock.release()
    return True, count + 1, retry_after
"""
)

NUMPY = (
    HEADER
    + """
import numpy as np

def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    pipe = store.pipeline()
    pipe.incr(counter)
    pipe.expire(counter, window)
    count = np.int64(pipe.execute()[0])
    return count <= np.int64(limit), count, np.float64(retry_after)
"""
)

WATCH_MULTI = (
    HEADER
    + """
import redis

def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    with store.pipeline() as pipe:
        while True:
            try:
                pipe.watch(counter)
                count = int(pipe.get(counter) or 0)   # a read, but WATCHed
                if count >= limit:
                    pipe.unwatch()
                    return False, count, retry_after
                pipe.multi()
                pipe.set(counter, count + 1, ex=window)
                pipe.execute()
                return True, count + 1, retry_after
            except redis.WatchError:
                continue
"""
)


TTL_THEN_READ_THEN_WRITE = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    ttl = store.ttl(counter)                      # the first read: nothing to lose yet
    count = int(store.get(counter) or 0)          # read ...
    if count >= limit:
        return False, count, retry_after
    store.set(counter, count + 1, ex=window if ttl < 0 else ttl)   # ... then write
    return True, count + 1, retry_after
"""
)

INCR_THEN_SET = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count = store.incr(counter)                   # atomic ...
    if count == 1:
        store.set(counter, 1, ex=window)          # ... but the first one writes again
    return count <= limit, count, retry_after
"""
)

SHORT_TTL = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count = store.incr(counter)
    store.expire(counter, 5, nx=True)             # forgets the count 5 s into the window
    return count <= limit, count, retry_after
"""
)

MILLISECONDS_TTL = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count = store.incr(counter)
    store.pexpire(counter, window * 20)           # milliseconds: 1.2 s, not 60
    return count <= limit, count, retry_after
"""
)

MINUTE_NUMBER = """
import math

def hit(store, key, limit, window, now):
    number = int(now // 60)                       # the window is always a minute ...
    counter = f"{key}:{number}"
    count, _ = store.pipeline(transaction=True).incr(counter).expire(counter, window).execute()
    return count <= limit, count, max(1, math.ceil((number + 1) * window - now))
"""

MINUTE_TTL = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    count, _ = store.pipeline(transaction=True).incr(counter).expire(counter, 60).execute()
    return count <= limit, count, retry_after
"""
)

MINUTE_RETRY = (
    RIGHT_COUNT
    + """
def hit(store, key, limit, window, now):
    count = right_count(store, key, window, now)
    return count <= limit, count, max(1, math.ceil(60 - now % 60))   # a minute's seconds left
"""
)

EXPIREAT = (
    HEADER
    + """
def hit(store, key, limit, window, now):
    number, retry_after = window_end(window, now)
    counter = f"{key}:{number}"
    pipe = store.pipeline(transaction=True)
    count, _ = pipe.incr(counter).expireat(counter, (number + 1) * window).execute()
    return count <= limit, count, retry_after     # the key ends with its window on `now`
"""
)


def test_the_check_fails_on_the_starter_with_the_idea_first(write_limiter) -> None:
    report = check_shared_limiter(write_limiter(STARTER))
    assert not report.passed
    problems = failed(report)
    assert problems[0].startswith("3 instances (round robin): exactly 10 of 25")
    assert "(got 25 through)" in problems[0]
    assert any("no key in Redis" in p for p in problems)
    assert report.lines[0].ok  # behind one instance the starter is right
    assert report.hint == HINTS["shared"][0]
    assert report.code_hint not in report.text()
    # the race lines say what happened, true for a limiter that never reads Redis
    assert (
        "A and B count a user's last free slot at the same moment: at most 3 must get "
        "through (got 4)" in problems
    )
    assert not any("read" in p for p in problems)
    # its window logic is right: only the lines about sharing fail
    assert all(
        p.startswith(("3 instances", "8 concurrent", "A and B", "the counts are kept"))
        for p in problems
    ), report.text()


def test_the_check_passes_on_the_solution() -> None:
    started = time.perf_counter()
    report = check_shared_limiter("labs.solutions.ex08_shared_limiter")
    assert report.passed, report.text()
    assert len(report.lines) >= 10
    assert time.perf_counter() - started < 5


def test_a_module_object_is_as_good_as_its_name() -> None:
    import labs.solutions.ex08_shared_limiter as solution

    assert check_shared_limiter(solution).passed


@pytest.mark.parametrize("source", [READ_THEN_WRITE, EXISTS_THEN_SET], ids=["get-set", "exists"])
def test_a_read_then_write_limiter_fails_every_time(write_limiter, source: str) -> None:
    name = write_limiter(source)
    for _ in range(3):  # the interleaving is the check's, not the scheduler's
        report = check_shared_limiter(name)
        assert not report.passed
        races = [p for p in failed(report) if "at the same moment" in p]
        assert races[0].startswith("A and B count a user's first two requests"), report.text()
        assert all("; B's request ran between A's read and its write)" in p for p in races)
    assert all(  # everything that is not about concurrency is right
        "at the same moment" in p or "concurrent" in p for p in failed(report)
    ), report.text()
    assert report.hint == HINTS["atomic"][0]
    assert "INCR" in report.code_hint or "incr" in report.code_hint


@pytest.mark.parametrize(
    ("source", "got"), [(OFF_BY_ONE, "got 9 through"), (ONE_TOO_MANY, "got 11 through")]
)
def test_an_off_by_one_limit_fails_every_time(write_limiter, source: str, got: str) -> None:
    name = write_limiter(source)
    for _ in range(3):
        report = check_shared_limiter(name)
        assert not report.passed
        first = failed(report)[0]
        assert first.startswith("1 instance: exactly 10 of 25") and got in first
        assert report.hint == HINTS["exact"][0]


@pytest.mark.parametrize(
    ("source", "gap"),
    [
        (TTL_THEN_READ_THEN_WRITE, "between A's read and its write"),
        (INCR_THEN_SET, "between A's INCR and its next store call"),
    ],
    ids=["ttl-get-set", "incr-set"],
)
def test_a_gap_after_the_first_call_fails_every_time(write_limiter, source: str, gap: str) -> None:
    name = write_limiter(source)
    for _ in range(3):  # B lands after each of A's calls in turn, not only after its first read
        report = check_shared_limiter(name)
        races = [p for p in failed(report) if "at the same moment" in p]
        assert races and races[0].startswith("A and B count a user's first two requests")
        assert all(p.endswith(f"; B's request ran {gap})") for p in races), report.text()
        assert all("at the same moment" in p or "concurrent" in p for p in failed(report))
        assert report.hint == HINTS["atomic"][0]


@pytest.mark.parametrize(
    ("source", "ttl"), [(SHORT_TTL, "[45]"), (MILLISECONDS_TTL, "[01]")], ids=["5-s", "ms"]
)
def test_a_ttl_shorter_than_the_window_fails_every_time(
    write_limiter, source: str, ttl: str
) -> None:
    name = write_limiter(source)
    said = re.compile(
        rf"key quota:\w+:\d+ expires with its window "
        rf"\(TTL {ttl} s: shorter than the 59 s left in its window\)"
    )
    for _ in range(3):  # the TTLs are read after each phase, before a short one runs out
        report = check_shared_limiter(name)
        keys = [p for p in failed(report) if p.startswith("key ")]
        assert keys and all(said.fullmatch(p) for p in keys), report.text()
        assert report.hint == HINTS["ttl"][0]


def test_a_limiter_that_ignores_the_window_fails_every_time(write_limiter) -> None:
    for source, seen in (
        (MINUTE_NUMBER, r"the next window: got 429\)"),
        (MINUTE_RETRY, r"\(got Retry-After [1-5]9\)"),  # the minute's seconds left, not 9
    ):
        name = write_limiter(source)
        for _ in range(3):  # the 10 s windows are inside one minute, whenever the check runs
            report = check_shared_limiter(name)
            [problem] = failed(report)
            assert problem.startswith(
                "with a 10 s window: refused 1.0 s into it, Retry-After 9; when the next one "
                "starts, 200, remaining 2 (got"
            ), report.text()
            assert re.search(seen, problem), problem
            assert report.hint == HINTS["length"][0]
    name = write_limiter(MINUTE_TTL)
    for _ in range(3):
        report = check_shared_limiter(name)
        problems = failed(report)
        too_long = re.compile(
            r"key quota:alice:\d+ expires with its window "
            r"\(TTL (59|60) s: more than two 10 s windows\)"
        )
        assert problems and all(too_long.fullmatch(p) for p in problems), report.text()
        assert report.hint == HINTS["ttl"][0]


def test_a_key_without_expiry_fails_every_time(write_limiter) -> None:
    name = write_limiter(NO_EXPIRY)
    for _ in range(3):
        report = check_shared_limiter(name)
        problems = failed(report)
        assert problems and all("never expires" in p for p in problems), report.text()
        assert report.hint == HINTS["expire"][0]


@pytest.mark.parametrize(
    "source", [SLIDING, SLIDING_HONEST_CLOCK, TTL_WINDOW], ids=["sliding", "sliding-ceil", "ttl"]
)
def test_a_window_that_is_not_the_one_holding_now_fails_every_time(
    write_limiter, source: str
) -> None:
    name = write_limiter(source)
    for _ in range(3):  # the check's clock moves, and the keys' real TTLs do not run out
        report = check_shared_limiter(name)
        problems = failed(report)
        assert problems[0] == (
            "a client that keeps retrying to the end of a window gets in when the next one "
            "starts: 200, remaining 2 (got 429)"
        ), report.text()
        assert any("waits its Retry-After" in p and "(got 429)" in p for p in problems)
        assert all(p.startswith(("a client", "Retry-After", "refused")) for p in problems)
        assert report.hint == HINTS["window"][0]


@pytest.mark.parametrize(
    ("source", "got", "waited"),
    [(RETRY_ALWAYS_ONE, "1, 1, 1", 1), (RETRY_FLOOR, "30, 14, 1", 14)],
    ids=["always-1", "floor"],
)
def test_a_dishonest_retry_after_fails_every_time(
    write_limiter, source: str, got: str, waited: int
) -> None:
    name = write_limiter(source)
    for _ in range(3):
        report = check_shared_limiter(name)
        assert failed(report) == [
            "Retry-After is the whole seconds left in the window: refused 30.0 s → 30, "
            f"45.5 s → 15, 59.2 s → 1 (got {got})",
            f"refused 45.5 s into a 60 s window, a client that waits its Retry-After ({waited} "
            "s) gets through: 200, remaining 2 (got 429)",
        ], report.text()
        assert report.hint == HINTS["retry"][0]


def test_one_counter_for_every_user_fails_every_time(write_limiter) -> None:
    name = write_limiter(NO_USER)
    for _ in range(3):  # each phase has a Redis of its own: only the users' line fails
        report = check_shared_limiter(name)
        assert failed(report) == [
            "bob has a quota of his own: after alice used her 3, his first 3 get through, "
            "remaining 2, 1, 0 (got 429, 429, 429)"
        ], report.text()
        assert report.hint == HINTS["users"][0]


@pytest.mark.parametrize(
    "source",
    [LUA, SET_NX_THEN_INCR, NUMPY, WATCH_MULTI, EXPIREAT],
    ids=["lua", "set-nx", "numpy", "watch", "expireat"],
)
def test_right_limiters_written_differently_pass(write_limiter, source: str) -> None:
    report = check_shared_limiter(write_limiter(source))
    assert report.passed, report.text()


def test_a_right_limiter_with_a_lock_passes_and_does_not_hang(write_limiter) -> None:
    started = time.perf_counter()
    report = check_shared_limiter(write_limiter(LOCKED))
    assert report.passed, report.text()
    races = [line.message for line in report.lines if "at the same moment" in line.message]
    assert len(races) == 2 and all(m.endswith("(B waited for A)") for m in races)
    assert time.perf_counter() - started < 15  # about 1 s per race: B waits, then A goes on


def test_a_lock_never_released_is_reported_in_seconds_not_hung(write_limiter) -> None:
    before = set(threading.enumerate())
    started = time.perf_counter()
    report = check_shared_limiter(write_limiter(LOCK_NEVER_RELEASED))
    assert time.perf_counter() - started < 15
    assert not report.passed
    assert "hit() had not returned after 5 s" in failed(report)[0], report.text()
    assert report.hint == HINTS["hang"][0]
    deadline = time.monotonic() + 5  # the check let go of the lock: the left-behind call ends
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before


def hit(store, key, limit, window, now):  # what a learner defines in a notebook cell
    return True, 1, 1


class Limiter:
    def hit(self, store, key, limit, window, now):
        return True, 1, 1


@pytest.mark.parametrize("thing", [hit, Limiter, Limiter(), 42, None], ids=str)
def test_an_object_from_the_notebook_is_explained_not_run(thing: object) -> None:
    report = check_shared_limiter(thing)
    assert not report.passed
    [line] = report.lines
    assert line.message.startswith("cannot run it:") and "%%writefile" in line.message
    assert report.hint == HINTS["module"][0]


@pytest.mark.parametrize("name", ["no_such_limiter_module", "not a name", "os.path.nowhere"])
def test_a_missing_module_is_explained(name: str) -> None:
    report = check_shared_limiter(name)
    assert not report.passed
    assert report.lines[0].message.startswith("cannot run it:")


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("def hit(store, key, limit, window, now):\n    raise RuntimeError('todo')\n", "todo"),
        ("def hit(store, key, limit, window, now):\n    return None\n", "returned None"),
        ("HIT = 1\n", "has a function hit"),
        ("def hit(:\n", "SyntaxError"),
    ],
    ids=["raises", "returns-none", "no-hit", "syntax"],
)
def test_broken_code_is_reported_not_raised(write_limiter, source: str, says: str) -> None:
    report = check_shared_limiter(write_limiter(source))
    assert not report.passed
    assert says in report.text()


def test_an_edited_file_is_read_again(write_limiter, tmp_path: Path) -> None:
    name = write_limiter(NO_EXPIRY)
    assert not check_shared_limiter(name).passed
    solution = Path("labs/solutions/ex08_shared_limiter.py").read_text()
    (tmp_path / f"{name}.py").write_text(solution)  # the learner fixes it and runs the cell again
    assert check_shared_limiter(name).passed


def test_hints_come_in_two_tiers(write_limiter) -> None:
    name = write_limiter(STARTER)
    first = check_shared_limiter(name)
    assert "Closer hint" not in first.text() and "Run the check again" in first.text()
    second = check_shared_limiter(name)
    assert f"Closer hint: {second.code_hint}" in second.text()
    assert f"Closer hint: {first.code_hint}" in check_shared_limiter(name, hint=True).text()


def test_the_lesson_stores_the_starter_as_a_module_it_writes() -> None:
    from notebook_cells import starter_sources

    (source,) = starter_sources("08_hidden_state.ipynb")
    assert source.startswith("%%writefile my_limiter.py\n")
    assert source.removeprefix("%%writefile my_limiter.py\n").strip() == STARTER.strip()
