"""Lessons 02 and 12: what a shared store costs each request, where it stops scaling, and what a
slow or absent one does.

N instances each receive Poisson traffic (``rate`` requests per second, so N × rate in all) and
spend an exponential CPU time on each request (mean ``app_ms``), one at a time, first come first
served. Where do the sessions live?

* ``store="memory"``: in the instance. A request needs nothing else (and is wrong on any other
  instance: lesson 01). Its response time is its instance's queue: M/M/1.
* ``store="shared"``: in one store that every instance calls ``calls`` times per request, one
  call after the other, each a network round trip (``rtt_ms``) plus the store's own work (an
  exponential ``store_ms``). The store serves one call at a time, first come first served, as
  Redis runs commands on one thread: the calls of all N instances queue *there*, so the store's
  load grows with N: ρ_store = N × rate × calls × store_ms. Add instances and the app tier
  scales; the store does not, and once ρ_store nears 1 every request waits for it.

Lesson 12 spends more on the store, three ways (each knob off by default):

* ``read_replicas``: each primary gets R read-only copies, each its own one-call-at-a-time queue.
  A call is a read with probability ``read_share`` (a write otherwise); a read goes to one of
  the R replicas at random, a write always to the primary, as Redis clients do when told to
  read from replicas. The primary serves no reads then: that keeps it for the writes, which
  only it can take. The copies are modelled as always up to date; a real replica lags a
  little, so a read just after a write may miss it.
* ``shards``: S independent stores (each a primary with its own R replicas, if both are set),
  each holding the sessions of some of the users. A request goes to its user's shard (the hash
  of the user id, drawn uniformly here) with all its calls, as a session lives on one shard.
* ``cache_hit``: a share of the reads is answered by a cache inside the instance, with no round
  trip and no store work. That cache is state in the instance: fine only because losing it
  costs a miss, not a session, and because a session read from it may be a little stale.

``read_share`` changes nothing without replicas or a cache: reads and writes then go to the same
queue. An incident hits the primary of every shard; the replicas are other hosts and carry on.
When the primary is ``down``, writes fail but reads still get answers from the replicas (with no
failover: nobody promotes a replica to take the writes); when it is ``slow``, only the calls it
serves slow down.

A call that gets no answer within ``timeout_ms`` makes its request fail (the instance answers
503); the store still does the work of a call it had queued. An ``incident`` from ``incident_at``
for ``incident_for`` seconds makes the store ``slow`` (it works ``slow_factor`` times slower, a
noisy neighbour or a swapping host) or ``down`` (a call sent then waits for its timeout, then
fails). Instances wait for the store without blocking their other requests (an asynchronous
server, or threads enough): a server with a few synchronous workers fares worse, its workers all
waiting on the store while requests queue behind them.

Theory, for one call per request and no incident: the instance's output is Poisson again
(Burke's theorem), the round trip only delays it, and choosing a shard, a read or a write, a
cache hit or a replica at random splits it into Poisson streams, so each store queue is an
M/M/1 queue too and the mean response time is ``app/(1 − ρ_app)`` plus, per call, the share of
calls each queue gets × ``(rtt + store/(1 − ρ_queue))`` (a cache hit adds nothing): a Jackson
network. ρ of a primary is N × rate × calls / S × (writes, plus the reads no replica or cache
takes) × store time; of a replica, N × rate × calls / S × (reads the cache misses) / R × store
time. The busiest of them sets where linear scaling stops (``max_instances_before_saturation``).
With several calls per request the store's arrivals are not Poisson any more and the same sum
is an approximation.

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
    read_share: float = knobs.number(
        0.8,
        "share of the store calls that are reads (the rest write); it matters only with read "
        "replicas or a cache, which serve reads and never writes",
        low=0.0,
        above=False,
        high=1.0,
        slider=(0.0, 1.0, 0.05),
        applies=("store", ("shared",)),
        label="reads",
    )
    read_replicas: int = knobs.count(
        0,
        "read replicas of each store primary: a read goes to one of them at random, a write to "
        "the primary",
        low=0,
        high=8,
        slider=(0, 8, 1),
        applies=("store", ("shared",)),
        label="replicas",
    )
    shards: int = knobs.count(
        1,
        "independent stores, each holding the sessions of some of the users: all the calls of "
        "a request go to its user's shard",
        high=16,
        slider=(1, 16, 1),
        applies=("store", ("shared",)),
    )
    cache_hit: float = knobs.number(
        0.0,
        "share of the reads each instance answers from its own cache (no round trip, no store "
        "work): state in the instance, fine only because it may be lost or stale",
        low=0.0,
        above=False,
        high=1.0,
        slider=(0.0, 1.0, 0.05),
        applies=("store", ("shared",)),
        label="cache hits",
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
        """ρ of the store's busiest queue (0 without a store): with one store and no replicas or
        cache, all instances' calls per second × store time."""
        return max(self.primary_load, self.replica_load)

    @property
    def primary_load(self) -> float:
        """ρ of each shard's primary: the writes, and the reads no replica or cache takes."""
        return _loads(self, self.instances)[0]

    @property
    def replica_load(self) -> float:
        """ρ of each read replica (0 without replicas): the reads the cache misses, shared."""
        return _loads(self, self.instances)[1]

    @property
    def call_shares(self) -> tuple[float, float, float]:
        """Of every store call a request makes: the share sent to its shard's primary, to one
        of its replicas, and answered by the instance's cache (they add up to 1)."""
        if self.read_replicas == 0 and self.cache_hit == 0:
            return 1.0, 0.0, 0.0  # reads and writes alike go to the primary
        reads = self.read_share * (1 - self.cache_hit)  # the reads that reach the store
        writes = 1 - self.read_share
        if self.read_replicas == 0:
            return writes + reads, 0.0, self.read_share * self.cache_hit
        return writes, reads, self.read_share * self.cache_hit


