"""Lesson 11 at scale: liveness and readiness probes, a shared dependency's outage, a hung process.

A fleet of ``instances`` sits behind a balancer. Requests arrive as a Poisson stream (``rate`` per
second, for ``duration`` seconds); the balancer sends each, **round robin**, to one of the
instances it believes ready (its pool: the k-th request of the run goes to the (k mod m)-th of
the m instances in the pool at that moment, by index). A request succeeds when that instance
really serves (its process is up and not hung) and the shared dependency (Redis) is up; it fails
as ``dependency`` (the instance answers a 503: Redis is down), ``hung`` (it never answers) or
``no_instance`` (the pool is empty: the balancer itself answers a 502). Requests take no time and
change nothing, so they are counted after the run against the recorded timeline of the fleet,
which is the same as routing each at its arrival (and much faster).

Redis is down from ``outage_at`` for ``outage`` seconds (0: never). With ``hang_at``, instance 0's
process hangs then: up, holding its port, answering nothing (the case liveness exists for).

The probes follow Kubernetes. Each instance is probed every ``liveness_period`` and every
``readiness_period`` seconds, each probe's first time uniform in [0, period) from the seed; a
probe's answer counts at the probe's time (no ``timeoutSeconds``: add it to a detection time if
your probes have one); one success is enough (``successThreshold`` 1).

* **liveness** (``/healthz``): ``"process"`` fails only while the instance is hung;
  ``"dependency"`` also while Redis is down (the anti-pattern). After ``liveness_threshold``
  consecutive failures the instance is **restarted**: it leaves the pool at once, serves nothing
  while it boots (``boot`` seconds) and comes back cold (a *cold start*); its probes start again
  ``initial_delay`` seconds after the boot (its startup probe is taken as exact: it lets the
  other probes start the moment the boot ends). An instance restarted while Redis is still down
  fails its liveness again and is restarted again: a crash loop. With ``crash_backoff`` (on by
  default, as in Kubernetes) the first restart is immediate and each next one waits 10 s, 20 s,
  40 s, ... at most 300 s before the boot starts (CrashLoopBackOff), reset once an instance has
  run 10 minutes since its last boot.
* **readiness** (``/readyz``): ``"dependency"`` fails while Redis is down or the instance is
  hung; after ``readiness_threshold`` consecutive failures the balancer takes the instance out of
  its pool, and one success puts it back (a restarted instance joins at its first success).
  ``"none"``: a readiness check that never fails, so an instance is in the pool from the end of
  its boot until it is restarted, hung or not.

What a run measures: requests and their outcomes, restarts and cold starts, the **detection
time** (from the hang to the restart of the hung instance), the **outage seen** (the time no
request could succeed: Redis down, or no instance both in the pool and serving), the **time to
recover** (from Redis' return, or from the hang, until every instance is in the pool and
serving again), and the most instances out of the pool at once.

The theory (``detection_band``, ``theory_detection_time``, ``theory_outage``): a hang is detected
between (threshold − 1) × period and threshold × period after it, (threshold − ½) × period on
average; an outage of D seconds restarts nothing when D ≤ (threshold − 1) × period and every
instance when D ≥ threshold × period, with liveness on the dependency; then the fleet is back
only once an instance has booted again: an outage seen of about (threshold − ½) × period + B
for a blip just long enough, and up to D + B (plus backoff) when Redis returns just as an
instance starts booting. With liveness on the process alone and readiness on Redis, the outage
seen is D plus less than one readiness period. ``theory_outage`` computes the band and the mean
exactly for this model, from the probes' phases.

Processes tell the story: ``HealthModel.liveness_probe`` and ``readiness_probe`` are the kubelet's
loops for one instance's life, ``restart`` and ``boot`` what follows a failed liveness. Same
arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import simpy

from simulations import knobs
from simulations.engine.metrics import rounded, text_table
from simulations.engine.workload import seed_sequence
from simulations.replications import replicate

LIVENESS = ("process", "dependency")
READINESS = ("dependency", "none")
HUNG = 0  # the instance that hangs (the first: it is in the pool at position 0)
BACKOFF_FIRST = 10.0  # CrashLoopBackOff: 10 s before the second restart, then doubling...
BACKOFF_CAP = 300.0  # ... up to five minutes
BACKOFF_RESET = 600.0  # ... and forgotten once the container has run ten minutes
MAX_PROBES = 400_000  # probes one run may simulate
THEORY_GRID = 400  # phases ``theory_outage`` evaluates per probe period
# The lesson's probe settings for ``detection_by_probe``: (period, threshold), Kubernetes'
# periodSeconds and failureThreshold; two pairs share period × threshold = 30 s.
DETECTION_PROBES = ((1.0, 3), (5.0, 1), (2.0, 3), (5.0, 2), (5.0, 3), (10.0, 3), (5.0, 6))
# The lesson's blips for ``outage_by_blip`` (s): none restarted up to 10 s, all from 15 s, a
# crash loop from 45 s (with the defaults: liveness 5 s × 3, boot 20 s).
BLIPS = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 45.0, 60.0)
# The lesson's designs for ``compare_designs``: name -> the knobs that make it.
DESIGNS: dict[str, dict[str, str]] = {
    "healthz process, readyz Redis": {"liveness": "process", "readiness": "dependency"},
    "healthz Redis, readyz Redis": {"liveness": "dependency", "readiness": "dependency"},
    "healthz process, readyz always": {"liveness": "process", "readiness": "none"},
}


@dataclass(frozen=True)
class HealthScenario:
    """A fleet behind a balancer, probed the Kubernetes way, through a Redis outage and a hang."""

    liveness: str = knobs.choice(
        "process",
        LIVENESS,
        "what the liveness probe checks: the process alone, or Redis too (a Redis outage "
        "then fails every instance's liveness: the anti-pattern)",
    )
    readiness: str = knobs.choice(
        "dependency",
        READINESS,
        "what the readiness probe checks: Redis (and that the process answers), or nothing "
        "(an instance is ready from the end of its boot, hung or not)",
    )
    instances: int = knobs.count(
        3, "instances behind the balancer", high=knobs.MAX_INSTANCES, slider=(1, 10, 1), metavar="N"
    )
    rate: float = knobs.number(
        20.0,
        "requests per second (Poisson), each sent round robin to an instance in the pool",
        unit="1/s",
        high=1e6,
        metavar="L",
    )
    duration: float = knobs.number(120.0, "seconds of traffic", unit="s", high=1e6, metavar="T")
    outage_at: float = knobs.number(
        30.0, "when Redis (the shared dependency) goes down", unit="s", above=False, high=1e6
    )
    outage: float = knobs.number(
        20.0,
        "how long Redis stays down (0: no outage)",
        unit="s",
        above=False,
        high=1e6,
        slider=(0, 60, 5),
        label="Redis down (s)",
        metavar="D",
    )
    hang_at: float | None = knobs.number(
        None,
        "when instance 0 hangs: its process stays up and answers nothing (none: no hang)",
        unit="s",
        above=False,
        high=1e6,
        optional=True,
        slider=(0, 60, 5),
        label="hang at (s)",
    )
    liveness_period: float = knobs.number(
        5.0,
        "seconds between two liveness probes of an instance (periodSeconds)",
        unit="s",
        high=1e4,
        slider=(1, 20, 1),
        label="liveness every (s)",
    )
    liveness_threshold: int = knobs.count(
        3,
        "consecutive failed liveness probes that get an instance restarted (failureThreshold)",
        high=1_000,
        slider=(1, 10, 1),
        label="liveness failures",
    )
    readiness_period: float = knobs.number(
        2.0,
        "seconds between two readiness probes of an instance (periodSeconds)",
        unit="s",
        high=1e4,
        applies=("readiness", ("dependency",)),
        why="only a readiness probe that can fail",
        slider=(1, 10, 1),
        label="readiness every (s)",
    )
    readiness_threshold: int = knobs.count(
        2,
        "consecutive failed readiness probes that take an instance out of the pool",
        high=1_000,
        applies=("readiness", ("dependency",)),
        why="only a readiness probe that can fail",
        slider=(1, 10, 1),
        label="readiness failures",
    )
    boot: float = knobs.number(
        20.0,
        "seconds a restarted instance takes to boot; it serves nothing meanwhile",
        unit="s",
        above=False,
        high=1e4,
        slider=(0, 60, 5),
        label="boot (s)",
        metavar="B",
    )
    initial_delay: float = knobs.number(
        0.0,
        "seconds after a restarted instance's boot before its probes start (initialDelaySeconds)",
        unit="s",
        above=False,
        high=1e4,
    )
    crash_backoff: bool = knobs.switch(
        True,
        "CrashLoopBackOff: an instance restarted again waits 10 s, 20 s, 40 s, ... (at most "
        "300 s) before it boots",
        flag="--no-crash-backoff",
        flag_help="an instance restarted again boots at once (no CrashLoopBackOff)",
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        if self.outage and self.outage_at + self.outage >= self.duration:
            raise ValueError(
                f"Redis would still be down when the run ends: outage_at {self.outage_at:g} + "
                f"outage {self.outage:g} must be less than the duration {self.duration:g}"
            )
        if self.hang_at is not None and self.hang_at >= self.duration:
            raise ValueError(
                f"a hang at {self.hang_at:g} comes after the run (duration {self.duration:g}): "
                "it could not change anything"
            )
        knobs.work_limit(
            "requests", self.rate * self.duration, knobs.MAX_REQUESTS, "rate or duration"
        )
        knobs.work_limit(
            "probes", self.probes, MAX_PROBES, "instances or duration, or lengthen the periods"
        )

    @property
    def probes(self) -> float:
        """About how many probes the run simulates."""
        per_second = 1.0 / self.liveness_period
        if self.readiness == "dependency":
            per_second += 1.0 / self.readiness_period
        return self.instances * self.duration * per_second


class Instance:
    """One instance as the kubelet and the balancer see it."""

    __slots__ = ("booted", "booted_at", "hung", "in_pool", "index", "life", "loop")

    def __init__(self, index: int) -> None:
        self.index = index
        self.booted = True  # the process answers (it is not starting or waiting to start)
        self.hung = False
        self.in_pool = True  # the balancer sends it requests
        self.life = 0  # bumped at each restart: the probes of an earlier life stop
        self.loop = 0  # restarts in a row (CrashLoopBackOff)
        self.booted_at = -math.inf  # when its last boot ended (the fleet starts warm)

    @property
    def serving(self) -> bool:
        """Its process could answer a request."""
        return self.booted and not self.hung


@dataclass(frozen=True)
class Timeline:
    """The fleet, step by step: from ``times[i]`` to ``times[i + 1]`` (the last is the end of
    the run), ``ready`` instances were in the pool, ``serving`` had a process able to answer,
    ``useful`` were both with Redis up (0 while it is down)."""

    times: tuple[float, ...]
    ready: tuple[int, ...]
    serving: tuple[int, ...]
    useful: tuple[int, ...]


@dataclass(frozen=True)
class HealthResult:
    """What one run measured (counts are ints, times in seconds)."""

    scenario: HealthScenario
    requests: int
    succeeded: int
    failed_dependency: int  # reached an instance that serves, while Redis was down
    failed_no_instance: int  # the balancer's pool was empty
    failed_hung: int  # reached a hung instance still in the pool: never answered
    restarts: int
    instances_restarted: int  # instances restarted at least once
    cold_starts: int  # boots completed after a restart
    max_unready: int  # the most instances out of the pool at once
    outage_seen: float  # time no request could succeed
    detection_time: float | None  # hang -> restart of the hung instance (None: no hang seen)
    time_to_recover: float | None  # disruption's end -> every instance ready and serving
    timeline: Timeline = field(repr=False)
    restart_times: tuple[float, ...] = field(repr=False)

    @property
    def failed(self) -> int:
        return self.failed_dependency + self.failed_no_instance + self.failed_hung

    @property
    def availability(self) -> float:
        """Share of the requests that succeeded (NaN with no request)."""
        return self.succeeded / self.requests if self.requests else math.nan

    def summary(self) -> str:
        """Two lines for a person: the setup, then what the users and the fleet lived through."""
        s = self.scenario
        readiness = "on Redis" if s.readiness == "dependency" else "always ready"
        liveness = "on the process" if s.liveness == "process" else "on Redis"
        trouble = f"Redis down {s.outage:g} s at {s.outage_at:g} s" if s.outage else "Redis up"
        if s.hang_at is not None:
            trouble += f", instance 0 hangs at {s.hang_at:g} s"
        recovered = (
            "not recovered by the end"
            if self.time_to_recover is None
            else f"all back {self.time_to_recover:.1f} s later"
        )
        detected = (
            "" if self.detection_time is None else f", hang detected in {self.detection_time:.1f} s"
        )
        if s.outage == 0 and s.hang_at is None:
            recovered = "nothing to recover from"
        return (
            f"{s.instances} instances, liveness {liveness}, readiness {readiness}; "
            f"{trouble}\n"
            f"{self.failed:,} of {self.requests:,} requests failed (Redis down "
            f"{self.failed_dependency:,}, no ready instance {self.failed_no_instance:,}, "
            f"hung {self.failed_hung:,}); {self.restarts} restarts{detected}; no request could "
            f"succeed for {self.outage_seen:.1f} s; {recovered}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the counts (ints), then the times and the
        availability (floats, ``None`` where nothing was measured)."""
        return rounded(
            {
                **asdict(self.scenario),
                "requests": self.requests,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "failed_dependency": self.failed_dependency,
                "failed_no_instance": self.failed_no_instance,
                "failed_hung": self.failed_hung,
                "restarts": self.restarts,
                "instances_restarted": self.instances_restarted,
                "cold_starts": self.cold_starts,
                "max_unready": self.max_unready,
                "availability": self.availability,
                "outage_seen": self.outage_seen,
                "detection_time": self.detection_time,
                "time_to_recover": self.time_to_recover,
            }
        )


