"""Lesson 12 at scale (claim C25, "when keeping state is right"): what a serverless platform
does to latency and to state kept in memory.

The platform works like AWS Lambda: **an instance serves one request at a time**. A request
takes a warm idle instance if there is one (the most recently used first, as Lambda does, so the
busiest instances stay warm and the spare ones age), else the platform starts a new instance: a
**cold start** of ``cold_start_ms``, then the request's service time (exponential, mean
``service_ms``). An instance left idle for ``idle_timeout`` seconds is reclaimed. ``keep_warm``
instances are provisioned from the start and always warm (provisioned concurrency: never
reclaimed, never cold; requests use them first). With ``max_instances`` the platform runs at
most that many at once (a concurrency limit): a request that finds them all busy waits in a
queue for the first one free.

Traffic arrives in bursts: an on/off (Markov-modulated) Poisson process of mean rate ``rate``.
With ``burstiness`` b the source is "on" 1/b of the time, at b × ``rate``, in on-periods of mean
``burst_seconds`` and off-periods of mean (b − 1) × ``burst_seconds`` (both exponential), and
silent otherwise: the mean rate is ``rate`` for every b; b = 1 is plain Poisson. The run starts
in the stationary state (on with probability 1/b), so the mean holds from the first second.
Bursts are what make cold starts: at a burst's first seconds, b × rate × (cold + service)
requests are in flight at once, and every one beyond the instances still warm starts one more.

**State in memory.** Each request belongs to one of ``users`` users (uniform). An instance keeps
what it learnt about the users it served (a cache in its memory); a request is a **memory hit**
when its instance has served that user before. It is compared with a **shared store** (Redis):
there, every request of a user seen before is a hit, whichever instance serves it. On serverless
the in-memory hits are few: a user's next request lands on whichever instance is free, and the
instances that saw them are reclaimed.

Theory (``theory_cold_share``): with no keep-warm, Poisson traffic and instances rarely busy at
once, one instance serves everything and a request is cold when the gap since the last one
passed the idle timeout: P(gap > T) = e^(−rate × T).

Every request (when, whose, how much work) is drawn up front from the seed, so two runs that
differ in a platform knob (keep_warm, idle_timeout, cold_start_ms, max_instances) see the very
same traffic. SimPy orders the arrivals and the instances' completions; a reclaim happens at its
exact time (idle since + ``idle_timeout``), found when the next request looks for an instance.
Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import simpy

from simulations import knobs
from simulations.engine.metrics import ResponseStats, rounded, text_table
from simulations.engine.workload import numpy_streams
from simulations.replications import replicate

MAX_REQUESTS = 500_000
MAX_PERIODS = 1_000_000  # on/off periods one run may draw
TIMELINE_BINS = 120  # the explorer's resolution over the run


@dataclass(frozen=True)
class ColdStartScenario:
    """Bursty traffic to a serverless platform (one request per instance at a time). The knobs."""

    rate: float = knobs.number(
        5.0,
        "mean request rate over the run (the same for every burstiness)",
        unit="req/s",
        high=1e4,
        slider=(0.5, 20.0, 0.5),
        label="rate (req/s)",
        metavar="L",
    )
    burstiness: float = knobs.number(
        10.0,
        "peak over mean: traffic comes in bursts at burstiness × rate, 1/burstiness of the "
        "time, silent in between (1: plain Poisson)",
        low=1.0,
        above=False,
        high=1e4,
        slider=(1.0, 30.0, 1.0),
        metavar="B",
    )
    burst_seconds: float = knobs.number(
        10.0,
        "mean length of a burst (exponential); the quiet gaps last (burstiness − 1) times longer",
        unit="s",
        high=1e6,
    )
    service_ms: float = knobs.number(
        50.0,
        "mean time an instance spends on one request (exponential)",
        unit="ms",
        high=1e6,
        metavar="MS",
    )
    cold_start_ms: float = knobs.number(
        800.0,
        "what a new instance takes before it serves its first request (0: none)",
        unit="ms",
        above=False,
        high=1e6,
        slider=(0.0, 3000.0, 100.0),
        label="cold start (ms)",
        metavar="MS",
    )
    idle_timeout: float = knobs.number(
        60.0,
        "an instance idle this long is reclaimed (a huge value: never)",
        unit="s",
        high=1e9,
        slider=(5.0, 600.0, 5.0),
        label="idle timeout (s)",
        metavar="T",
    )
    keep_warm: int = knobs.count(
        0,
        "instances provisioned and warm at all times (provisioned concurrency): never "
        "reclaimed, never cold, used first",
        low=0,
        high=knobs.MAX_INSTANCES,
        slider=(0, 30, 1),
        label="keep warm",
    )
    max_instances: int | None = knobs.count(
        None,
        "instances at once at most (a concurrency limit; none: no limit): a request finding "
        "them all busy waits for the first one free",
        high=knobs.MAX_INSTANCES,
        optional=True,
    )
    users: int = knobs.count(
        2_000,
        "users the requests belong to (uniformly); an instance remembers the users it served",
        high=knobs.MAX_USERS,
    )
    duration: float = knobs.number(1_200.0, "seconds of traffic", unit="s", high=1e8, metavar="D")
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        s = self
        if s.max_instances is not None and s.max_instances < max(s.keep_warm, 1):
            raise ValueError(
                f"max_instances ({s.max_instances}) must be at least keep_warm ({s.keep_warm}) "
                "and at least 1"
            )
        knobs.work_limit("requests", s.rate * s.duration, MAX_REQUESTS, "rate or duration")
        if s.burstiness > 1:
            periods = 2 * s.duration / (s.burst_seconds * s.burstiness)
            knobs.work_limit(
                "on/off periods", periods, MAX_PERIODS, "duration, or raise burst_seconds"
            )


@dataclass(frozen=True)
class Traffic:
    """Every request of a run, drawn up front: arrival times (s), work (s), users."""

    arrivals: np.ndarray
    work: np.ndarray
    users: np.ndarray


def draw_traffic(s: ColdStartScenario) -> Traffic:
    """The on/off Poisson arrivals (each on-period: a Poisson count at burstiness × rate, the
    moments uniform within it), each request's work and user, from the seed alone."""
    (period_rng, arrival_rng, work_rng, user_rng), _ = numpy_streams(s.seed, 4)
    b = s.burstiness
    if b == 1:
        bursts = [(0.0, s.duration)]
    else:
        bursts = []
        now, on = 0.0, bool(period_rng.random() < 1 / b)  # the stationary start
        means = (s.burst_seconds * (b - 1), s.burst_seconds)  # off, on
        while now < s.duration:
            end = min(now + period_rng.exponential(means[on]), s.duration)
            if on:
                bursts.append((now, end))
            now, on = end, not on
    peak = b * s.rate
    parts = [
        start
        + np.sort(arrival_rng.uniform(0.0, end - start, arrival_rng.poisson(peak * (end - start))))
        for start, end in bursts
    ]
    arrivals = np.concatenate(parts) if parts else np.empty(0)
    n = len(arrivals)
    return Traffic(
        arrivals=arrivals,
        work=work_rng.exponential(s.service_ms / 1_000, n),
        users=user_rng.integers(0, s.users, n),
    )


