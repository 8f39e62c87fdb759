"""Lesson 08's experiments on ``labs/apps/quota_app.py``: a rate limit multiplied by N, and a
cache you can rebuild beside a counter you cannot.

* :func:`quota_through`: one user, sequential requests, round robin over N instances: how many
  get through the limit. Deterministic: exactly N × limit with the counter in each instance's
  memory, exactly the limit with the counter in Redis. :func:`quota_by_instances` is the table.
* :func:`quota_concurrent`: concurrent clients (threads) of one user through N instances. In
  Redis the count is still exactly the limit; in memory it is N × limit *or more* (the
  instances' counters do not lock), so the result gives a :meth:`~QuotaConcurrent.verdict`
  that names a band, and the exact :meth:`~QuotaConcurrent.counts` (COURSE_DESIGN §3).
* :func:`rolling_restart`: restart the instances one by one while a client reads products and
  likes: each restart empties that instance's cache (misses, the store's latency, nothing
  lost) and, with ``state="memory"``, its like counter (the likes are gone).
* :func:`retry_after_honesty`: a refused client that waits ``Retry-After`` seconds gets
  through; one that retries a second earlier does not. On a clock the experiment moves
  (instant), or on the real clock with a window of at most 2 s.

Every experiment uses its own key prefix on the store (the §5 rule: fakeredis in this process,
or the Redis at ``REDIS_URL``), logs its user out and deletes its keys when it ends. The quota
experiments hold the app's clock still, so no window can end in the middle of one.
"""

from __future__ import annotations

import math
import secrets
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests as requests_lib

from labs.apps.quota_app import CATALOG, DEFAULT_STORE_READ_SECONDS, STATES, HeldClock
from labs.apps.users import login_body
from labs.apps.web import whole_number
from labs.cluster import LocalCluster, ProcessCluster
from labs.redis_store import connect, get_redis

USER = "alice"
MAX_INSTANCES = 26
MAX_REQUESTS = 10_000
MAX_REAL_WINDOW = 2  # seconds: the real-time Retry-After demo never waits longer


def _check(state: str, instances: int, limit: int) -> None:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    whole_number("instances", instances, 1, MAX_INSTANCES)
    whole_number("limit", limit, 1, 1000)


class _Run:
    """A quota cluster with its own key prefix, one logged-in user, and a clean-up."""

    def __init__(self, state: str, instances: int, redis: Any = None, **config: Any) -> None:
        self.store = redis if redis is not None else get_redis()
        self.prefix = f"l08-{secrets.token_hex(4)}:"
        self.cluster = LocalCluster(
            "quota",
            instances=instances,
            policy="round_robin",
            redis=self.store,
            config={"STATE": state, "KEY_PREFIX": self.prefix, **config},
        )
        self.client = self.cluster.client()
        answer = self.client.post("/login", json=login_body(USER))
        if answer.status_code != 200:  # pragma: no cover - the demo user always logs in
            raise RuntimeError(f"login failed: {answer.status_code}")
        self.cluster.reset_counts()

    def close(self) -> None:
        self.client.post("/logout")
        for key in self.store.scan_iter(match=self.prefix + "*"):
            self.store.delete(key)

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- a rate limit multiplied by N --------------------------------------------------------------


@dataclass(frozen=True)
class QuotaThrough:
    """What got through ``GET /quota``: one user, ``requests`` sequential requests."""

    state: str
    instances: int
    limit: int
    requests: int
    allowed: int  # 200s
    refused: int  # 429s
    allowed_per_instance: dict[str, int]
    retry_after: int | None  # the first 429's Retry-After, seconds

    @property
    def times_the_limit(self) -> float:
        return self.allowed / self.limit

    def summary(self) -> str:
        where = "instance memory" if self.state == "memory" else "Redis"
        return (
            f"counter in {where}, {self.instances} instance(s): {self.allowed} of "
            f"{self.requests} requests got through (limit {self.limit}: "
            f"{self.times_the_limit:g} × the limit)"
        )