class HealthModel:
    """One run: Redis, the hang, each instance's probes, restarts and boots; then the requests."""

    def __init__(self, scenario: HealthScenario) -> None:
        s = self.s = scenario
        phases, requests = (
            np.random.default_rng(child) for child in seed_sequence(s.seed).spawn(2)
        )
        # both drawn whatever the design, so every design meets the same phases and requests
        self.liveness_phases = phases.uniform(0.0, s.liveness_period, s.instances).tolist()
        self.readiness_phases = phases.uniform(0.0, s.readiness_period, s.instances).tolist()
        self.request_rng = requests
        self.env = simpy.Environment()
        self.fleet = [Instance(i) for i in range(s.instances)]
        self.redis_up = True
        self.ready = self.serving = self.useful = s.instances  # useful: in the pool and serving
        # (start, ready, serving, useful, hung instance in the pool, Redis up)
        self.steps: list[tuple[float, int, int, int, bool, bool]] = []
        self.record()
        self.restarts = self.cold_starts = 0
        self.restarted: set[int] = set()
        self.restart_times: list[float] = []
        self.hung_since: float | None = None
        self.detection: float | None = None

    # --- the story ---------------------------------------------------------------------------

    def redis(self) -> Generator[simpy.Event, None, None]:
        """The shared dependency goes down, then comes back."""
        yield self.env.timeout(self.s.outage_at)
        self.redis_up = False
        self.record()
        yield self.env.timeout(self.s.outage)
        self.redis_up = True
        self.record()

    def hang(self) -> Generator[simpy.Event, None, None]:
        """Instance 0's process hangs (the one running or starting then): only a restart ends it."""
        yield self.env.timeout(self.s.hang_at)
        self.hung_since = self.env.now
        self.change(self.fleet[HUNG], hung=True)

    def alive(self, box: Instance) -> bool:
        """The liveness probe's answer."""
        if box.hung:
            return False  # no answer: the probe fails
        return self.redis_up or self.s.liveness == "process"

    def liveness_probe(self, box: Instance, first: float) -> Generator[simpy.Event, None, None]:
        """The kubelet's liveness loop for one life of ``box``: restart after
        ``liveness_threshold`` failures in a row."""
        s, life = self.s, box.life
        yield self.env.timeout(first)
        failures = 0
        while box.life == life:
            if self.alive(box):
                failures = 0
            else:
                failures += 1
                if failures == s.liveness_threshold:
                    self.restart(box)
                    return
            yield self.env.timeout(s.liveness_period)

    def readiness_probe(self, box: Instance, first: float) -> Generator[simpy.Event, None, None]:
        """The readiness loop for one life of ``box``: out of the pool after
        ``readiness_threshold`` failures in a row, back in at the first success."""
        s, life = self.s, box.life
        yield self.env.timeout(first)
        failures = 0
        while box.life == life:
            if box.hung or not self.redis_up:
                failures += 1
                if failures >= s.readiness_threshold and box.in_pool:
                    self.change(box, in_pool=False)
            else:
                failures = 0
                if not box.in_pool:
                    self.change(box, in_pool=True)
            yield self.env.timeout(s.readiness_period)

    def restart(self, box: Instance) -> None:
        """Liveness failed: kill the container (out of the pool at once), restart it, after a
        CrashLoopBackOff wait if it was restarted recently."""
        s, now = self.s, self.env.now
        self.restarts += 1
        self.restarted.add(box.index)
        self.restart_times.append(now)
        if box.hung and self.detection is None and self.hung_since is not None:
            self.detection = now - self.hung_since
        wait = 0.0
        if s.crash_backoff:
            if now - box.booted_at >= BACKOFF_RESET:
                box.loop = 0
            wait = backoff_wait(box.loop)
            box.loop += 1
        box.life += 1
        self.change(box, booted=False, hung=False, in_pool=False)
        self.env.process(self.boot(box, wait))

    def boot(self, box: Instance, wait: float) -> Generator[simpy.Event, None, None]:
        """Wait out the backoff, boot, come back cold; the probes start ``initial_delay`` later."""
        yield self.env.timeout(wait + self.s.boot)
        box.booted_at = self.env.now
        self.cold_starts += 1
        self.change(box, booted=True, in_pool=True if self.s.readiness == "none" else None)
        self.start_probes(box, self.s.initial_delay, self.s.initial_delay)

    def start_probes(self, box: Instance, liveness_at: float, readiness_at: float) -> None:
        self.env.process(self.liveness_probe(box, liveness_at))
        if self.s.readiness == "dependency":
            self.env.process(self.readiness_probe(box, readiness_at))

    # --- bookkeeping ----------------------------------------------------------------------

    def change(
        self,
        box: Instance,
        *,
        booted: bool | None = None,
        hung: bool | None = None,
        in_pool: bool | None = None,
    ) -> None:
        """Change ``box`` and the fleet's counts, and record the new step."""
        was_ready, was_serving = box.in_pool, box.serving
        if booted is not None:
            box.booted = booted
        if hung is not None:
            box.hung = hung
        if in_pool is not None:
            box.in_pool = in_pool
        self.ready += box.in_pool - was_ready
        self.serving += box.serving - was_serving
        self.useful += (box.in_pool and box.serving) - (was_ready and was_serving)
        self.record()

    def record(self) -> None:
        hung = self.fleet[HUNG]
        step = (
            self.env.now,
            self.ready,
            self.serving,
            self.useful,
            hung.in_pool and hung.hung,
            self.redis_up,
        )
        if self.steps and self.steps[-1][0] == step[0]:
            self.steps[-1] = step  # several changes at one moment: one step
        else:
            self.steps.append(step)

    def run(self) -> HealthResult:
        s = self.s
        if s.outage:
            self.env.process(self.redis())
        if s.hang_at is not None:
            self.env.process(self.hang())
        for box in self.fleet:
            i = box.index
            self.start_probes(box, self.liveness_phases[i], self.readiness_phases[i])
        self.env.run(until=s.duration)
        return self.measure()

    def measure(self) -> HealthResult:
        """The requests against the recorded steps, then the times the steps give."""
        s, steps = self.s, self.steps
        rng = self.request_rng
        times = np.sort(rng.uniform(0.0, s.duration, int(rng.poisson(s.rate * s.duration))))
        starts = [step[0] for step in steps]
        first = np.searchsorted(times, starts).tolist()  # the first request of each step
        counts = np.diff([*first, len(times)]).tolist()
        ok = dependency = no_instance = hung = routed = 0
        for (_, ready, _, _, hung_in_pool, redis_up), count in zip(steps, counts, strict=True):
            if not count:
                continue
            if ready == 0:
                no_instance += count
                continue
            # round robin: requests routed, routed + 1, ... go to position (k mod ready); the
            # hung instance (index 0) is at position 0 when it is in the pool
            to_hung = (
                (routed + count + ready - 1) // ready - (routed + ready - 1) // ready
                if hung_in_pool
                else 0
            )
            routed += count
            hung += to_hung
            if redis_up:
                ok += count - to_hung
            else:
                dependency += count - to_hung
        ends = [*starts[1:], s.duration]
        outage = math.fsum(
            end - start
            for (start, _, _, useful, _, redis_up), end in zip(steps, ends, strict=True)
            if useful == 0 or not redis_up
        )
        timeline = Timeline(
            times=(*starts, s.duration),
            ready=tuple(step[1] for step in steps),
            serving=tuple(step[2] for step in steps),
            useful=tuple(step[3] if step[5] else 0 for step in steps),
        )
        return HealthResult(
            scenario=s,
            requests=len(times),
            succeeded=ok,
            failed_dependency=dependency,
            failed_no_instance=no_instance,
            failed_hung=hung,
            restarts=self.restarts,
            instances_restarted=len(self.restarted),
            cold_starts=self.cold_starts,
            max_unready=s.instances - min(step[1] for step in steps),
            outage_seen=outage,
            detection_time=self.detection,
            time_to_recover=self.recovery(),
            timeline=timeline,
            restart_times=tuple(self.restart_times),
        )

    def recovery(self) -> float | None:
        """From the disruption's end (Redis back, or the hang; the later of the two) to the
        start of the last stretch in which every instance is in the pool and serving with Redis
        up; ``None`` with nothing to recover from, or when the run ends before that."""
        s = self.s
        ends = [s.outage_at + s.outage] if s.outage else []
        if s.hang_at is not None:
            ends.append(s.hang_at)
        if not ends:
            return None
        n = s.instances
        full = None
        for start, _, _, useful, _, redis_up in reversed(self.steps):
            if useful != n or not redis_up:
                break
            full = start
        return None if full is None else max(0.0, full - max(ends))


