"""A traffic spike against the autoscaler: it scales out late (boot time), and in, carefully.

Traffic is made of *visits*: a user arrives, logs in (their first request), sends a request
about every ``think_time`` seconds, and leaves after a visit of ``visit_length`` seconds on
average (exponential). At the base load ``users`` users are active at any moment; between
``spike_at`` and ``spike_at + spike_duration`` visits start ``spike_factor`` times as often (a
flash crowd of new users; a factor below 1 is a lull), so the load rises and falls over about
one visit length. The cluster starts with enough instances for the base load at the target
utilization; the HPA rule (``autoscaler.py`` in this folder) then adds instances, which serve
only after ``boot_time``, and removes the newest ones when the traffic falls, after the
stabilization window, draining them or not.

What scale-in costs depends on where sessions live: in ``memory``, the sessions of every
removed instance are lost, and its users who are still visiting must log in again (draining
finishes *requests*, not sessions: a session outlives any request, so an instance would have
to stay until its last session expired, or hand its sessions to a store every instance can
read, which is the ``shared`` store). Without draining, the requests a removed instance held
fail as well.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.lifecycle import (
    BOOTING,
    DRAINING,
    READY,
    ClusterEvent,
    poisson_times,
    replay,
    sample,
)
from simulations.engine.metrics import ResponseStats, rounded
from simulations.engine.sessions import (
    Outcome,
    outcome_counts,
    outcome_fields,
    routing_knob,
    service_rate_knob,
    start_cluster,
    store_knob,
    think_time_knob,
)
from simulations.engine.workload import (
    Request,
    independent_streams,
    numbered_requests,
    policy_stream,
)
from simulations.knobs import with_overrides
from simulations.replications import (
    ReplicationSettings,
    interval_table,
    replication_seeds,
)
from simulations.scenarios.autoscale.autoscaler import (
    FLOAT_SLACK,
    Decision,
    HorizontalAutoscaler,
    autoscaler,
)

MAX_STEPS = 200_000  # periodic steps (decisions, timeline samples) in one run
SAMPLE_EVERY = 5.0  # seconds between timeline samples


@dataclass(frozen=True)
class AutoscaleScenario:
    """A traffic spike against a Kubernetes-style autoscaler. The knobs of one run: sessions
    and routing, traffic and spike, the HPA, boot, draining."""

    store: str = store_knob()
    policy: str = routing_knob()
    users: int = knobs.count(
        30, "users visiting at any moment at the base load", high=knobs.MAX_USERS, metavar="U"
    )
    think_time: float = think_time_knob(10.0)
    visit_length: float = knobs.number(120.0, "mean seconds a visit lasts", unit="s")
    spike_factor: float = knobs.number(
        3.0, "visits start this many times as often", slider=(1.5, 5, 0.5), label="spike ×"
    )
    spike_at: float = knobs.number(300.0, "the spike starts at", unit="s", above=False)
    spike_duration: float = knobs.number(300.0, "the spike lasts", unit="s")
    duration: float = knobs.number(1200.0, "seconds of traffic", unit="s")
    service_rate: float = service_rate_knob(1.0)
    target: float = knobs.number(0.6, "target CPU utilization")
    tolerance: float = knobs.number(
        0.1, "no change while |utilization/target − 1| ≤ X", above=False, high=1, below=True
    )
    min_replicas: int = knobs.count(
        2, "the autoscaler keeps at least N instances", high=knobs.MAX_INSTANCES
    )
    max_replicas: int = knobs.count(
        20, "the autoscaler keeps at most N instances", high=knobs.MAX_INSTANCES
    )
    sync_period: float = knobs.number(15.0, "seconds between two autoscaler decisions", unit="s")
    metric_window: float = knobs.number(60.0, "utilization is averaged over X seconds", unit="s")
    stabilization_window: float = knobs.number(
        300.0,
        "scale-down stabilization: the highest wish of the last X seconds wins",
        unit="s",
        above=False,
        slider=(0, 600, 30),
        label="window (s)",
    )
    boot_time: float = knobs.number(
        30.0,
        "a new instance serves X seconds after it starts",
        unit="s",
        above=False,
        slider=(0, 180, 10),
        label="boot (s)",
    )
    drain: bool = knobs.switch(
        True,
        "scale-in drains an instance before it stops",
        flag="--no-drain",
        flag_help="scale-in stops instances at once (their requests fail)",
        label="drain on scale-in",
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        peak = self.base_rate * max(1.0, self.spike_factor)
        knobs.work_limit(
            "requests",
            peak * self.duration,
            knobs.MAX_LIFECYCLE_REQUESTS,
            "users, spike_factor or duration, or raise think_time",
        )
        knobs.work_limit(
            "autoscaler and timeline steps",
            self.duration / min(self.sync_period, SAMPLE_EVERY),
            MAX_STEPS,
            "duration, or raise sync_period",
        )
        if self.spike_factor == 1:
            raise ValueError("spike_factor 1 is no spike: use a factor above 1 (or below, a lull)")
        if self.spike_at >= self.duration:
            raise ValueError(
                f"the spike at {self.spike_at:g} starts after the end ({self.duration:g})"
            )
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        if self.sync_period >= self.duration:
            raise ValueError("sync_period must be shorter than the duration")

    @property
    def initial_replicas(self) -> int:
        """Enough instances for the base load at the target utilization (within min/max)."""
        needed = math.ceil(self.base_rate / (self.service_rate * self.target) - FLOAT_SLACK)
        return max(self.min_replicas, min(self.max_replicas, needed))

    @property
    def base_rate(self) -> float:
        """Requests per second at the base load: active users / think time, plus the logins
        of the users / visit length new visits per second."""
        return self.users / self.think_time + self.users / self.visit_length

    def visit_rate_at(self, time: float) -> float:
        """New visits per second at ``time``: users / visit length, times the spike factor."""
        in_spike = self.spike_at <= time < self.spike_at + self.spike_duration
        return self.users / self.visit_length * (self.spike_factor if in_spike else 1.0)


@dataclass(frozen=True)
class AutoscaleTimeline:
    """Sampled every ``SAMPLE_EVERY`` seconds: instances by state, and the traffic."""

    times: list[float] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    booting: list[int] = field(default_factory=list)
    draining: list[int] = field(default_factory=list)
    arrival_rate: list[float] = field(default_factory=list)  # requests/s in the window ending here


@dataclass(frozen=True)
class AutoscaleResult(Outcome):
    """What one run measured (counts are ints)."""

    scenario: AutoscaleScenario
    initial_replicas: int
    peak_replicas: int
    final_replicas: int
    instances_launched: int
    instances_retired: int
    first_scale_out: float | None  # when the first new instance was asked for
    first_new_ready: float | None  # when it started serving
    first_scale_in: float | None
    response: ResponseStats
    spike_response: ResponseStats  # requests that arrived during the spike
    decisions: list[Decision]
    timeline: AutoscaleTimeline

    events: list[ClusterEvent] = field(default_factory=list, repr=False)
    lost_sessions: list[tuple[float, int, int]] = field(default_factory=list, repr=False)

    def scale_outs_between(self, start: float, end: float) -> list[float]:
        """When the autoscaler asked for more instances than were running or booting, at the
        syncs in ``[start, end)``: before the spike, that is noise alone."""
        asked = (d for d in self.decisions if d.desired > d.ready + d.booting)
        return [d.time for d in asked if start <= d.time < end]

    @property
    def spike_scale_out(self) -> float | None:
        """The first scale-out asked for once the spike has begun (``None``: none was)."""
        later = self.scale_outs_between(self.scenario.spike_at, math.inf)
        return later[0] if later else None

    @property
    def base_readings(self) -> list[float]:
        """The utilization the autoscaler read at each sync before the spike, while the cluster
        kept its initial size: up to and including the first sync that asked for a change."""
        readings = []
        for decision in self.decisions:
            if decision.time >= self.scenario.spike_at:
                break
            readings.append(decision.utilization)
            if decision.desired != decision.ready + decision.booting:
                break
        return readings

    def summary(self) -> str:
        s = self.scenario
        return (
            f"{s.store} sessions, {s.policy}, drain {'on' if s.drain else 'off'}: replicas "
            f"{self.initial_replicas} → peak {self.peak_replicas} → {self.final_replicas}; "
            f"p99 in the spike {self.spike_response.p99:.1f} s\n"
            f"sessions lost {self.sessions_lost}, users forced to log in again "
            f"{self.users_forced_to_login}, failed requests {self.failed_requests}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: every knob of the scenario, then the counts (ints), then the
        floats rounded to 6 decimals."""
        summary: dict[str, Any] = asdict(self.scenario)
        summary |= outcome_fields(self)
        summary |= {
            "initial_replicas": self.initial_replicas,
            "peak_replicas": self.peak_replicas,
            "final_replicas": self.final_replicas,
            "instances_launched": self.instances_launched,
            "instances_retired": self.instances_retired,
            "first_scale_out": self.first_scale_out,
            "first_new_ready": self.first_new_ready,
            "first_scale_in": self.first_scale_in,
            "mean_response": self.response.mean,
            "p99_response": self.response.p99,
            "spike_p99_response": self.spike_response.p99,
            "replicas": [d.desired for d in self.decisions],
            "utilization": [d.utilization for d in self.decisions],
        }
        return rounded(summary)