def quota_through(
    instances: int = 1,
    state: str = "shared",
    limit: int = 10,
    requests: int | None = None,
    *,
    window: int = 60,
    redis: Any = None,
) -> QuotaThrough:
    """One user sends ``requests`` (default 2 × instances × limit) sequential ``GET /quota``
    through round robin over ``instances``; the clock is held still (one window)."""
    _check(state, instances, limit)
    requests = 2 * instances * limit if requests is None else requests
    whole_number("requests", requests, 1, MAX_REQUESTS)
    clock = HeldClock.in_next_window(window, 1)
    config = {"RATE_LIMIT": limit, "RATE_WINDOW": window, "CLOCK": clock}
    with _Run(state, instances, redis, **config) as run:
        allowed: Counter[str] = Counter()
        refused, retry_after = 0, None
        for _ in range(requests):
            answer = run.client.get("/quota")
            if answer.status_code == 200:
                allowed[answer.headers["X-Instance"]] += 1
            elif answer.status_code == 429:
                refused += 1
                if retry_after is None:
                    retry_after = int(answer.headers["Retry-After"])
            else:  # pragma: no cover - a bug in the app
                raise RuntimeError(f"GET /quota answered {answer.status_code}")
    per_instance = {name: allowed.get(name, 0) for name in run.cluster.instances}
    return QuotaThrough(
        state, instances, limit, requests, sum(allowed.values()), refused, per_instance, retry_after
    )