def backoff_wait(loop: int) -> float:
    """CrashLoopBackOff's wait before a restart, the ``loop``-th in a row (0: the first,
    immediate): 10 s, 20 s, 40 s, ... at most 300 s."""
    return 0.0 if loop == 0 else min(BACKOFF_FIRST * 2.0 ** min(loop - 1, 16), BACKOFF_CAP)


def run_health(*args: Any, **kwargs: Any) -> HealthResult:
    """One run; the arguments are ``HealthScenario``'s fields (``liveness`` first), or one
    scenario: ``run_health(liveness="dependency", outage=20)``."""
    return HealthModel(knobs.from_arguments(HealthScenario, args, kwargs)).run()


def replicate_health(replications: int = 10, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): counts summed,
    times and the availability averaged, their 95% intervals in ``"interval"``."""
    scenario = knobs.from_arguments(HealthScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def _run_dict(scenario: HealthScenario) -> dict[str, Any]:
    return HealthModel(scenario).run().to_dict()


# --- theory ---------------------------------------------------------------------------------


def detection_band(period: float, threshold: int) -> tuple[float, float]:
    """Where the detection time of a hang lies: the first failed probe comes within one period
    of the hang, the restart ``threshold − 1`` periods later: [(k − 1) P, k P)."""
    return ((threshold - 1) * period, threshold * period)


def theory_detection_time(period: float, threshold: int) -> float:
    """The mean detection time with a uniform probe phase: (k − ½) P."""
    return (threshold - 0.5) * period


@dataclass(frozen=True)
class OutageTheory:
    """What this model's probes make of an outage of Redis, from the probes' phases alone:
    the outage seen (``low`` ≤ any run ≤ ``high``, ``mean`` its expectation) and the time to
    recover (``recover_*``: from Redis' return until every instance serves again)."""

    low: float
    mean: float
    high: float
    recover_low: float
    recover_mean: float
    recover_high: float


def theory_outage(*args: Any, **kwargs: Any) -> OutageTheory:
    """The outage seen and the time to recover of one outage, exactly for this model (up to a
    grid of ``THEORY_GRID`` phases per period), for a run long enough to recover and no hang.

    Each instance i is back (in the pool and serving, Redis up) at a time g(u_i, w_i) after
    Redis goes down, where u_i and w_i, its first failed liveness and readiness probes' delays
    after the outage starts, are independent and uniform over a period: with liveness on Redis
    and u + (k − 1) P < D, it is restarted (then restarted again while its probes keep failing)
    and g follows the boots; otherwise g is D, or, when readiness took it out of the pool, its
    first readiness probe after D. The fleet's outage is the earliest instance's g, the recovery
    the latest's minus D: E[min] = ∫ P(g > x)^N dx and E[max] = ∫ 1 − P(g ≤ x)^N dx."""
    s = knobs.from_arguments(HealthScenario, args, kwargs)
    if s.hang_at is not None:
        raise ValueError("theory_outage covers an outage alone: leave hang_at out")
    d = s.outage
    if d == 0:
        return OutageTheory(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    values, weights = _back_times(s)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    gaps = np.diff(values)
    above = 1.0 - np.cumsum(weights)[:-1]  # P(g > v_i)
    below = np.cumsum(weights)[:-1]  # P(g ≤ v_i)
    n = s.instances
    earliest = float(values[0] + np.sum(gaps * np.clip(above, 0.0, 1.0) ** n))
    latest = float(values[-1] - np.sum(gaps * np.clip(below, 0.0, 1.0) ** n))
    low, high = float(values[0]), float(values[-1])
    return OutageTheory(low, earliest, high, low - d, latest - d, high - d)


def _back_times(s: HealthScenario) -> tuple[np.ndarray, np.ndarray]:
    """The back time g of one instance over a grid of its phases, with each value's weight
    (its probability); the grid's ends are included (with weight 0) for the band."""
    grid = THEORY_GRID
    share = [(j + 0.5) / grid for j in range(grid)]
    ends = [0.0, 1.0 - 1e-12]
    values: list[float] = []
    weights: list[float] = []
    kept, any_kept = 0.0, False  # the phases u where the instance is not restarted
    for fraction, weight in [(f, 1.0 / grid) for f in share] + [(f, 0.0) for f in ends]:
        back = _back_after_restarts(s, fraction * s.liveness_period)
        if back is None:
            kept += weight
            any_kept = True
        else:
            values.append(back)
            weights.append(weight)
    if any_kept:  # some phases restart nothing: readiness decides alone
        for fraction, weight in [(f, kept / grid) for f in share] + [(f, 0.0) for f in ends]:
            values.append(_back_in_pool(s, fraction * s.readiness_period))
            weights.append(weight)
    return np.array(values), np.array(weights)


def _back_in_pool(s: HealthScenario, w: float) -> float:
    """An instance not restarted, its first readiness probe ``w`` after the outage starts:
    back at D, or at its first readiness probe after D if readiness took it out of the pool."""
    d = s.outage
    if s.readiness == "none" or w + (s.readiness_threshold - 1) * s.readiness_period >= d:
        return d
    return w + math.ceil((d - w) / s.readiness_period) * s.readiness_period


def _back_after_restarts(s: HealthScenario, u: float) -> float | None:
    """An instance whose first failed liveness probe comes ``u`` after the outage starts: when
    it is back, or ``None`` when it is not restarted (liveness on the process, or too few
    failures before Redis returns)."""
    d, period, k = s.outage, s.liveness_period, s.liveness_threshold
    restart = u + (k - 1) * period
    if s.liveness == "process" or restart >= d:
        return None
    loop, booted_at = 0, -math.inf
    while True:
        wait = 0.0
        if s.crash_backoff:
            if restart - booted_at >= BACKOFF_RESET:
                loop = 0
            wait = backoff_wait(loop)
            loop += 1
        booted_at = restart + wait + s.boot
        probes = booted_at + s.initial_delay
        if probes + (k - 1) * period >= d:
            break
        restart = probes + (k - 1) * period  # its probes keep failing: restarted again
    if s.readiness == "none":
        return max(booted_at, d)
    if probes >= d:
        return probes
    return probes + math.ceil((d - probes) / s.readiness_period) * s.readiness_period


# --- the lesson's sweeps and table ----------------------------------------------------------

RECOVERY_ROOM = 5.0  # seconds a sweep's run goes on after the theory's latest recovery


def outage_by_blip(
    outages: Iterable[float] = BLIPS,
    liveness: Sequence[str] = LIVENESS,
    replications: int = 10,
    **settings: Any,
) -> dict[str, list[dict[str, Any]]]:
    """The amplification: :func:`replicate_health` at each outage length D (``BLIPS`` unless
    given), for each liveness design (the other settings and the seed the same everywhere):
    ``{liveness: [...]}``. Each run is long enough to see the fleet recover (``duration``
    grows when needed), and carries ``theory_outage``, ``theory_outage_low`` and
    ``theory_outage_high`` (:func:`theory_outage`)."""
    outages = list(outages)
    unknown = [name for name in liveness if name not in LIVENESS]
    if unknown:
        raise ValueError(f"unknown liveness {unknown[0]!r}; use one of {', '.join(LIVENESS)}")
    clash = sorted({"liveness", "outage", "hang_at"} & set(settings))
    if clash:
        raise ValueError(f"{', '.join(clash)} is set by the sweep; leave it out of settings")
    return {
        name: [
            _with_outage_theory(replications, liveness=name, outage=d, **settings) for d in outages
        ]
        for name in liveness
    }


def _with_outage_theory(replications: int, **settings: Any) -> dict[str, Any]:
    end = _setting(settings, "outage_at") + settings["outage"]
    theory = theory_outage(_long_enough(settings, end))
    needed = _setting(settings, "outage_at") + theory.high + RECOVERY_ROOM
    duration = max(_setting(settings, "duration"), needed)
    run = replicate_health(replications, **{**settings, "duration": duration})
    return run | {
        "theory_outage": round(theory.mean, 6),
        "theory_outage_low": round(theory.low, 6),
        "theory_outage_high": round(theory.high, 6),
        "theory_recover": round(theory.recover_mean, 6),
    }


def _setting(settings: Mapping[str, Any], name: str) -> Any:
    """A knob's value in ``settings``, else the scenario's default."""
    return settings.get(name, HealthScenario.__dataclass_fields__[name].default)


def _long_enough(settings: Mapping[str, Any], until: float) -> HealthScenario:
    """The scenario of ``settings``, its run lasting past ``until`` (the theory's need)."""
    duration = max(_setting(settings, "duration"), until + 1.0)
    return HealthScenario(**{**settings, "duration": duration})


def detection_by_probe(
    probes: Iterable[tuple[float, int]] = DETECTION_PROBES,
    replications: int = 20,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Hang detection against the liveness probe's settings: :func:`replicate_health` for each
    ``(period, threshold)`` with a hang at ``hang_at`` (30 s unless given) and no outage unless
    given, each run long enough to detect it and recover. Each carries ``probe_budget`` (period ×
    threshold), ``theory_detection`` ((k − ½) P) and ``detection_low``/``detection_high``
    (:func:`detection_band`)."""
    clash = sorted({"liveness_period", "liveness_threshold"} & set(settings))
    if clash:
        raise ValueError(f"{', '.join(clash)} is set by the sweep; leave it out of settings")
    settings = {"hang_at": 30.0, "outage": 0.0, **settings}
    runs = []
    for period, threshold in probes:
        hang_at = settings["hang_at"]
        if hang_at is None:
            raise ValueError("detection_by_probe needs a hang: give hang_at a time, not None")
        last = max(hang_at, _setting(settings, "outage_at") + settings["outage"])
        room = threshold * period + _setting(settings, "boot") + _setting(settings, "initial_delay")
        room += 2 * _setting(settings, "readiness_period") + RECOVERY_ROOM
        duration = max(_setting(settings, "duration"), last + room)
        run = replicate_health(
            replications,
            liveness_period=period,
            liveness_threshold=threshold,
            **{**settings, "duration": duration},
        )
        low, high = detection_band(period, threshold)
        runs.append(
            run
            | {
                "probe_budget": period * threshold,
                "theory_detection": theory_detection_time(period, threshold),
                "detection_low": low,
                "detection_high": high,
            }
        )
    return runs


def compare_designs(
    replications: int = 10, designs: Mapping[str, Mapping[str, str]] = DESIGNS, **settings: Any
) -> dict[str, dict[str, Any]]:
    """:func:`replicate_health` for each probe design of ``DESIGNS`` (liveness and readiness),
    the other settings and the seed the same: ``{design: merged run}``."""
    clash = sorted({key for design in designs.values() for key in design} & set(settings))
    if clash:
        raise ValueError(f"{', '.join(clash)} is set by each design; leave it out of settings")
    return {
        name: replicate_health(replications, **{**settings, **design})
        for name, design in designs.items()
    }


def health_table(runs: Mapping[str, dict[str, Any]]) -> str:
    """Lesson 11's table of :func:`compare_designs`: per design, the share of requests that
    failed and why, restarts per run, and the outage seen and the time to recover (means, the
    outage's 95% interval beside it)."""
    rows = [
        (
            "design",
            "failed",
            "Redis down",
            "no instance",
            "hung",
            "restarts/run",
            "outage seen",
            "(95% interval)",
            "recovered in",
        )
    ]
    for name, run in runs.items():
        runs_count = run.get("interval", {}).get("replications", 1)
        requests = max(run["requests"], 1)
        low, high = run.get("interval", {}).get("outage_seen", [None, None])
        recover = run["time_to_recover"]
        rows.append(
            (
                name,
                f"{run['failed'] / requests:.1%}",
                f"{run['failed_dependency'] / requests:.1%}",
                f"{run['failed_no_instance'] / requests:.1%}",
                f"{run['failed_hung'] / requests:.1%}",
                f"{run['restarts'] / runs_count:.1f}",
                f"{run['outage_seen']:.1f} s",
                "" if low is None else f"({low:.1f} to {high:.1f})",
                "–" if recover is None else f"{recover:.1f} s",
            )
        )
    return text_table(rows)
