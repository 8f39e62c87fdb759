"""Lesson 08 at scale: a "current user" in a process-wide global, read back by the wrong request.

One worker process serves requests with ``threads`` threads (gunicorn ``gthread``). Requests
arrive as a Poisson stream (``arrival_rate`` per second); a request waits for a free thread
(first come, first served: a SimPy ``Resource`` of capacity ``threads``), then, on its thread:

1. sets the process-wide global ``current_user`` to its own user (``before_request``);
2. waits for its I/O for a handler time (``handler="exponential"``: exponential with mean
   ``wait``; ``"fixed"``: exactly ``wait``) and holds its thread all that time;
3. reads ``current_user`` back and answers with it, then frees the thread.

It is **mixed up** when the global names another request's user at step 3: some other request
set it (started) while this one waited. With one thread no other request can start in between:
**never** a mix-up, which is why single-threaded tests never see the bug. ``flask.g`` (request
context) is the fix: each request reads its own, and the share is 0 at any T.

Theory, checked by the tests:

* ``handler="fixed"``, a pool that is never full (T beyond what the load ever keeps busy):
  starts are the Poisson arrivals, so P(no start within w) = e^(−λw) and **P(mix-up) =
  1 − e^(−λw)**. With a pool that fills up it is no bound either way: a queued request starts
  the moment another ends, inside the waits of all the others (T = 2, λw = 1: about 68%, not
  63%). The model gives no theory then (``theory`` is ``None``);
* ``handler="exponential"`` (mean w, μ = 1/w): exact for any T with λ < Tμ (the M/M/T queue).
  A request that starts with n others in the system (``h(n)``: P(no start before it ends)):
  - n < T − 1 (a free thread): an arrival starts at once (mixed), another ends (n − 1), or it
    ends itself: h(n) = (μ + nμ·h(n−1)) / (λ + (n+1)μ), so h(0) = μ/(λ+μ);
  - n ≥ T (a queue behind it): whichever of the T running requests ends first decides, since
    an end lets a queued request start: h(n) = 1/T;
  - n = T − 1 (every other thread busy, nobody queued): h = (μ + λ/T + (T−1)μ·h(T−2)) / (λ+Tμ).
  A request arriving to find m < T in the system (PASTA: the M/M/T stationary law π_m) starts
  at once with n = m; one finding m ≥ T waits for m − T + 1 ends (rate Tμ each) while
  arrivals queue behind it, and starts with nobody behind it with probability p^(m−T+1),
  p = Tμ/(λ+Tμ). Summed: :func:`theory_mixup_share`. With T → ∞ it is λw / (1 + λw); with
  T = 1 it is 0. Beyond saturation (λ ≥ Tμ) the queue grows without end: no steady state,
  ``theory`` is ``None`` (the share creeps towards 1 − 1/T).

Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import rounded
from simulations.replications import replicate

HANDLERS = ("exponential", "fixed")
MAX_THREADS = 1_024
FULL_POOL_CHANCE = 1e-3  # "fixed": theory only while P(all T threads busy) stays below this
TIMELINE_REQUESTS = 60  # the first requests, kept thread by thread for a picture


@dataclass(frozen=True)
class RaceScenario:
    """Requests on T threads of one process, each setting and later reading a global. The knobs."""

    threads: int = knobs.count(
        4, "threads of the worker process", high=MAX_THREADS, slider=(1, 16, 1), metavar="T"
    )
    arrival_rate: float = knobs.number(
        20.0,
        "requests per second reaching the process (Poisson)",
        unit="req/s",
        high=1e6,
        slider=(1.0, 100.0, 1.0),
        label="arrivals/s",
        metavar="L",
    )
    wait: float = knobs.number(
        0.05,
        "handler I/O time between setting the global and reading it (the mean, if exponential)",
        unit="s",
        high=1e6,
        slider=(0.005, 0.2, 0.005),
        label="wait (s)",
        metavar="W",
    )
    handler: str = knobs.choice(
        "exponential", HANDLERS, "how long each handler waits: exponential (mean wait) or fixed"
    )
    requests: int = knobs.count(2_000, "requests simulated", high=knobs.MAX_REQUESTS)
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)

    @property
    def offered_load(self) -> float:
        """λw: how many requests are waiting on their I/O at once, on average (with threads
        enough); the share of mixed-up requests is a function of it."""
        return self.arrival_rate * self.wait

    @property
    def utilization(self) -> float:
        """λw / T: the share of the threads kept busy (≥ 1: the pool cannot keep up)."""
        return self.offered_load / self.threads


@dataclass(frozen=True)
class Handled:
    """One request on its thread: set the global at ``start``, read it back at ``end``."""

    user: int
    thread: int  # which of the T threads ran it (0 is the first)
    start: float
    end: float
    read: int  # the user the global named at ``end``: ``user`` unless mixed up

    @property
    def mixed_up(self) -> bool:
        return self.read != self.user


@dataclass(frozen=True)
class RaceResult:
    """What one run measured: how many requests answered with another request's user."""

    scenario: RaceScenario
    mixups: int  # requests that read another request's user back
    queued: int  # requests that found every thread busy and waited for one
    peak_busy: int  # most threads busy at once
    mean_queue_wait: float  # seconds a request waited for a thread, on average
    duration: float  # simulated seconds until the last request finished
    timeline: list[Handled] = field(repr=False)  # the first TIMELINE_REQUESTS requests

    @property
    def share(self) -> float:
        """The share of requests mixed up."""
        return self.mixups / self.scenario.requests

    @property
    def theory(self) -> float | None:
        """What theory says the share should be (``None`` where the model knows none)."""
        s = self.scenario
        return theory_mixup_share(s.threads, s.arrival_rate, s.wait, s.handler)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the measurements."""
        return rounded(
            {
                **asdict(self.scenario),
                "offered_load": self.scenario.offered_load,
                "utilization": self.scenario.utilization,
                "mixups": self.mixups,
                "share": self.share,
                "theory": self.theory,
                "queued": self.queued,
                "peak_busy": float(self.peak_busy),  # a level: replications average it
                "mean_queue_wait": self.mean_queue_wait,
                "duration": self.duration,
            }
        )


def _log_poisson_terms(a: float, count: int) -> list[float]:
    """log(a^m / m!) for m = 0 .. count − 1."""
    log_a = math.log(a)
    return [m * log_a - math.lgamma(m + 1) for m in range(count)]


def theory_mixup_share(
    threads: int, arrival_rate: float, wait: float, handler: str = "exponential"
) -> float | None:
    """P(a request reads another request's user) in steady state (see the module docstring):
    0 with one thread; exact for exponential handlers while λw < T; 1 − e^(−λw) for fixed
    ones while the pool is practically never full; ``None`` otherwise."""
    RaceScenario(threads=threads, arrival_rate=arrival_rate, wait=wait, handler=handler)
    if threads == 1:
        return 0.0
    lam, mu, a = arrival_rate, 1.0 / wait, arrival_rate * wait
    if handler == "fixed":
        # with threads enough, the number busy is Poisson(λw) (M/G/∞): is T ever reached?
        logs = _log_poisson_terms(a, threads)
        below = math.fsum(math.exp(term - a) for term in logs)
        return -math.expm1(-a) if 1.0 - below < FULL_POOL_CHANCE else None
    rho = a / threads
    if rho >= 1.0:
        return None
    # π_m for m < T, and the whole tail m ≥ T, up to one common factor (log-space: a^m/m!)
    logs = _log_poisson_terms(a, threads + 1)
    top = max(logs)
    weights = [math.exp(term - top) for term in logs[:threads]]
    tail = math.exp(logs[threads] - top) / (1.0 - rho)  # Σ_{m≥T} π_m ∝ π_T / (1 − ρ)
    total = math.fsum(weights) + tail
    h = [0.0] * threads  # h(n) for n < T − 1, then h(T − 1)
    for n in range(threads - 1):
        before = h[n - 1] if n > 0 else 0.0
        h[n] = (mu + n * mu * before) / (lam + (n + 1) * mu)
    last = threads - 1
    h[last] = (mu + lam / threads + last * mu * (h[last - 1] if last > 0 else 0.0)) / (
        lam + threads * mu
    )
    no_mixup = math.fsum(w * h[m] for m, w in enumerate(weights))
    # arriving to m ≥ T: nobody behind it when it starts with probability p^(m−T+1)
    p = threads * mu / (lam + threads * mu)
    nobody_behind = (math.exp(logs[threads] - top) * p / (1.0 - rho * p)) / total
    queued = tail / total
    no_mixup = no_mixup / total + nobody_behind * h[last] + (queued - nobody_behind) / threads
    return 1.0 - no_mixup


def run_races(*args: Any, **kwargs: Any) -> RaceResult:
    """One run; the arguments are ``RaceScenario``'s fields (``threads`` first), or one
    scenario: ``run_races(threads=8, arrival_rate=40, wait=0.05)``."""
    return simulate(knobs.from_arguments(RaceScenario, args, kwargs))


def simulate(scenario: RaceScenario) -> RaceResult:
    """One run of ``scenario``: ``requests`` requests arrive, take a thread, set the global,
    wait, read it back."""
    return RaceModel(scenario).run()


class RaceModel:
    """One worker process: T threads, a FIFO queue of requests waiting for one, and the global.

    Each step is a SimPy event with a callback (an arrival; a handler's wait ending), not a
    process per request: a third of the cost, the same runs (a freed thread goes to the
    request that has waited longest, as a ``simpy.Resource`` of capacity T would give it)."""

    def __init__(self, scenario: RaceScenario) -> None:
        s = self.s = scenario
        rng = random.Random(s.seed)
        self.arrivals = random.Random(rng.getrandbits(64))
        self.handlers = random.Random(rng.getrandbits(64))
        self.env = simpy.Environment()
        self.current_user = -1  # the process-wide global: who set it last
        self.free_threads = list(range(s.threads - 1, -1, -1))  # the lowest number on top
        self.waiting: deque[tuple[int, float, float]] = deque()  # (user, hold, arrived)
        self.timeline: list[Handled] = []
        self.next_user = 0
        self.mixups = self.queued = self.peak = 0
        self.queue_wait = 0.0

    def schedule_arrival(self) -> None:
        gap = self.arrivals.expovariate(self.s.arrival_rate)
        self.env.timeout(gap).callbacks.append(self.arrive)

    def arrive(self, _: simpy.Event) -> None:
        s = self.s
        user, self.next_user = self.next_user, self.next_user + 1
        hold = self.handlers.expovariate(1.0 / s.wait) if s.handler == "exponential" else s.wait
        if self.free_threads:
            self.start(user, hold, self.env.now)
        else:  # every thread busy: wait for one, first come first served
            self.queued += 1
            self.waiting.append((user, hold, self.env.now))
        if self.next_user < s.requests:
            self.schedule_arrival()

    def start(self, user: int, hold: float, arrived: float) -> None:
        now = self.env.now
        self.queue_wait += now - arrived
        thread = self.free_threads.pop()
        self.peak = max(self.peak, self.s.threads - len(self.free_threads))
        self.current_user = user  # before_request: with flask.g it would be this request's own
        done = self.env.timeout(hold, value=(user, thread, now))
        done.callbacks.append(self.finish)

    def finish(self, event: simpy.Event) -> None:
        user, thread, started = event.value
        read = self.current_user  # the handler reads "its" user back
        if read != user:
            self.mixups += 1
        if user < TIMELINE_REQUESTS:
            self.timeline.append(Handled(user, thread, started, self.env.now, read))
        self.free_threads.append(thread)
        if self.waiting:
            self.start(*self.waiting.popleft())

    def run(self) -> RaceResult:
        self.schedule_arrival()
        self.env.run()
        return RaceResult(
            scenario=self.s,
            mixups=self.mixups,
            queued=self.queued,
            peak_busy=self.peak,
            mean_queue_wait=self.queue_wait / self.s.requests,
            duration=self.env.now,
            timeline=sorted(self.timeline, key=lambda handled: handled.user),
        )


def replicate_races(replications: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): mix-ups summed,
    the share averaged, its 95% interval in ``"interval"["share"]``."""
    scenario = knobs.from_arguments(RaceScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def mixups_by_wait(
    waits: Iterable[float],
    threads: Iterable[int] = (1, 2, 4, 8),
    replications: int = 5,
    **settings: Any,
) -> dict[int, list[dict[str, Any]]]:
    """:func:`replicate_races` at each handler ``wait`` for each thread count (the other
    ``settings`` and the seed the same everywhere): ``{T: [run at each wait]}``."""
    waits = list(waits)
    return {
        count: [
            replicate_races(replications, threads=count, wait=wait, **settings) for wait in waits
        ]
        for count in threads
    }


def _run_dict(scenario: RaceScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()
