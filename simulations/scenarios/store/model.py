"""Lesson 02 at scale: what a shared store costs each request, and what a slow or absent one does.

N instances each receive Poisson traffic (``rate`` requests per second, so N × rate in all) and
spend an exponential CPU time on each request (mean ``app_ms``), one at a time, first come first
served. Where do the sessions live?

* ``store="memory"``: in the instance. A request needs nothing else (and is wrong on any other
  instance: lesson 01). Its response time is its instance's queue: M/M/1.
* ``store="shared"``: in one store that every instance calls ``calls`` times per request, one
  call after the other, each a network round trip (``rtt_ms``) plus the store's own work (an
  exponential ``store_ms``). The store serves one call at a time, first come first served, as
  Redis runs commands on one thread: the calls of all N instances queue *there*, so the store's
  load grows with N: ρ_store = N × rate × calls × store_ms.

A call that gets no answer within ``timeout_ms`` makes its request fail (the instance answers
503); the store still does the work of a call it had queued. An ``incident`` from ``incident_at``
for ``incident_for`` seconds makes the store ``slow`` (it works ``slow_factor`` times slower, a
noisy neighbour or a swapping host) or ``down`` (a call sent then waits for its timeout, then
fails). Instances wait for the store without blocking their other requests (an asynchronous
server, or threads enough): a server with a few synchronous workers fares worse, its workers all
waiting on the store while requests queue behind them.

Theory, for one call per request and no incident: the instance's output is Poisson again
(Burke's theorem) and the round trip only delays it, so the store is an M/M/1 queue too, and the
mean response time is ``app/(1 − ρ_app) + rtt + store/(1 − ρ_store)``: a tandem (Jackson)
network. With several calls per request the store's arrivals are not Poisson any more and the
same sum, ``calls × (rtt + store/(1 − ρ_store))``, is an approximation.

How a queue is simulated: a FIFO single server that is busy until ``free_at`` starts the next
job at ``max(now, free_at)`` and is then busy until that start plus the job's time: one SimPy
timeout per step, no resource objects. Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import simpy

from simulations import knobs
from simulations.engine.metrics import ResponseStats, rounded
from simulations.engine.workload import in_blocks, numpy_streams
from simulations.replications import replicate

STORES = ("memory", "shared")
INCIDENTS = ("none", "slow", "down")
BIN_SECONDS = 0.5  # the timeline's resolution (coarser when a run is long: at most MAX_BINS)
MAX_BINS = 1_000


@dataclass(frozen=True)
class StoreScenario:
    """N instances, each with its own queue, and (with ``store="shared"``) one store they all
    call. The knobs of one run."""

    instances: int = knobs.count(
        4, "instances, each receiving `rate`", high=knobs.MAX_INSTANCES, slider=(1, 16, 1)
    )
    store: str = knobs.choice(
        "shared",
        STORES,
        "where sessions live: in the instance, or in a store all instances call",
        label="sessions",
    )
    rate: float = knobs.number(
        100.0, "requests per second each instance receives", unit="req/s", slider=(10, 200, 10)
    )
    app_ms: float = knobs.number(
        4.0, "mean CPU time of a request in its instance", unit="ms", label="app time"
    )
    calls: int = knobs.count(
        1,
        "store calls per request, one after the other",
        high=100,
        slider=(1, 10, 1),
        applies=("store", ("shared",)),
        why="only a shared store is called",
    )
    store_ms: float = knobs.number(
        0.5,
        "mean time the store works on one call (one call at a time)",
        unit="ms",
        slider=(0.1, 2.0, 0.1),
        applies=("store", ("shared",)),
        label="store time",
    )
    rtt_ms: float = knobs.number(
        0.5,
        "network round trip from an instance to the store and back",
        unit="ms",
        above=False,
        slider=(0.0, 5.0, 0.25),
        applies=("store", ("shared",)),
        label="round trip",
    )
    timeout_ms: float = knobs.number(
        100.0,
        "how long an instance waits for the store before it answers 503",
        unit="ms",
        applies=("store", ("shared",)),
        label="timeout",
    )
    incident: str = knobs.choice(
        "none",
        INCIDENTS,
        "what happens to the store for a while: nothing, it slows down, or it is down",
        applies=("store", ("shared",)),
    )
    incident_at: float = knobs.number(
        10.0,
        "when the incident starts",
        unit="s",
        applies=("incident", ("slow", "down")),
        label="incident at",
    )
    incident_for: float = knobs.number(
        2.0,
        "how long the incident lasts",
        unit="s",
        slider=(0.5, 10.0, 0.5),
        applies=("incident", ("slow", "down")),
        label="lasting",
    )
    slow_factor: float = knobs.number(
        10.0,
        "how many times longer each call takes while the store is slow",
        low=1.0,
        above=False,
        high=1_000.0,
        slider=(1.0, 20.0, 1.0),
        applies=("incident", ("slow",)),
        label="slower by",
    )
    requests: int = knobs.count(20_000, "requests the run simulates", high=knobs.MAX_REQUESTS)
    warmup: int = knobs.count(
        1_000,
        "first requests left out of the response-time figures (the warm-up)",
        low=0,
        high=knobs.MAX_REQUESTS,
        metavar="W",
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        if self.warmup >= self.requests:
            raise ValueError(
                f"warmup must be below the {self.requests} requests, got {self.warmup}"
            )
        if self.store == "shared":
            knobs.work_limit(
                "store calls", self.requests * self.calls, knobs.MAX_REQUESTS, "requests or calls"
            )

    @property
    def app_load(self) -> float:
        """ρ of one instance: rate × app time."""
        return self.rate * self.app_ms / 1_000

    @property
    def store_load(self) -> float:
        """ρ of the store: all instances' calls per second × store time (0 without a store)."""
        if self.store == "memory":
            return 0.0
        return self.instances * self.rate * self.calls * self.store_ms / 1_000


