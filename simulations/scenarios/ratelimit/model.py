"""Lesson 08 at scale: a rate limit kept in each instance's memory lets N times the limit through.

One attacker sends requests (Poisson, ``attack_rate`` per second) through a balancer
(``round_robin`` or ``random``) to N instances. The limit is ``limit`` requests per fixed
window of ``window`` seconds (windows start at multiples of ``window``, the same clock on every
instance, as a counter keyed by ``now // window`` does):

* ``state="memory"``: each instance counts in its own memory, so each lets ``limit`` through
  per window: the attacker gets **min(a·W, N·L)** per window (round robin spreads the requests
  evenly, so every instance fills its count whenever a·W ≥ N·L; random routing needs a little
  more than that);
* ``state="shared"``: one counter every instance increments (Redis ``INCR`` + ``EXPIRE``):
  exactly **min(a·W, L)** per window, at any N.

``autoscale=True`` adds target tracking (the rule of Kubernetes' HPA, lesson 05): every
``SYNC_PERIOD`` seconds it measures the load of the ready instances, the requests they received
over the last period against what they can serve (``capacity`` per second each: a refused
request still costs its parsing and the counter lookup, and most of a request's cost when the
handler is cheap), and asks for ceil(N × load / ``TARGET``) instances (nothing changes within
``TOLERANCE`` of the target; scaling in waits for ``STABILIZATION`` seconds of lower
recommendations), between ``instances`` and ``max_instances``. A new instance serves after
``BOOT_TIME`` seconds, **with a fresh counter**: with the counter in memory the attack scales
the service out and so loosens its own limit; with a shared counter nothing changes.

The attacker's requests are walked in time order between the autoscaler's SimPy events (a sync,
an instance becoming ready), not run as one SimPy process each: a run of 30,000 requests takes
about 30 ms. Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.hpa import FLOAT_SLACK, clamp, desired_replicas, stabilized
from simulations.engine.metrics import rounded
from simulations.replications import replicate

STATES = ("memory", "shared")
BALANCERS = ("round_robin", "random")
SYNC_PERIOD = 15.0  # seconds between two autoscaler decisions (the HPA's default)
BOOT_TIME = 30.0  # seconds from launch to serving
TARGET = 0.6  # the load the autoscaler tracks
TOLERANCE = 0.1  # |load / target − 1| within this: no change (the HPA's default)
STABILIZATION = 300.0  # seconds of recommendations a scale-in must respect (the HPA's default)
MAX_WINDOWS = 100_000
SERIES_POINTS = 241  # instance counts sampled for plots, evenly over the run


@dataclass(frozen=True)
class RateLimitScenario:
    """One attacker against a fixed-window rate limit behind N instances. The knobs."""

    instances: int = knobs.count(
        2,
        "instances behind the balancer (the autoscaler's minimum)",
        high=knobs.MAX_INSTANCES,
        slider=(1, 16, 1),
        metavar="N",
    )
    limit: int = knobs.count(
        20,
        "requests one client may send per window",
        high=1_000_000,
        slider=(5, 200, 5),
        label="limit / window",
        metavar="L",
    )
    window: float = knobs.number(
        10.0, "length of a fixed window", unit="s", slider=(5.0, 60.0, 5.0), metavar="W"
    )
    attack_rate: float = knobs.number(
        50.0,
        "requests per second the attacker sends (Poisson)",
        unit="req/s",
        slider=(1.0, 100.0, 1.0),
        label="attack req/s",
        metavar="A",
    )
    state: str = knobs.choice(
        "memory", STATES, "where the counter lives: each instance's memory, or one shared store"
    )
    balancer: str = knobs.choice("round_robin", BALANCERS, "how the balancer picks an instance")
    autoscale: bool = knobs.switch(
        False, "add instances under load (target tracking), each with a fresh counter"
    )
    max_instances: int = knobs.count(
        10,
        "most instances the autoscaler may run",
        high=knobs.MAX_INSTANCES,
        applies=("autoscale", ()),
        why="only the autoscaler adds instances",
        slider=(1, 32, 1),
        label="max instances",
    )
    capacity: float = knobs.number(
        20.0,
        "requests per second one instance can serve (the autoscaler's load is arrivals / this)",
        unit="req/s",
        applies=("autoscale", ()),
        why="only the autoscaler measures load",
        slider=(5.0, 100.0, 5.0),
    )
    duration: float = knobs.number(300.0, "simulated seconds", unit="s", metavar="T")
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        s = self
        if s.autoscale and s.max_instances < s.instances:
            raise ValueError(
                f"max_instances ({s.max_instances}) must be at least instances ({s.instances})"
            )
        if s.duration < s.window:
            raise ValueError(
                f"duration ({s.duration:g} s) must cover at least one window ({s.window:g} s)"
            )
        knobs.work_limit(
            "attacker requests",
            s.attack_rate * s.duration,
            knobs.MAX_REQUESTS,
            "attack_rate or duration",
        )
        knobs.work_limit("windows", s.duration / s.window, MAX_WINDOWS, "duration or window")

    @property
    def windows(self) -> int:
        """Windows that start within the run (the last may be cut short by its end)."""
        return math.ceil(self.duration / self.window - FLOAT_SLACK)

    @property
    def full_windows(self) -> int:
        """Windows that end within the run."""
        return math.floor(self.duration / self.window + FLOAT_SLACK)


def expected_capped(mean: float, cap: int) -> float:
    """E[min(X, cap)] for X Poisson with this ``mean``: Σ_{j<cap} P(X > j), summed where the
    terms are neither 0 nor 1 (beyond 40 standard deviations they are, to 1e-300)."""
    spread = 40.0 * math.sqrt(mean) + 40.0
    if cap >= mean + spread:
        return mean  # min(X, cap) is X: the cap is never reached
    if cap <= mean - spread:
        return float(cap)  # the cap is always reached
    low = max(0, math.floor(mean - spread))
    pmf = math.exp(low * math.log(mean) - mean - math.lgamma(low + 1))
    below = 0.0  # P(X ≤ j), from j = low (P(X < low) is below 1e-300)
    terms = [float(low)]  # j < low: P(X > j) = 1 each
    for j in range(low, cap):
        below += pmf
        terms.append(1.0 - below)
        pmf *= mean / (j + 1)
    return math.fsum(terms)


def per_window_theory(scenario: RateLimitScenario, instances: int) -> float:
    """The requests a full window is expected to let through with ``instances`` counters
    (Poisson attack, count C with mean a·W):

    * shared: E[min(C, L)];
    * memory, round robin: E[min(C, N·L)] (the turn spreads C as evenly as it can: no
      instance has a request to refuse before every other has used its L);
    * memory, random: N × E[min(C_i, L)], the C_i independent Poisson(a·W / N) (thinning).

    Each is min(a·W, N·L) (``L`` shared) once a·W is a few standard deviations away from the
    cap. With instances added within the window this is an estimate."""
    s = scenario
    mean = s.attack_rate * s.window
    if s.state == "shared":
        return expected_capped(mean, s.limit)
    if s.balancer == "round_robin":
        return expected_capped(mean, instances * s.limit)
    return instances * expected_capped(mean / instances, s.limit)


@dataclass(frozen=True)
class RateLimitResult:
    """What one run measured: the attacker's requests let through, window by window."""

    scenario: RateLimitScenario
    sent: int  # attacker requests
    allowed_per_window: list[int] = field(repr=False)
    sent_per_window: list[int] = field(repr=False)
    instances_per_window: list[int] = field(repr=False)  # instances that served in the window
    series_times: list[float] = field(repr=False)
    series_instances: list[int] = field(repr=False)  # ready instances at ``series_times``
    launched: int  # instances the autoscaler added
    mean_instances: float  # ready instances, averaged over the run's time

    @property
    def allowed(self) -> int:
        return sum(self.allowed_per_window)

    @property
    def refused(self) -> int:
        return self.sent - self.allowed

    @property
    def effective_limit(self) -> float:
        """What the attacker got per window, on average over the windows that ended in the
        run: the limit it actually faced."""
        full = self.allowed_per_window[: self.scenario.full_windows]
        return sum(full) / len(full)

    @property
    def theory_per_window(self) -> list[float]:
        """min(a·W, N·L) (memory) or min(a·W, L) (shared) for each window, N the instances
        that served in it (each new one brought its own fresh counter)."""
        return [per_window_theory(self.scenario, n) for n in self.instances_per_window]

    @property
    def theory_effective_limit(self) -> float:
        full = self.theory_per_window[: self.scenario.full_windows]
        return sum(full) / len(full)

    @property
    def final_instances(self) -> int:
        """Instances ready at the end of the run."""
        return self.series_instances[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the measurements."""
        s = self.scenario
        return rounded(
            {
                **asdict(s),
                "sent": self.sent,
                "allowed": self.allowed,
                "refused": self.refused,
                "effective_limit": self.effective_limit,
                "theory_effective_limit": self.theory_effective_limit,
                "loosening": self.effective_limit / s.limit,
                "launched": self.launched,
                # per-window series and instance counts as floats: replications average them
                # (``replicate`` sums whole numbers, and keeps lists that are all alike)
                "final_instances": float(self.final_instances),
                "mean_instances": self.mean_instances,
                "allowed_per_window": [float(n) for n in self.allowed_per_window],
                "sent_per_window": [float(n) for n in self.sent_per_window],
                "instances_per_window": [float(n) for n in self.instances_per_window],
                "theory_per_window": self.theory_per_window,
                "series_times": self.series_times,
                "series_instances": [float(n) for n in self.series_instances],
            }
        )


class Autoscaler:
    """Target tracking on load with lesson 05's rule (``simulations.engine.hpa``): a tolerance
    band, a scale-in stabilization window, clamped to [low, high]."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.recommendations: list[tuple[float, int]] = []

    def recommend(self, now: float, current: int, load: float) -> int:
        desired = desired_replicas(current, load, TARGET, TOLERANCE)
        chosen = stabilized(self.recommendations, now, STABILIZATION, desired)
        self.recommendations = [
            (when, n) for when, n in self.recommendations if when > now - STABILIZATION
        ]
        self.recommendations.append((now, desired))
        return clamp(chosen, self.low, self.high)


class RateLimitModel:
    """One run: the attacker's requests walked in time order, the autoscaler as SimPy processes."""

    def __init__(self, scenario: RateLimitScenario) -> None:
        s = self.s = scenario
        rng = random.Random(s.seed)
        self.arrivals = random.Random(rng.getrandbits(64))
        self.routing = random.Random(rng.getrandbits(64))
        self.env = simpy.Environment()
        self.ready: list[int] = list(range(s.instances))  # instance numbers, in launch order
        self.booting = 0
        self.next_index = s.instances
        self.counters: dict[int, tuple[int, int]] = {}  # counter -> (window number, count)
        self.turn = 0
        self.next_arrival = self.arrivals.expovariate(s.attack_rate)
        self.sent = 0
        windows = s.windows
        self.allowed = [0] * windows
        self.sent_in = [0] * windows
        self.received_since_sync = 0
        self.changes: list[tuple[float, int]] = [(0.0, len(self.ready))]
        self.launched = 0

    def serve_until(self, until: float) -> None:
        """Every attacker request before ``until``, with the instances ready now."""
        s, ready = self.s, self.ready
        limit, window, last = s.limit, s.window, s.windows - 1
        shared = s.state == "shared"
        rate, random_routing = s.attack_rate, s.balancer == "random"
        t = self.next_arrival
        end = min(until, s.duration)
        while t < end:
            number = min(int(t // window), last)
            if random_routing:
                instance = ready[self.routing.randrange(len(ready))]
            else:
                instance = ready[self.turn % len(ready)]
                self.turn += 1
            key = -1 if shared else instance
            counted_window, count = self.counters.get(key, (number, 0))
            if counted_window != number:
                count = 0  # a new window: the counter starts again
            if count < limit:
                count += 1
                self.allowed[number] += 1
            self.counters[key] = (number, count)
            self.sent_in[number] += 1
            self.sent += 1
            self.received_since_sync += 1
            t += self.arrivals.expovariate(rate)
        self.next_arrival = t

    def note_change(self) -> None:
        now = self.env.now
        self.changes.append((now, len(self.ready)))

    def boot(self):
        yield self.env.timeout(BOOT_TIME)
        self.serve_until(self.env.now)
        self.booting -= 1
        self.ready.append(self.next_index)  # a new process: its counter starts at zero
        self.next_index += 1
        self.note_change()

    def autoscaler(self):
        s = self.s
        hpa = Autoscaler(s.instances, s.max_instances)
        hpa.recommendations.append((0.0, s.instances))
        while self.env.now + SYNC_PERIOD <= s.duration:
            yield self.env.timeout(SYNC_PERIOD)
            self.serve_until(self.env.now)
            load = self.received_since_sync / (len(self.ready) * s.capacity * SYNC_PERIOD)
            self.received_since_sync = 0
            desired = hpa.recommend(self.env.now, len(self.ready), load)
            running = len(self.ready) + self.booting
            for _ in range(desired - running):
                self.booting += 1
                self.launched += 1
                self.env.process(self.boot())
            if desired < len(self.ready) and self.booting == 0:
                del self.ready[desired:]  # the newest go first (their counters with them)
                self.note_change()

    def instances_per_window(self) -> list[int]:
        """For each window, the instances ready at some moment in it (each had its own
        counter): those ready at its start, plus those that became ready within it."""
        s = self.s
        counts = []
        at = 0  # the last change at or before the window's start
        for number in range(s.windows):
            start, end = number * s.window, (number + 1) * s.window
            while at + 1 < len(self.changes) and self.changes[at + 1][0] <= start:
                at += 1
            ready, later = self.changes[at][1], at + 1
            while later < len(self.changes) and self.changes[later][0] < end:
                ready += max(0, self.changes[later][1] - self.changes[later - 1][1])
                later += 1
            counts.append(ready)
        return counts

    def time_average(self) -> float:
        """Ready instances averaged over [0, duration]."""
        ends = [when for when, _ in self.changes[1:]] + [self.s.duration]
        area = sum(n * (end - when) for (when, n), end in zip(self.changes, ends, strict=True))
        return area / self.s.duration

    def run(self) -> RateLimitResult:
        s = self.s
        if s.autoscale:
            self.env.process(self.autoscaler())
        self.env.run(until=s.duration)
        self.serve_until(s.duration)
        times = [s.duration * k / (SERIES_POINTS - 1) for k in range(SERIES_POINTS)]
        series, at = [], 0
        for t in times:
            while at + 1 < len(self.changes) and self.changes[at + 1][0] <= t:
                at += 1
            series.append(self.changes[at][1])
        return RateLimitResult(
            scenario=s,
            sent=self.sent,
            allowed_per_window=self.allowed,
            sent_per_window=self.sent_in,
            instances_per_window=self.instances_per_window(),
            series_times=times,
            series_instances=series,
            launched=self.launched,
            mean_instances=self.time_average(),
        )


def run_ratelimit(*args: Any, **kwargs: Any) -> RateLimitResult:
    """One run; the arguments are ``RateLimitScenario``'s fields (``instances`` first), or one
    scenario: ``run_ratelimit(instances=4, state="memory", autoscale=True)``."""
    return RateLimitModel(knobs.from_arguments(RateLimitScenario, args, kwargs)).run()


def replicate_ratelimit(replications: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): requests
    summed, the effective limit averaged (its 95% interval in ``"interval"``, when it varied),
    the per-window lists element by element."""
    scenario = knobs.from_arguments(RateLimitScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def limit_by_instances(
    instance_counts: list[int] | range, replications: int = 1, **settings: Any
) -> list[dict[str, Any]]:
    """:func:`replicate_ratelimit` for each number of instances (no autoscaling unless
    ``settings`` asks), the other settings and the seed the same each time."""
    return [replicate_ratelimit(replications, instances=n, **settings) for n in instance_counts]


def _run_dict(scenario: RateLimitScenario) -> dict[str, Any]:
    return RateLimitModel(scenario).run().to_dict()