def _loads(s: StoreScenario, instances: float) -> tuple[float, float]:
    """ρ of one primary and of one replica with ``instances`` instances (may be fractional, for
    a theory curve): the calls per second one shard gets × the share each queue takes × store
    time."""
    if s.store == "memory":
        return 0.0, 0.0
    per_shard = instances * s.rate * s.calls * s.store_ms / 1_000 / s.shards
    primary, replicas, _ = s.call_shares
    return per_shard * primary, (per_shard * replicas / s.read_replicas if replicas else 0.0)


def expected_response_ms(scenario: StoreScenario, instances: float | None = None) -> float:
    """The mean response time queueing theory gives (exact for ``calls=1``, see the module
    docstring); ``inf`` when an instance or a store queue cannot keep up; ``nan`` during
    incidents, which the formula does not describe. ``instances``: another N than the
    scenario's, fractional if you like (a smooth theory curve)."""
    s = scenario
    if s.store == "shared" and s.incident != "none":
        return math.nan
    primary_load, replica_load = _loads(s, s.instances if instances is None else instances)
    if s.app_load >= 1 or primary_load >= 1 or replica_load >= 1:
        return math.inf
    mean = s.app_ms / (1 - s.app_load)
    if s.store == "shared":
        to_primary, to_replica, _ = s.call_shares  # a cache hit costs nothing
        per_call = to_primary * (s.rtt_ms + s.store_ms / (1 - primary_load))
        if to_replica:
            per_call += to_replica * (s.rtt_ms + s.store_ms / (1 - replica_load))
        mean += s.calls * per_call
    return mean


def max_instances_before_saturation(scenario: StoreScenario, threshold: float = 0.8) -> int | None:
    """Theory: the largest N whose busiest store queue stays below ρ = ``threshold``, the rest
    of the scenario alike. Up to there, adding instances adds throughput at a modest cost per
    request; past it the store, not the instances, sets the pace (at ρ = 0.8 a call already
    waits 4 store times in the queue, and at ρ = 1 the queue never empties). 0: not even one
    instance; ``None``: nothing ever loads the store (sessions in memory, or every call a
    cache hit)."""
    knobs.positive_number("threshold", threshold)
    per_instance = max(_loads(scenario, 1.0))
    if per_instance == 0:
        return None
    n = max(0, math.ceil(threshold / per_instance) - 1)
    while max(_loads(scenario, n + 1)) < threshold:  # float rounding, either way
        n += 1
    while n > 0 and max(_loads(scenario, n)) >= threshold:
        n -= 1
    return n


@dataclass(frozen=True)
class StoreResult:
    """What the requests after the warm-up saw, and what the store did."""

    scenario: StoreScenario
    served: int  # requests answered (after the warm-up)
    failed: int  # requests answered 503: a store call timed out (after the warm-up)
    response: ResponseStats  # of the served requests, in ms
    store_share_ms: float  # of that mean: time spent on store calls (round trips included)
    app_utilization: float  # the instances' busy share, averaged
    store_utilization: float  # the busy share of the store's busiest queue (0 without a store)
    duration: float  # seconds from the first arrival to the last answer
    timeline: tuple[tuple[float, int, int, float], ...]  # per bin of arrivals: start, served,
    # failed, mean ms
    primary_utilization: float = 0.0  # the busy share of a primary, averaged over the shards
    replica_utilization: float = 0.0  # the busy share of a read replica, averaged (0: none)
    store_work: float = 0.0  # all the store's queues together: busy seconds per second

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
                "primary_utilization": self.primary_utilization,
                "replica_utilization": self.replica_utilization,
                "store_work": self.store_work,
                "primary_load": self.scenario.primary_load,
                "replica_load": self.scenario.replica_load,
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


# Lesson 12's four ways to spend the same store: what each buys as N grows
SCALING_VARIANTS: dict[str, dict[str, Any]] = {
    "one store": {},
    "2 read replicas": {"read_replicas": 2},
    "4 shards": {"shards": 4},
    "cache 80 % of reads": {"cache_hit": 0.8},
}