def quota_through_processes(
    instances: int = 2, state: str = "shared", limit: int = 10, requests: int | None = None
) -> QuotaThrough:
    """:func:`quota_through` on real gunicorn processes (``ProcessCluster``, the readable
    balancer, round robin): the same counts, from separate memories for real. The processes
    read the real clock, so a window of an hour is used, and a run that a window boundary cut
    in two is run again."""
    _check(state, instances, limit)
    requests = 2 * instances * limit if requests is None else requests
    whole_number("requests", requests, 1, 1000)
    window = 3600
    for _ in range(3):
        prefix = f"l08-{secrets.token_hex(4)}:"
        env = {
            "STATE": state,
            "RATE_LIMIT": str(limit),
            "RATE_WINDOW": str(window),
            "KEY_PREFIX": prefix,
        }
        with ProcessCluster("quota", instances=instances, balancer="python", env=env) as cluster:
            session = requests_lib.Session()
            login = login_body(USER)
            session.post(cluster.url + "/login", json=login, timeout=10)
            started = time.time()
            answers = [session.get(cluster.url + "/quota", timeout=10) for _ in range(requests)]
            ended = time.time()
            session.post(cluster.url + "/logout", timeout=10)
            store = connect(cluster.redis_url) if cluster.redis_url else None
            if store is not None:
                for key in store.scan_iter(match=prefix + "*"):
                    store.delete(key)
                store.close()
        if int(started // window) == int(ended // window):
            break
    allowed = Counter(a.headers["X-Instance"] for a in answers if a.status_code == 200)
    refused = [a for a in answers if a.status_code == 429]
    ids = [chr(ord("A") + i) for i in range(instances)]
    return QuotaThrough(
        state,
        instances,
        limit,
        requests,
        sum(allowed.values()),
        len(refused),
        {name: allowed.get(name, 0) for name in ids},
        int(refused[0].headers["Retry-After"]) if refused else None,
    )


def quota_by_instances(
    counts: tuple[int, ...] = (1, 2, 4, 8), limit: int = 10, *, redis: Any = None
) -> list[tuple[int, int, int]]:
    """``(instances, allowed with memory, allowed with shared)`` for each instance count."""
    return [
        (
            n,
            quota_through(n, "memory", limit, redis=redis).allowed,
            quota_through(n, "shared", limit, redis=redis).allowed,
        )
        for n in counts
    ]


@dataclass(frozen=True)
class QuotaConcurrent:
    """What got through when ``clients`` threads of one user hit ``GET /quota`` at once."""

    state: str
    clients: int
    instances: int
    limit: int
    requests: int
    allowed: int
    refused: int
    other: int  # any other status (none expected)
    allowed_per_instance: dict[str, int]
    seconds: float

    @property
    def band(self) -> tuple[int, int]:
        """What the lesson promises: exactly the limit (shared); from N × limit (the round robin
        gives every instance its share) up to every request (memory's counters do not lock)."""
        if self.state == "shared":
            return (min(self.limit, self.requests),) * 2
        per_instance = self.requests // self.instances
        return min(self.requests, self.instances * min(self.limit, per_instance)), self.requests

    @property
    def in_band(self) -> bool:
        low, high = self.band
        return low <= self.allowed <= high and self.other == 0

    def verdict(self) -> str:
        """One line that does not depend on scheduling, as long as the result is in its band."""
        low, high = self.band
        head = (
            f"{self.clients} concurrent clients, {self.instances} instances, "
            f"counter in {'Redis' if self.state == 'shared' else 'instance memory'}"
        )
        if not self.in_band:
            return f"{head}: OUTSIDE the expected band ({self.allowed} of {self.requests})"
        if self.state == "shared":
            return f"{head}: exactly the limit got through ({low} of {self.requests})"
        return (
            f"{head}: more than the limit got through ({low} to {high} of {self.requests}; "
            f"limit {self.limit})"
        )

    def counts(self) -> dict[str, Any]:
        """The exact numbers of this run (they may differ by scheduling with memory)."""
        return {
            "allowed": self.allowed,
            "refused": self.refused,
            "other": self.other,
            "allowed_per_instance": dict(self.allowed_per_instance),
            "seconds": round(self.seconds, 3),
        }


def quota_concurrent(
    clients: int = 8,
    instances: int = 4,
    state: str = "shared",
    limit: int = 10,
    requests_per_client: int = 10,
    *,
    window: int = 60,
    redis: Any = None,
) -> QuotaConcurrent:
    """``clients`` threads, one user's session each, start together (a barrier) and send
    ``requests_per_client`` ``GET /quota`` each through round robin over ``instances``."""
    _check(state, instances, limit)
    whole_number("clients", clients, 1, 64)
    whole_number("requests_per_client", requests_per_client, 1, 64)
    clock = HeldClock.in_next_window(window, 1)
    config = {"RATE_LIMIT": limit, "RATE_WINDOW": window, "CLOCK": clock}
    with _Run(state, instances, redis, **config) as run:
        statuses: list[tuple[int, str]] = []
        barrier = threading.Barrier(clients)

        def send() -> None:
            browser = run.cluster.client()
            browser.cookies.update(run.client.cookies)  # the same user, the same session
            barrier.wait(timeout=10)
            for _ in range(requests_per_client):
                answer = browser.get("/quota")
                statuses.append((answer.status_code, answer.headers["X-Instance"]))

        threads = [threading.Thread(target=send) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        seconds = time.perf_counter() - started
    allowed = Counter(instance for status, instance in statuses if status == 200)
    refused = sum(1 for status, _ in statuses if status == 429)
    return QuotaConcurrent(
        state=state,
        clients=clients,
        instances=instances,
        limit=limit,
        requests=clients * requests_per_client,
        allowed=sum(allowed.values()),
        refused=refused,
        other=len(statuses)
        - sum(allowed.values())
        - refused
        + (clients * requests_per_client - len(statuses)),
        allowed_per_instance={name: allowed.get(name, 0) for name in run.cluster.instances},
        seconds=seconds,
    )


# --- Retry-After -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryAfterResult:
    """A client refused with ``Retry-After``: what it gets a second early, and on time."""

    window: int
    limit: int
    at: float  # seconds into the window when the client was refused
    retry_after: int
    honest_retry_after: int  # whole seconds to the window's end, at least 1
    early_status: int | None  # a retry one second before Retry-After is up (None if it is 1 s)
    status_after_wait: int  # a retry after waiting Retry-After seconds
    remaining_after_wait: int | None
    waited_seconds: float
    real_time: bool

    @property
    def honest(self) -> bool:
        return (
            self.retry_after == self.honest_retry_after
            and self.early_status in (None, 429)
            and self.status_after_wait == 200
        )

    def summary(self) -> str:
        early = (
            "" if self.early_status is None else f"; {self.retry_after - 1} s: {self.early_status}"
        )
        return (
            f"refused {self.at:g} s into a {self.window} s window: Retry-After {self.retry_after} s"
            f"{early}; after waiting {self.retry_after} s: {self.status_after_wait}"
        )


def retry_after_honesty(
    window: int = 60,
    limit: int = 10,
    *,
    at: float = 45.5,
    instances: int = 2,
    state: str = "shared",
    real_time: bool = False,
    redis: Any = None,
) -> RetryAfterResult:
    """One user spends the limit ``at`` seconds into a window, is refused, retries a second
    before ``Retry-After`` is up (refused again, not counted), then after it (200).

    By default on a clock the experiment moves: instant. ``real_time=True`` waits for real, on
    the real clock: only for a window of at most 2 s (``at`` is then wherever the clock is).
    """
    _check(state, instances, limit)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a whole number of seconds >= 1, got {window!r}")
    if real_time and window > MAX_REAL_WINDOW:
        raise ValueError(f"real_time waits for real: use a window of at most {MAX_REAL_WINDOW} s")
    if not real_time and not 0 <= at < window:
        raise ValueError(f"at must be from 0 to the window ({window} s), got {at!r}")
    for _ in range(3):  # on the real clock, a window may end during the burst: try again
        result = _retry_after_once(window, limit, at, instances, state, real_time, redis)
        if result is not None:
            return result
    raise RuntimeError("the window kept ending during the burst")  # pragma: no cover


def _retry_after_once(
    window: int, limit: int, at: float, instances: int, state: str, real_time: bool, redis: Any
) -> RetryAfterResult | None:
    clock: Any = time.time if real_time else HeldClock.in_next_window(window, at)
    sleep = time.sleep if real_time else clock.advance
    config = {"RATE_LIMIT": limit, "RATE_WINDOW": window, "CLOCK": clock}
    with _Run(state, instances, redis, **config) as run:
        started = clock()
        statuses = [run.client.get("/quota") for _ in range(limit + 1)]
        refused = statuses[-1]
        if int(started // window) != int(clock() // window) or refused.status_code != 429:
            return None
        retry_after = int(refused.headers["Retry-After"])
        honest = max(1, math.ceil((int(started // window) + 1) * window - clock()))
        waited = 0.0
        early_status = None
        if retry_after >= 2:
            sleep(retry_after - 1)
            waited += retry_after - 1
            early_status = run.client.get("/quota").status_code
            sleep(1)
            waited += 1
        else:
            sleep(retry_after)
            waited += retry_after
        after = run.client.get("/quota")
        body = after.get_json(silent=True) or {}
    return RetryAfterResult(
        window=window,
        limit=limit,
        at=round(started % window, 3),
        retry_after=retry_after,
        honest_retry_after=honest,
        early_status=early_status,
        status_after_wait=after.status_code,
        remaining_after_wait=body.get("remaining"),
        waited_seconds=waited,
        real_time=real_time,
    )


# --- a cache you can rebuild, a counter you cannot -------------------------------------------


@dataclass(frozen=True)
class RestartRound:
    """The reads right after one instance restarted."""

    restarted: str
    misses: int
    hits: int
    misses_on: list[str]  # the instance of each miss
    slowest_ms: float


@dataclass(frozen=True)
class RollingRestart:
    """A rolling restart under reads of products (a cache) and likes (a counter)."""

    state: str
    instances: int
    store_read_seconds: float
    products: int
    likes_sent: int
    likes_before: dict[str, int]  # what each instance answers for GET /likes, before
    likes_after: dict[str, int]  # ... and after every instance restarted
    warm_up_misses: int
    rounds: list[RestartRound]
    wrong_records: int  # product reads that failed or answered another record
    cold_ms: list[float] = field(repr=False)
    warm_ms: list[float] = field(repr=False)

    def _known(self, seen: dict[str, int]) -> int:
        # in memory each instance holds its own part of the count; in Redis each sees all of it
        return sum(seen.values()) if self.state == "memory" else max(seen.values())

    @property
    def likes_known_before(self) -> int:
        return self._known(self.likes_before)

    @property
    def likes_lost(self) -> int:
        return self.likes_sent - self._known(self.likes_after)

    @property
    def cold_min_ms(self) -> float:
        return min(self.cold_ms)

    @property
    def warm_median_ms(self) -> float:
        return statistics.median(self.warm_ms)

    @property
    def latency_band(self) -> bool:
        """Cold reads take at least the store's read time; warm ones well under half of it."""
        store_ms = self.store_read_seconds * 1000
        return self.cold_min_ms >= store_ms and self.warm_median_ms < store_ms / 2

    def verdict(self) -> str:
        misses = ", ".join(f"{r.restarted}: {r.misses}" for r in self.rounds)
        store_ms = self.store_read_seconds * 1000
        cache = (
            f"cache: cold after each restart (misses right after restarting {misses}); "
            f"records lost: {self.wrong_records}"
        )
        latency = (
            f"latency: cold reads ≥ {store_ms:g} ms, warm reads < {store_ms / 2:g} ms: "
            f"{'yes' if self.latency_band else 'NO'}"
        )
        likes = f"likes: {self.likes_lost} of {self.likes_sent} lost"
        return "\n".join([cache, latency, likes])

    def counts(self) -> dict[str, Any]:
        """The timings of this run (they vary from run to run)."""
        return {
            "cold_min_ms": round(self.cold_min_ms, 1),
            "cold_median_ms": round(statistics.median(self.cold_ms), 1),
            "warm_median_ms": round(self.warm_median_ms, 2),
            "warm_max_ms": round(max(self.warm_ms), 2),
        }


def rolling_restart(
    state: str = "shared",
    instances: int = 3,
    likes: int = 6,
    *,
    store_read_seconds: float = DEFAULT_STORE_READ_SECONDS,
    redis: Any = None,
) -> RollingRestart:
    """Warm every instance's cache, like a product ``likes`` times, then restart the instances
    one by one (``LocalCluster.restart``: a fresh process's memory), reading every product on
    every instance and the likes after each restart."""
    _check(state, instances, 1)
    whole_number("likes", likes, 0, 1000)
    if not 0.001 <= store_read_seconds <= 0.5:
        raise ValueError("store_read_seconds must be from 0.001 to 0.5")
    cold: list[float] = []
    warm: list[float] = []
    wrong = 0

    with _Run(state, instances, redis, STORE_READ_SECONDS=store_read_seconds) as run:

        def read_all() -> list[tuple[str, str, float]]:
            """Every product from every instance: (instance, hit|miss, ms) per read."""
            nonlocal wrong
            seen = []
            for sku in CATALOG:
                for _ in run.cluster.instances:  # round robin: one read on each instance
                    started = time.perf_counter()
                    answer = run.client.get(f"/products/{sku}")
                    elapsed = (time.perf_counter() - started) * 1000
                    outcome = answer.headers.get("X-Cache", "")
                    (cold if outcome == "miss" else warm).append(elapsed)
                    if answer.status_code != 200 or answer.get_json() != CATALOG[sku]:
                        wrong += 1
                    seen.append((answer.headers["X-Instance"], outcome, elapsed))
            return seen

        def likes_seen() -> dict[str, int]:
            seen = {}
            for _ in run.cluster.instances:
                answer = run.client.get("/likes/book-1")
                seen[answer.headers["X-Instance"]] = answer.get_json()["likes"]
            return dict(sorted(seen.items()))

        warm_up = read_all()
        for _ in range(likes):
            run.client.post("/likes/book-1")
        before = likes_seen()
        rounds = []
        for name in run.cluster.instances:
            run.cluster.restart(name)
            seen = read_all()
            misses_on = [instance for instance, outcome, _ in seen if outcome == "miss"]
            rounds.append(
                RestartRound(
                    restarted=name,
                    misses=len(misses_on),
                    hits=len(seen) - len(misses_on),
                    misses_on=misses_on,
                    slowest_ms=max(ms for _, _, ms in seen),
                )
            )
        after = likes_seen()
    return RollingRestart(
        state=state,
        instances=instances,
        store_read_seconds=store_read_seconds,
        products=len(CATALOG),
        likes_sent=likes,
        likes_before=before,
        likes_after=after,
        warm_up_misses=sum(1 for _, outcome, _ in warm_up if outcome == "miss"),
        rounds=rounds,
        wrong_records=wrong,
        cold_ms=cold,
        warm_ms=warm,
    )
