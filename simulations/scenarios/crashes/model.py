"""Sessions and crashes: where a session lives decides who is logged out when an instance dies.

Every user logs in once, early (within ``login_window``, 10 s by default), then sends requests
at random, with exponential gaps of mean ``think_time`` seconds (a Poisson stream per user),
until ``duration`` (100 s by default). Sessions live in one of two stores:

* ``memory``: a session lives on the instance whose memory created it. A request that reaches
  another instance finds no session: a **session miss**, the user is asked to log in again, and
  the new session lives *there*. Under round robin that is most requests; under ``sticky``
  routing (each user pinned to the instance that created their session) none, until that
  instance dies: then every session on it is **lost**, and each of its users, at their next
  request, is **forced to log in again** on another instance;
* ``shared``: sessions live in an external store (Redis) that every instance reads: no
  instance holds the only copy, so a crash loses none and no request ever misses.

The instance sees the session cookie when the balancer hands it the request (``route``): that
is when a miss is counted and a new session made. At each time in ``crash_at``, the first
``crashes`` ready instances (lowest index first) die (``simulations.engine.lifecycle``); with
``restart_after`` each comes back, empty, after that delay plus ``boot_time``.

The requests are drawn up front from the seed (login times, think times, service times), so
every store and policy run with the same seed sees exactly the same requests and crash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.lifecycle import READY, Cluster, ClusterEvent, replay, sample
from simulations.engine.metrics import ResponseStats, rounded, text_table
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
from simulations.replications import ReplicationSettings, replication_seeds

TIMELINE_SAMPLES = 200


@dataclass(frozen=True)
class CrashScenario:
    """Instances crash: sessions kept in instance memory die with them; a shared store keeps
    them. The knobs of one run: store, routing, cluster, users, the crash schedule, seed."""

    store: str = store_knob()
    policy: str = routing_knob()
    instances: int = knobs.count(
        4, "instances behind the balancer", high=knobs.MAX_INSTANCES, slider=(1, 12, 1)
    )
    users: int = knobs.count(1000, "users, each logging in once", high=knobs.MAX_USERS, metavar="U")
    duration: float = knobs.number(100.0, "seconds of traffic", unit="s", metavar="D")
    login_window: float = knobs.number(
        10.0, "every user logs in within the first W seconds", unit="s", metavar="W"
    )
    think_time: float = think_time_knob(10.0)
    service_rate: float = service_rate_knob(40.0)
    crash_at: tuple[float, ...] = knobs.times(
        "crash times (none: nothing crashes)", unit="s", slider=(15, 85, 5), label="crash at"
    )
    crashes: int = knobs.count(
        1,
        "instances that die at each crash time",
        low=0,
        applies=("crash_at", ()),
        why="nothing crashes without it",
        slider=(1, 12, 1),
        label="crash",
        metavar="K",
    )
    restart_after: float | None = knobs.number(
        None,
        "a crashed instance restarts R seconds later, empty",
        unit="s",
        above=False,
        optional=True,
        applies=("crash_at", ()),
        why="nothing crashes without it",
        slider=(0, 10, 1),
        label="restart after",
        metavar="R",
    )
    boot_time: float = knobs.number(
        0.0,
        "a restarted instance serves B seconds after it starts",
        unit="s",
        above=False,
        applies=("restart_after", ()),
        why="it applies to restarted instances",
        metavar="B",
    )
    retry_queued: bool = knobs.switch(
        False,
        "the balancer resends a crashed instance's queued requests",
        applies=("crash_at", ()),
        why="nothing crashes without it",
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        knobs.work_limit(
            "requests",
            self.users * (1 + self.duration / self.think_time),
            knobs.MAX_LIFECYCLE_REQUESTS,
            "users or duration, or raise think_time",
        )
        if self.login_window > self.duration:
            raise ValueError(
                f"login_window {self.login_window:g} is longer than the duration {self.duration:g}"
            )
        if self.crashes > self.instances:
            raise ValueError(
                f"crashes must be between 0 and the {self.instances} instances, got {self.crashes}"
            )
        for when in self.crash_at:
            if when >= self.duration:
                raise ValueError(
                    f"a crash at {when:g} comes after the last request (duration "
                    f"{self.duration:g}): it could not change anything"
                )
        if self.crashes == 0 and self.crash_at:
            raise ValueError("crash_at needs crashes ≥ 1 (crashes = 0 means nothing crashes)")
        if self.restart_after is None:
            if self.boot_time:
                raise ValueError("boot_time applies to restarted instances: give restart_after")
        else:
            if not self.crash_at:
                raise ValueError("restart_after needs a crash (crash_at)")
            back = self.crash_at[-1] + self.restart_after + self.boot_time
            if back >= self.duration:
                raise ValueError(
                    f"the last crashed instance would be back at {back:g}, after the last "
                    f"request (duration {self.duration:g}): the restart could not change anything"
                )
        if self.retry_queued and not self.crash_at:
            raise ValueError("retry_queued needs a crash (crash_at)")


@dataclass(frozen=True)
class Timeline:
    """The run sampled at regular times: ready instances, live sessions, cumulative trouble."""

    times: list[float] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    session_misses: list[int] = field(default_factory=list)  # requests sent to log in, so far
    failed: list[int] = field(default_factory=list)  # failed requests so far

    @classmethod
    def of(cls, rows: list[tuple]) -> Timeline:
        columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
        return cls(*(list(column) for column in columns))


@dataclass(frozen=True)
class CrashResult(Outcome):
    """What one run measured: requests, failures and the sessions' fate (all counts are ints)."""

    scenario: CrashScenario
    requests_rerouted: int
    sessions_at_crash: int
    sessions_at_end: int
    requests_per_instance: list[int]
    events: list[ClusterEvent]
    response: ResponseStats
    timeline: Timeline
    lost_sessions: list[tuple[float, int, int]] = field(repr=False)
    # each instance's share of time spent serving, from the start to the first crash (none: [])
    utilization_before_crash: list[float] = field(default_factory=list)

    @property
    def fraction_lost(self) -> float:
        """Sessions lost as a share of the sessions in place at the first crash."""
        return self.sessions_lost / self.sessions_at_crash if self.sessions_at_crash else 0.0

    def summary(self) -> str:
        """Two lines for a person: the setup, then what the users lived through."""
        s = self.scenario
        times = ", ".join(f"{t:g}" for t in s.crash_at)
        crash = (
            f"{s.crashes} of {s.instances} instances crash at {times} s"
            if s.crash_at
            else f"{s.instances} instances, no crash"
        )
        return (
            f"{s.store} sessions, {s.policy}, {crash}: "
            f"{self.requests} requests from {s.users} users\n"
            f"sessions lost {self.sessions_lost} of {self.sessions_at_crash}, users forced to log "
            f"in again {self.users_forced_to_login}, session misses {self.session_misses}, "
            f"failed requests {self.failed_requests}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the inputs, then the counts (ints), then a few floats."""
        s = self.scenario
        return {
            "store": s.store,
            "policy": s.policy,
            "instances": s.instances,
            "users": s.users,
            "duration": s.duration,
            "login_window": s.login_window,
            "think_time": s.think_time,
            "service_rate": s.service_rate,
            "crash_at": list(s.crash_at),
            "crashes": s.crashes if s.crash_at else 0,
            "restart_after": s.restart_after,
            "boot_time": s.boot_time,
            "retry_queued": s.retry_queued,
            "seed": s.seed,
            **outcome_fields(self),
            "requests_rerouted": self.requests_rerouted,
            "sessions_at_crash": self.sessions_at_crash,
            "sessions_at_end": self.sessions_at_end,
            "requests_per_instance": self.requests_per_instance,
            "events": [
                {
                    "time": round(event.time, 6),
                    "kind": event.kind,
                    "instance": event.instance,
                    "sessions_lost": event.sessions_lost,
                    "requests": event.requests,
                }
                for event in self.events
            ],
            "mean_response": rounded(self.response.mean),
            "p99_response": rounded(self.response.p99),
        }


def draw_requests(scenario: CrashScenario) -> list[Request]:
    """Every user's requests, up front: a login within the window, then Poisson traffic."""
    login_rng, think_rng, service_rng = independent_streams(scenario.seed, 3)
    rate = 1.0 / scenario.think_time
    sends: list[tuple[float, int]] = []
    for user in range(scenario.users):
        now = login_rng.uniform(0.0, scenario.login_window)
        while now < scenario.duration:
            sends.append((now, user))
            now += think_rng.expovariate(rate)
    return numbered_requests(sends, scenario.service_rate, service_rng)


def run_crashes(scenario: CrashScenario | None = None, **overrides: Any) -> CrashResult:
    """Run one scenario (``CrashScenario`` fields as keyword arguments) and count the damage."""
    scenario = with_overrides(CrashScenario, scenario, overrides)
    requests = draw_requests(scenario)

    env = simpy.Environment()
    metrics, book, cluster = start_cluster(
        env,
        scenario.instances,
        scenario.store,
        scenario.policy,
        policy_stream(scenario.seed, 0x5E55),
        len(requests),
        retry_queued=scenario.retry_queued,
    )
    at_crash: list[int] = []
    busy_share: list[float] = []

    def before_first_crash() -> None:
        at_crash.append(len(book.store))
        busy_share.extend(i.busy_until(env.now) / env.now for i in cluster.instances)  # now > 0

    env.process(crash_schedule(env, cluster, scenario, before_first_crash))
    env.process(replay(env, requests, cluster.balancer))
    rows: list[tuple] = []

    def probe() -> tuple:
        return (cluster.count(READY), len(book.store), book.misses, metrics.failed)

    every = scenario.duration / TIMELINE_SAMPLES
    env.process(sample(env, every, probe, rows, until=scenario.duration))
    env.run(until=metrics.done)

    return CrashResult(
        scenario=scenario,
        **outcome_counts(len(requests), metrics, book),
        requests_rerouted=cluster.rerouted,
        sessions_at_crash=at_crash[0] if at_crash else 0,
        sessions_at_end=len(book.store),
        requests_per_instance=[cluster.balancer.routed[i] for i in range(scenario.instances)],
        events=list(cluster.events),
        response=ResponseStats.of(metrics.response_times),
        timeline=Timeline.of(rows),
        lost_sessions=list(book.lost),
        utilization_before_crash=busy_share,
    )


def crash_schedule(
    env: simpy.Environment, cluster: Cluster, scenario: CrashScenario, before_first: Any
) -> Any:
    """A crash, as one SimPy process: at each crash time the first ``crashes`` ready instances
    die; with ``restart_after``, each comes back empty after that delay plus its boot time."""
    for number, when in enumerate(scenario.crash_at):
        yield env.timeout(when - env.now)
        if number == 0:
            before_first()
        for victim in cluster.in_state(READY)[: scenario.crashes]:
            cluster.crash(victim)
            if scenario.restart_after is not None:
                cluster.restart(victim, scenario.restart_after, scenario.boot_time)


def replicate_crashes(
    replications: int, scenario: CrashScenario | None = None, **overrides: Any
) -> list[CrashResult]:
    """``replications`` independent runs of one scenario, each with its own seed derived from
    the scenario's (``simulations.replications.replication_seeds``): how much one run's
    numbers would change with other random users (pair with ``mean_interval``)."""
    scenario = with_overrides(CrashScenario, scenario, overrides)
    ReplicationSettings(replications)
    seeds = replication_seeds(scenario.seed, replications)
    return [run_crashes(dataclasses.replace(scenario, seed=seed)) for seed in seeds]


def miss_share(result: CrashResult) -> float:
    """Session misses per request after the logins: how often a request found no session."""
    later = result.requests - result.logins
    return result.session_misses / later if later else 0.0


def comparison_table(results: dict[str, CrashResult]) -> str:
    """One row per setup: sessions lost; users sent to the login page at least once (each user
    counted once); session misses (each request that found no session, so a user can miss
    many times); failed requests."""
    header = ("setup", "sessions lost", "users sent to log in", "session misses", "failed")
    rows = [header] + [
        (
            name,
            f"{r.sessions_lost:,}",
            f"{r.users_forced_to_login:,}",
            f"{r.session_misses:,}",
            f"{r.failed_requests:,}",
        )
        for name, r in results.items()
    ]
    return text_table(rows)


def compare_stores(**overrides: Any) -> dict[str, CrashResult]:
    """The same users and crash three ways: memory + round robin, memory + sticky, shared."""
    setups = {
        "memory + round_robin": {"store": "memory", "policy": "round_robin"},
        "memory + sticky": {"store": "memory", "policy": "sticky"},
        "shared + round_robin": {"store": "shared", "policy": "round_robin"},
    }
    return {name: run_crashes(**{**overrides, **setup}) for name, setup in setups.items()}