def compare_scaling(
    instance_counts: Iterable[int],
    variants: dict[str, dict[str, Any]] | None = None,
    replications: int = 1,
    **settings: Any,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`by_instances` for each variant (``SCALING_VARIANTS`` unless given): label →
    one replicated dict per N, each variant's knobs on top of the common ``settings``."""
    counts = list(instance_counts)
    chosen = SCALING_VARIANTS if variants is None else variants
    return {
        label: by_instances(counts, replications, **{**settings, **knobs_of_variant})
        for label, knobs_of_variant in chosen.items()
    }


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
    # numpy_streams' first streams do not depend on how many are asked for: the four a run has
    # always drawn are the same, and the new ones draw only when replicas, a cache or shards
    # are set, so a run with those at their defaults is the run it always was, bit for bit
    streams, _ = numpy_streams(s.seed, 8)
    gap_rng, where_rng, app_rng, store_rng, kind_rng, cache_rng, replica_rng, shard_rng = streams
    total_rate = s.instances * s.rate
    gaps = in_blocks(lambda n: gap_rng.exponential(1 / total_rate, n), s.requests)
    where = in_blocks(lambda n: where_rng.integers(0, s.instances, n), s.requests)
    app_times = in_blocks(lambda n: app_rng.exponential(s.app_ms / 1_000, n), s.requests)
    store_calls = s.requests * s.calls if shared else 0
    store_times = in_blocks(lambda n: store_rng.exponential(s.store_ms / 1_000, n), store_calls)
    reads = in_blocks(lambda n: kind_rng.random(n), store_calls)  # read when below read_share
    hits = in_blocks(lambda n: cache_rng.random(n), store_calls)  # a hit when below cache_hit
    copy = in_blocks(lambda n: replica_rng.integers(0, max(1, s.read_replicas), n), store_calls)
    shard_of = in_blocks(lambda n: shard_rng.integers(0, s.shards, n), s.requests)
    split = s.read_replicas > 0 or s.cache_hit > 0  # else every call goes to the primary
    half_trip, timeout = s.rtt_ms / 2_000, s.timeout_ms / 1_000
    start = s.incident_at if s.incident != "none" else math.inf
    end = start + s.incident_for
    down = s.incident == "down"
    env = simpy.Environment()
    instances = [_Queue() for _ in range(s.instances)]
    # the incident hits each shard's primary; its replicas are other hosts and carry on
    primaries = [
        _Queue(start, end, s.slow_factor) if s.incident == "slow" else _Queue()
        for _ in range(s.shards if shared else 1)
    ]
    replicas = [[_Queue() for _ in range(s.read_replicas)] for _ in primaries]
    times: list[float] = []  # response times of the served requests after the warm-up, in s
    in_store: list[float] = []
    outcomes: list[tuple[float, bool, float]] = []  # every request: arrival, failed, seconds
    failed = 0

    def request(number: int, instance: _Queue, app_time: float, shard: int):
        nonlocal failed
        arrived = env.now
        yield env.timeout(instance.take(arrived, app_time) - arrived)
        on_store, ok = env.now, True
        primary, copies = primaries[shard], replicas[shard]
        for _ in range(s.calls if shared else 0):
            store = primary
            if split and next(reads) < s.read_share:  # a read
                if s.cache_hit and next(hits) < s.cache_hit:
                    continue  # the instance's own cache answers at once
                if copies:
                    store = copies[next(copy)]
            reaches = env.now + half_trip  # the store sees calls in the order they are sent
            if down and store is primary and start <= reaches < end:
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
        sharded = shared and s.shards > 1
        for number in range(s.requests):
            yield env.timeout(next(gaps))
            shard = next(shard_of) if sharded else 0  # the user's shard: a hash of their id
            env.process(request(number, instances[next(where)], next(app_times), shard))

    env.process(arrivals())
    env.run()
    duration = env.now
    times_ms = np.asarray(times) * 1_000
    served = len(times)
    copies = [queue for group in replicas for queue in group]
    return StoreResult(
        scenario=s,
        served=served,
        failed=failed,
        response=ResponseStats.of(times_ms),
        store_share_ms=1_000 * math.fsum(in_store) / served if served else math.nan,
        app_utilization=sum(q.busy for q in instances) / (s.instances * duration),
        store_utilization=max(q.busy for q in primaries + copies) / duration if shared else 0.0,
        duration=duration,
        timeline=_timeline(outcomes, duration),
        primary_utilization=(
            math.fsum(q.busy for q in primaries) / (len(primaries) * duration) if shared else 0.0
        ),
        replica_utilization=(
            math.fsum(q.busy for q in copies) / (len(copies) * duration) if copies else 0.0
        ),
        store_work=math.fsum(q.busy for q in primaries + copies) / duration if shared else 0.0,
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