def theory_cold_share(scenario: ColdStartScenario) -> float:
    """The share of requests that start cold, e^(−rate × idle_timeout): the chance that the gap
    before a request passes the idle timeout, for **one instance** serving Poisson traffic.

    Valid only with ``keep_warm=0``, ``burstiness=1`` and rate × (cold start + service) ≪ 1 (a
    request rarely finds the instance busy; each one that does starts another, so above that the
    simulation's cold share is higher), and for runs long enough that the first request (always
    cold) does not count. Bursty traffic has gaps far longer than Poisson's at the same mean
    rate, so its cold share is higher too; NaN outside the regime (keep_warm > 0 or bursty)."""
    s = scenario
    if s.keep_warm or s.burstiness != 1:
        return math.nan
    return math.exp(-s.rate * s.idle_timeout)


class Instance:
    """One instance of the function: born cold (unless provisioned), serves one request at a
    time, remembers the users it served, and is reclaimed after ``idle_timeout`` idle."""

    __slots__ = ("born", "idle_since", "provisioned", "seen")

    def __init__(self, born: float, provisioned: bool) -> None:
        self.born = born
        self.provisioned = provisioned
        self.idle_since = born
        self.seen: set[int] = set()  # the users it served: its in-memory state


@dataclass(frozen=True)
class Timeline:
    """A run over time, step by step (``times``: each step's start, s)."""

    times: list[float]
    rate: list[float]  # requests per second
    alive: list[int]  # instances alive at the step's start
    cold_starts: list[int]  # instances started during the step