def draw_requests(scenario: AutoscaleScenario) -> list[Request]:
    """Every visit's requests, up front: who arrives when, how long they stay, what they ask."""
    visit_rng, stay_rng, think_rng, service_rng = independent_streams(scenario.seed, 4)
    s = scenario
    spike_end = min(s.spike_at + s.spike_duration, s.duration)
    base = s.users / s.visit_length
    starts = [-1.0] * s.users  # visiting already at time 0: next request after a think time
    starts += poisson_times(visit_rng, base, 0.0, s.spike_at)
    starts += poisson_times(visit_rng, base * s.spike_factor, s.spike_at, spike_end)
    starts += poisson_times(visit_rng, base, spike_end, s.duration)
    sends: list[tuple[float, int]] = []
    for user, start in enumerate(starts):  # every visit is a new user with a new session
        leave = max(start, 0.0) + stay_rng.expovariate(1.0 / s.visit_length)
        now = start if start >= 0 else think_rng.expovariate(1.0 / s.think_time)
        while now < leave and now < s.duration:
            sends.append((now, user))
            now += think_rng.expovariate(1.0 / s.think_time)
    return numbered_requests(sends, s.service_rate, service_rng)


def run_autoscale(scenario: AutoscaleScenario | None = None, **overrides: Any) -> AutoscaleResult:
    """Run one spike (``AutoscaleScenario`` fields as keyword arguments) and measure it."""
    scenario = with_overrides(AutoscaleScenario, scenario, overrides)
    s = scenario
    requests = draw_requests(s)

    env = simpy.Environment()
    last_request = {request.user: request.number for request in requests}  # then they log out
    metrics, book, cluster = start_cluster(
        env,
        s.initial_replicas,
        s.store,
        s.policy,
        policy_stream(s.seed, 0xA5CA),
        len(requests),
        logouts=set(last_request.values()),
    )
    spike_end = s.spike_at + s.spike_duration
    metrics.window = (s.spike_at, spike_end)  # the spike's response times, kept apart
    hpa = HorizontalAutoscaler(
        s.target, s.tolerance, s.min_replicas, s.max_replicas, s.stabilization_window
    )
    decisions: list[Decision] = []
    env.process(
        autoscaler(
            env,
            cluster,
            hpa,
            s.sync_period,
            s.boot_time,
            s.drain,
            decisions,
            s.metric_window,
            until=s.duration,
        )
    )
    env.process(replay(env, requests, cluster.balancer))
    rows: list[tuple] = []

    def probe() -> tuple:
        return (cluster.count(READY), cluster.count(BOOTING), cluster.count(DRAINING))

    env.process(sample(env, SAMPLE_EVERY, probe, rows, until=s.duration))
    env.run(until=metrics.done)

    times = [row[0] for row in rows if row[0] <= s.duration]
    arrivals = _arrival_rates([r.arrived for r in requests], times)
    ready = [row[1] for row in rows][: len(times)]
    launched = [event for event in cluster.events if event.kind == "ready"]
    retired = [event for event in cluster.events if event.kind in ("drain", "stop", "cancel")]
    asked_more = next((d.time for d in decisions if d.desired > d.ready + d.booting), None)
    in_spike = metrics.in_window
    return AutoscaleResult(
        scenario=s,
        **outcome_counts(len(requests), metrics, book),
        initial_replicas=s.initial_replicas,
        peak_replicas=max(ready, default=s.initial_replicas),
        final_replicas=cluster.count(READY),
        instances_launched=len(cluster.instances) - s.initial_replicas,
        instances_retired=len(retired),
        first_scale_out=asked_more,
        first_new_ready=launched[0].time if launched else None,
        first_scale_in=retired[0].time if retired else None,
        response=ResponseStats.of(metrics.response_times),
        spike_response=ResponseStats.of(in_spike),
        decisions=decisions,
        timeline=AutoscaleTimeline(
            times,
            ready,
            [row[2] for row in rows][: len(times)],
            [row[3] for row in rows][: len(times)],
            arrivals,
        ),
        events=list(cluster.events),
        lost_sessions=list(book.lost),
    )