def expected_response_ms(scenario: StoreScenario) -> float:
    """The mean response time queueing theory gives (exact for ``calls=1``, see the module
    docstring); ``inf`` when an instance or the store cannot keep up; ``nan`` during incidents,
    which the formula does not describe."""
    s = scenario
    if s.store == "shared" and s.incident != "none":
        return math.nan
    if s.app_load >= 1 or s.store_load >= 1:
        return math.inf
    mean = s.app_ms / (1 - s.app_load)
    if s.store == "shared":
        mean += s.calls * (s.rtt_ms + s.store_ms / (1 - s.store_load))
    return mean


@dataclass(frozen=True)
class StoreResult:
    """What the requests after the warm-up saw, and what the store did."""

    scenario: StoreScenario
    served: int  # requests answered (after the warm-up)
    failed: int  # requests answered 503: a store call timed out (after the warm-up)
    response: ResponseStats  # of the served requests, in ms
    store_share_ms: float  # of that mean: time spent on store calls (round trips included)
    app_utilization: float  # the instances' busy share, averaged
    store_utilization: float  # the store's busy share (0 without a store)
    duration: float  # seconds from the first arrival to the last answer
    timeline: tuple[tuple[float, int, int, float], ...]  # per bin of arrivals: start, served,
    # failed, mean ms

    @property
    def expected_ms(self) -> float:
        return expected_response_ms(self.scenario)

    @property
    def failure_rate(self) -> float:
        counted = self.served + self.failed
        return self.failed / counted if counted else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the measurements."""
        expected = self.expected_ms
        return rounded(
            {
                **asdict(self.scenario),
                "served": self.served,
                "failed": self.failed,
                "failure_rate": self.failure_rate,
                "mean_ms": self.response.mean,
                "p99_ms": self.response.p99,
                "store_share_ms": self.store_share_ms,
                "expected_ms": expected if math.isfinite(expected) else None,
                "app_utilization": self.app_utilization,
                "store_utilization": self.store_utilization,
                "store_load": self.scenario.store_load,
            }
        )


def run_store(*args: Any, **kwargs: Any) -> StoreResult:
    """One run; the arguments are ``StoreScenario``'s fields (``instances`` first), or one
    scenario."""
    return simulate(knobs.from_arguments(StoreScenario, args, kwargs))


def replicate_store(replications: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged: counts summed, figures averaged, and
    ``"interval"``, the 95% interval of each average (``simulations.replications``)."""
    scenario = knobs.from_arguments(StoreScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def _run_dict(scenario: StoreScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()


def by_instances(
    instance_counts: Iterable[int], replications: int = 1, **settings: Any
) -> list[dict[str, Any]]:
    """:func:`replicate_store` for each number of instances, the other ``settings`` alike."""
    return [replicate_store(replications, n, **settings) for n in instance_counts]


class _Queue:
    """A FIFO single server, busy until ``free_at``; ``busy`` adds up its working time. From
    ``slow_from`` to ``slow_until`` it works ``factor`` times slower (its speed, not the jobs:
    a job started before, or still running after, the slowdown runs at full speed there)."""

    __slots__ = ("busy", "factor", "free_at", "slow_from", "slow_until")

    def __init__(
        self, slow_from: float = math.inf, slow_until: float = math.inf, factor: float = 1.0
    ) -> None:
        self.free_at = 0.0
        self.busy = 0.0
        self.slow_from, self.slow_until, self.factor = slow_from, slow_until, factor

    def take(self, arrive: float, work: float) -> float:
        """A job arriving at ``arrive`` that needs ``work`` (at full speed): when it is done."""
        start = self.free_at if self.free_at > arrive else arrive
        self.free_at = self._finish(start, work)
        self.busy += self.free_at - start
        return self.free_at

    def _finish(self, start: float, work: float) -> float:
        if start + work <= self.slow_from or start >= self.slow_until:
            return start + work  # wholly outside the slowdown
        now = start
        if now < self.slow_from:  # full speed until the slowdown begins
            work -= self.slow_from - now
            now = self.slow_from
        if now + work * self.factor <= self.slow_until:
            return now + work * self.factor  # done within the slowdown
        work -= (self.slow_until - now) / self.factor  # what the slowdown got through
        return self.slow_until + work


def simulate(scenario: StoreScenario) -> StoreResult:
    """One run of ``scenario``."""
    s = scenario
    shared = s.store == "shared"
    (gap_rng, where_rng, app_rng, store_rng), _ = numpy_streams(s.seed, 4)
    total_rate = s.instances * s.rate
    gaps = in_blocks(lambda n: gap_rng.exponential(1 / total_rate, n), s.requests)
    where = in_blocks(lambda n: where_rng.integers(0, s.instances, n), s.requests)
    app_times = in_blocks(lambda n: app_rng.exponential(s.app_ms / 1_000, n), s.requests)
    store_times = in_blocks(
        lambda n: store_rng.exponential(s.store_ms / 1_000, n),
        s.requests * s.calls if shared else 0,
    )
    half_trip, timeout = s.rtt_ms / 2_000, s.timeout_ms / 1_000
    start = s.incident_at if s.incident != "none" else math.inf
    end = start + s.incident_for
    env = simpy.Environment()
    instances = [_Queue() for _ in range(s.instances)]
    store = _Queue(start, end, s.slow_factor) if s.incident == "slow" else _Queue()
    times: list[float] = []  # response times of the served requests after the warm-up, in s
    in_store: list[float] = []
    outcomes: list[tuple[float, bool, float]] = []  # every request: arrival, failed, seconds
    failed = 0

    def request(number: int, instance: _Queue, app_time: float):
        nonlocal failed
        arrived = env.now
        yield env.timeout(instance.take(arrived, app_time) - arrived)
        on_store, ok = env.now, True
        for _ in range(s.calls if shared else 0):
            reaches = env.now + half_trip  # the store sees calls in the order they are sent
            if start <= reaches < end and s.incident == "down":
                yield env.timeout(timeout)  # nothing answers: the instance gives up
                ok = False
                break
            work = next(store_times)
            answered = store.take(reaches, work) + half_trip - env.now
            if answered > timeout:
                yield env.timeout(timeout)  # the store still works on it; nobody waits
                ok = False
                break
            yield env.timeout(answered)
        took = env.now - arrived
        outcomes.append((arrived, not ok, took))
        if number < s.warmup:
            return
        if ok:
            times.append(took)
            in_store.append(env.now - on_store)
        else:
            failed += 1

    def arrivals():
        for number in range(s.requests):
            yield env.timeout(next(gaps))
            env.process(request(number, instances[next(where)], next(app_times)))

    env.process(arrivals())
    env.run()
    duration = env.now
    times_ms = np.asarray(times) * 1_000
    served = len(times)
    return StoreResult(
        scenario=s,
        served=served,
        failed=failed,
        response=ResponseStats.of(times_ms),
        store_share_ms=1_000 * math.fsum(in_store) / served if served else math.nan,
        app_utilization=sum(q.busy for q in instances) / (s.instances * duration),
        store_utilization=store.busy / duration if shared else 0.0,
        duration=duration,
        timeline=_timeline(outcomes, duration),
    )


def _timeline(
    outcomes: list[tuple[float, bool, float]], duration: float
) -> tuple[tuple[float, int, int, float], ...]:
    """Per ``BIN_SECONDS`` of arrivals (or wider, for at most ``MAX_BINS`` bins): served,
    failed, and the served requests' mean in ms."""
    width = max(BIN_SECONDS, duration / MAX_BINS)
    bins = max(1, math.ceil(duration / width))
    served, failed = [0] * bins, [0] * bins
    total = [0.0] * bins
    for arrived, lost, took in outcomes:
        k = min(int(arrived / width), bins - 1)
        if lost:
            failed[k] += 1
        else:
            served[k] += 1
            total[k] += took
    return tuple(
        (k * width, served[k], failed[k], 1_000 * total[k] / served[k] if served[k] else 0.0)
        for k in range(bins)
    )