@dataclass(frozen=True)
class ColdStartResult:
    """What one run measured. Times in ms unless they say s."""

    scenario: ColdStartScenario
    requests: int
    cold_starts: int  # requests that had to wait for a new instance to start
    waited: int  # requests that queued for a busy instance (max_instances reached)
    instances_started: int  # every instance that ever lived: keep_warm + cold starts
    reclaimed: int  # instances reclaimed after idle_timeout within the run
    peak_concurrency: int  # the most requests in flight (starting or served) at once
    memory_hits: int  # requests whose instance had served their user before
    store_hits: int  # requests whose user was seen before (by any instance): a shared store
    instance_seconds: float  # instances alive, summed over [0, duration): the cost
    response: ResponseStats  # arrival → answer, ms
    latencies: tuple[float, ...] = field(repr=False)  # every request's response, ms
    arrivals: tuple[float, ...] = field(repr=False)  # every request's arrival, s
    lifetimes: tuple[tuple[float, float], ...] = field(repr=False)  # on-demand: born, reclaimed

    def timeline(self, bins: int = TIMELINE_BINS) -> Timeline:
        """The run over time, in ``bins`` equal steps: requests per second, instances alive at
        each step's start (kept warm included), cold starts in each step."""
        s = self.scenario
        edges = np.linspace(0.0, s.duration, bins + 1)
        born = np.array([life[0] for life in self.lifetimes])
        gone = np.array([life[1] for life in self.lifetimes])
        starts = edges[:-1]
        alive = (
            np.searchsorted(np.sort(born), starts, side="right")
            - np.searchsorted(np.sort(gone), starts, side="right")
            + s.keep_warm
        )
        width = s.duration / bins
        return Timeline(
            times=starts.tolist(),
            rate=(np.histogram(self.arrivals, edges)[0] / width).tolist(),
            alive=alive.tolist(),
            cold_starts=np.histogram(born, edges)[0].tolist(),
        )

    @property
    def cold_share(self) -> float:
        return self.cold_starts / self.requests if self.requests else 0.0

    @property
    def memory_hit_share(self) -> float:
        return self.memory_hits / self.requests if self.requests else 0.0

    @property
    def store_hit_share(self) -> float:
        return self.store_hits / self.requests if self.requests else 0.0

    @property
    def mean_warm_instances(self) -> float:
        """Instances alive on average (instance-seconds / duration): what the platform bills."""
        return self.instance_seconds / self.scenario.duration

    @property
    def observed_rate(self) -> float:
        return self.requests / self.scenario.duration

    @property
    def theory_cold_share(self) -> float:
        return theory_cold_share(self.scenario)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the counts (ints), then shares, rates and
        times (floats, so replications give them 95% intervals)."""
        r = self.response
        return rounded(
            {
                **asdict(self.scenario),
                "requests": self.requests,
                "cold_starts": self.cold_starts,
                "waited": self.waited,
                "instances_started": self.instances_started,
                "reclaimed": self.reclaimed,
                "peak_concurrency": self.peak_concurrency,
                "memory_hits": self.memory_hits,
                "store_hits": self.store_hits,
                "observed_rate": self.observed_rate,
                "cold_share": self.cold_share,
                "theory_cold_share": self.theory_cold_share,
                "memory_hit_share": self.memory_hit_share,
                "store_hit_share": self.store_hit_share,
                "mean_response_ms": r.mean,
                "p50_response_ms": r.p50,
                "p95_response_ms": r.p95,
                "p99_response_ms": r.p99,
                "instance_seconds": self.instance_seconds,
                "mean_warm_instances": self.mean_warm_instances,
            }
        )

    def summary(self) -> str:
        """Three lines a lesson prints: latency, cold starts and cost, state in memory."""
        s, r = self.scenario, self.response
        return (
            f"{self.requests:,} requests: {self.cold_share:.1%} cold; response mean "
            f"{r.mean:.0f} ms, p50 {r.p50:.0f} ms, p99 {r.p99:.0f} ms\n"
            f"{self.instances_started:,} instances started ({s.keep_warm} kept warm), at most "
            f"{self.peak_concurrency} busy at once, {self.mean_warm_instances:.1f} alive on "
            "average\n"
            f"state in memory: {self.memory_hit_share:.1%} of requests find their user's data "
            f"(a shared store: {self.store_hit_share:.1%})"
        )


class Platform:
    """The serverless platform: hands each request to an instance, starts and reclaims them."""

    def __init__(self, scenario: ColdStartScenario, traffic: Traffic) -> None:
        s = self.s = scenario
        self.traffic = traffic
        self.env = simpy.Environment()
        self.cold = s.cold_start_ms / 1_000
        self.timeout = s.idle_timeout
        self.provisioned = [Instance(0.0, True) for _ in range(s.keep_warm)]  # idle, warm
        self.idle: deque[Instance] = deque()  # on-demand idle instances, oldest idle first
        self.waiting: deque[int] = deque()  # requests queued at max_instances
        self.alive = s.keep_warm  # instances not reclaimed
        self.busy = self.peak = 0
        self.started = s.keep_warm
        self.cold_starts = self.waited = self.memory_hits = self.store_hits = 0
        self.on_demand: list[Instance] = []
        self.users_seen: set[int] = set()
        self.arrivals = traffic.arrivals.tolist()
        self.work = traffic.work.tolist()
        self.users = traffic.users.tolist()
        self.responses = [0.0] * len(self.arrivals)

    # --- the story ---------------------------------------------------------------------------

    def requests(self):
        """Requests arrive at the moments drawn up front; each is handed to an instance."""
        env = self.env
        for number, at in enumerate(self.arrivals):
            yield env.timeout(max(at - env.now, 0.0))
            self.invoke(number)

    def invoke(self, number: int) -> None:
        """A warm instance if any (provisioned first, then the most recently used), else a cold
        start, else (at ``max_instances``) the queue."""
        now = self.env.now
        self.reclaim(now)
        if self.provisioned:
            instance, start = self.provisioned.pop(), now
        elif self.idle:
            instance, start = self.idle.pop(), now  # the most recently used
        elif self.s.max_instances is None or self.alive < self.s.max_instances:
            instance, start = Instance(now, False), now + self.cold
            self.on_demand.append(instance)
            self.alive += 1
            self.started += 1
            self.cold_starts += 1
        else:
            self.waited += 1
            self.waiting.append(number)
            return
        self.busy += 1
        self.peak = max(self.peak, self.busy)
        self.serve(instance, number, start)

    def serve(self, instance: Instance, number: int, start: float) -> None:
        """``instance`` works on request ``number`` from ``start`` (after a cold start, if any)."""
        user = self.users[number]
        self.memory_hits += user in instance.seen
        instance.seen.add(user)
        self.store_hits += user in self.users_seen
        self.users_seen.add(user)
        finish = start + self.work[number]
        self.responses[number] = (finish - self.arrivals[number]) * 1_000
        self.env.timeout(finish - self.env.now, instance).callbacks.append(self.done)

    def done(self, event: simpy.Event) -> None:
        """An instance finished: it takes the next queued request, or goes idle."""
        instance = event.value
        if self.waiting:
            self.serve(instance, self.waiting.popleft(), self.env.now)
            return
        self.busy -= 1
        instance.idle_since = self.env.now
        (self.provisioned if instance.provisioned else self.idle).append(instance)

    def reclaim(self, now: float) -> None:
        """Reclaim the on-demand instances idle ``idle_timeout`` by ``now`` (the oldest idle are
        at the left: instances go idle in time order)."""
        idle, timeout = self.idle, self.timeout
        while idle and idle[0].idle_since + timeout <= now:
            idle.popleft()  # gone: its end was idle_since + timeout
            self.alive -= 1

    # --- setup, execute, results ---------------------------------------------------------------

    def run(self) -> ColdStartResult:
        s = self.s
        self.env.process(self.requests())
        self.env.run()
        end = s.duration
        reclaimed = sum(i.idle_since + self.timeout <= end for i in self.on_demand)
        lived = math.fsum(
            max(0.0, min(i.idle_since + self.timeout, end) - min(i.born, end))
            for i in self.on_demand  # all idle now: each ends idle_since + timeout
        )
        responses = self.responses
        return ColdStartResult(
            scenario=s,
            requests=len(responses),
            cold_starts=self.cold_starts,
            waited=self.waited,
            instances_started=self.started,
            reclaimed=reclaimed,
            peak_concurrency=self.peak,
            memory_hits=self.memory_hits,
            store_hits=self.store_hits,
            instance_seconds=s.keep_warm * end + lived,
            response=ResponseStats.of(responses),
            latencies=tuple(responses),
            arrivals=tuple(self.arrivals),
            lifetimes=tuple((i.born, i.idle_since + self.timeout) for i in self.on_demand),
        )


def run_coldstart(*args: Any, **kwargs: Any) -> ColdStartResult:
    """One run; the arguments are ``ColdStartScenario``'s fields (``rate`` first), or one
    scenario: ``run_coldstart(burstiness=1, keep_warm=5)``."""
    scenario = knobs.from_arguments(ColdStartScenario, args, kwargs)
    return Platform(scenario, draw_traffic(scenario)).run()


def replicate_coldstart(replications: int = 10, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): counts summed
    (``peak_concurrency`` too: divide by the replications), shares and times averaged, their 95%
    intervals in ``"interval"``."""
    scenario = knobs.from_arguments(ColdStartScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def _run_dict(scenario: ColdStartScenario) -> dict[str, Any]:
    return run_coldstart(scenario).to_dict()


def cold_by_burstiness(
    burstiness_values: Iterable[float], replications: int = 10, **settings: Any
) -> list[dict[str, Any]]:
    """:func:`replicate_coldstart` at each burstiness, the mean rate, the other settings and the
    seed the same: how bursts, not load, make cold starts."""
    return [replicate_coldstart(replications, burstiness=b, **settings) for b in burstiness_values]


def cold_by_keep_warm(
    values: Iterable[int], replications: int = 10, **settings: Any
) -> list[dict[str, Any]]:
    """:func:`replicate_coldstart` at each ``keep_warm``: fewer cold starts, bought with
    instances that are always on (``mean_warm_instances``)."""
    return [replicate_coldstart(replications, keep_warm=k, **settings) for k in values]


def coldstart_table(rows: Sequence[dict[str, Any]], by: str = "") -> str:
    """Lesson 12's table of a sweep (``cold_by_burstiness`` or ``cold_by_keep_warm``): one row
    per run, the knob that varies first (``by``, else guessed), then the cold share (with its
    95% interval), p99, instances alive on average and the memory hit share against a store's."""
    by = by or _varying(rows)
    table = [
        (by.replace("_", " "), "cold", "(95% interval)", "p99 ms", "instances", "memory hits",
         "store hits")
    ]  # fmt: skip
    for row in rows:
        low, high = row.get("interval", {}).get("cold_share", [None, None])
        shown = "" if low is None else f"({max(low, 0.0):.1%} to {high:.1%})"
        table.append(
            (
                f"{row[by]:g}",
                f"{row['cold_share']:.1%}",
                shown,
                "none" if row["p99_response_ms"] is None else f"{row['p99_response_ms']:.0f}",
                f"{row['mean_warm_instances']:.1f}",
                f"{row['memory_hit_share']:.1%}",
                f"{row['store_hit_share']:.1%}",
            )
        )
    return text_table(table)


def _varying(rows: Sequence[dict[str, Any]]) -> str:
    for name in ("burstiness", "keep_warm", "idle_timeout", "cold_start_ms", "rate"):
        if len({row[name] for row in rows}) > 1:
            return name
    return "burstiness"