def replicate_autoscale(
    replications: int = 10, scenario: AutoscaleScenario | None = None, **overrides: Any
) -> list[AutoscaleResult]:
    """The same spike ``replications`` times, each with its own seed (``replication_seeds`` of
    the scenario's seed): run i of any two calls with the same seed sees the same visitors, so
    two settings compare run by run (common random numbers)."""
    ReplicationSettings(replications)
    scenario = with_overrides(AutoscaleScenario, scenario, overrides)
    seeds = replication_seeds(scenario.seed, replications)
    return [run_autoscale(scenario, seed=seed) for seed in seeds]


def damage_table(replicated: dict[str, list[AutoscaleResult]]) -> str:
    """Setups side by side over replications: sessions lost, users forced to log in again,
    failed requests and the p99 of the spike, each as the mean of the runs and its 95%
    interval (an interval needs two runs or more)."""
    measures = (
        ("sessions lost", lambda r: r.sessions_lost, "{:.1f}"),
        ("forced to log in", lambda r: r.users_forced_to_login, "{:.1f}"),
        ("failed requests", lambda r: r.failed_requests, "{:.1f}"),
        ("spike p99 (s)", lambda r: r.spike_response.p99, "{:.1f}"),
    )
    return interval_table("setup", replicated, measures, width=19)


def _arrival_rates(arrived: list[float], times: list[float]) -> list[float]:
    """Requests per second that arrived in each window ``(previous time, time]``."""
    rates, position = [], 0
    for k, time in enumerate(times):
        start = times[k - 1] if k else 0.0
        count = 0
        while position < len(arrived) and arrived[position] <= time:
            count += 1
            position += 1
        rates.append(count / (time - start) if time > start else 0.0)
    return rates
