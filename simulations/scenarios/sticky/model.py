"""Sticky sessions and hotspots: heavy users pinned to one instance make it run hot.

``run_sticky`` sends one heavy-tailed workload (``users.py`` in this folder: a few users
send most requests, every user keeps one session for the whole run) through a balancer in front of
n single-server FIFO instances, with one of ``STICKY_POLICIES``:

* ``sticky``: cookie stickiness, as real balancers do it (COURSE_DESIGN §7b): a user's first
  request goes round robin, every later one to the instance that created their session;
* ``sticky_hash``: hash(user) mod n (nginx ``ip_hash``);
* ``consistent_hash``: a hash ring with virtual nodes;
* ``bounded_load``: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam
  2018), capped at ⌈(1+ε)·average⌉ open connections: the middle road;
* ``round_robin`` and ``least_connections``: no affinity at all (stateless instances).

Optionally, at ``scale_out_at`` one more instance joins (does it take its share of the work?)
and at ``crash_hottest_at`` the instance that was given the most work so far dies (whose
sessions die with it? ``sessions_lost`` counts them, ``users_forced_to_login`` the users among
them who come back and are sent to log in). Sessions live in instance memory
(``sessions="memory"``: a request that finds no session where it lands, because the session is
elsewhere or died in the crash, is a *session miss*, a forced re-login that creates the session
there) or in a shared store (``sessions="shared"``: nothing to miss, nothing to lose).
The default, ``"auto"``, is what each policy is used with: memory for the policies that pin a
user (that is why one pins), a shared store for the ones that don't.

Common random numbers: arrival gaps, users and service times are drawn up front from their own
seeded streams, so every policy run with the same seed serves exactly the same requests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.balancer import LoadBalancer
from simulations.engine.instance import Instance
from simulations.engine.lifecycle import LifecycleMetrics, MortalInstance
from simulations.engine.metrics import ResponseStats, rounded
from simulations.engine.policies import LeastConnections, Policy, RoundRobin, Sticky
from simulations.engine.workload import Request, independent_streams, policy_stream, service_sampler
from simulations.knobs import with_overrides
from simulations.replications import (
    ReplicationSettings,
    interval_table,
    replication_seeds,
)
from simulations.scenarios.sticky.affinity import BoundedLoadHash, ConsistentHash, HashSticky
from simulations.scenarios.sticky.users import ACTIVITY_MODELS, UserActivity

STICKY_POLICIES = (
    "sticky",
    "sticky_hash",
    "consistent_hash",
    "bounded_load",
    "round_robin",
    "least_connections",
)
SESSION_STORES = ("auto", "memory", "shared")
PINNING_POLICIES = (
    "sticky",
    "sticky_hash",
    "consistent_hash",
)  # all of a user's requests, one place


@dataclass(frozen=True)
class StickyScenario:
    """Heavy-tailed users through a balancer that pins them, or not. The knobs of one run:
    cluster, users, load, events, policy parameters, seed."""

    policy: str = knobs.choice("sticky", STICKY_POLICIES, "how the balancer picks an instance")
    instances: int = knobs.count(
        4, "instances behind the balancer", high=knobs.MAX_INSTANCES, slider=(2, 12, 1)
    )
    users: int = knobs.count(1000, "users sending requests", high=knobs.MAX_USERS, metavar="U")
    activity: str = knobs.choice("zipf", ACTIVITY_MODELS, "how activity is spread over users")
    zipf_s: float = knobs.number(
        1.0,
        "user i sends a share ∝ 1/i^S",
        above=False,
        applies=("activity", ("zipf",)),
        slider=(0.0, 1.6, 0.1),
        label="Zipf s",
        metavar="S",
    )
    pareto_alpha: float = knobs.number(
        1.2, "shape of the users' rates", applies=("activity", ("pareto",)), metavar="A"
    )
    arrival_rate: float = knobs.number(2.0, "requests per second, all users together", unit="req/s")
    service_rate: float = knobs.number(
        1.0, "requests per second one instance can serve", unit="req/s"
    )
    requests: int = knobs.count(20_000, "requests the run simulates", high=knobs.MAX_REQUESTS)
    scale_out_at: float | None = knobs.number(
        None, "add one instance at time T", unit="s", optional=True, metavar="T"
    )
    crash_hottest_at: float | None = knobs.number(
        None,
        "at time T, crash the instance given the most work so far",
        unit="s",
        optional=True,
        metavar="T",
    )
    epsilon: float = knobs.number(
        0.25,
        "capacity ⌈(1+E)·average⌉",
        above=False,
        applies=("policy", ("bounded_load",)),
        slider=(0.0, 2.0, 0.05),
        label="ε (bounded)",
        metavar="E",
    )
    vnodes: int = knobs.count(
        100,
        "ring points per instance",
        applies=("policy", ("consistent_hash", "bounded_load")),
        metavar="V",
    )
    sessions: str = knobs.choice(
        "auto",
        SESSION_STORES,
        "where sessions live (auto: memory for pinning policies, else shared)",
    )
    windows: int = knobs.count(
        20, "utilization is reported in W equal time windows", high=1_000, metavar="W"
    )
    seed: int = knobs.seed(42)

    def __post_init__(self) -> None:
        knobs.check(self)
        if self.policy in ("consistent_hash", "bounded_load"):
            knobs.work_limit("ring points", self.instances * self.vnodes, 2_000_000, "vnodes")

    @property
    def session_store(self) -> str:
        """Where sessions live: ``auto`` = in memory for pinning policies, else a shared store."""
        if self.sessions != "auto":
            return self.sessions
        return "memory" if self.policy in PINNING_POLICIES else "shared"

    def activity_model(self) -> UserActivity:
        """Who sends the requests (user 0 is the heaviest under Zipf)."""
        if self.activity == "zipf":
            return UserActivity.zipf(self.users, self.zipf_s)
        return UserActivity.pareto(self.users, self.pareto_alpha, seed=self.seed)

    def make_policy(self) -> Policy:
        """A fresh policy object for this scenario."""
        return {
            "sticky": lambda: Sticky(RoundRobin()),
            "sticky_hash": HashSticky,
            "consistent_hash": lambda: ConsistentHash(self.vnodes),
            "bounded_load": lambda: BoundedLoadHash(self.epsilon, self.vnodes),
            "round_robin": RoundRobin,
            "least_connections": LeastConnections,
        }[self.policy]()


@dataclass(frozen=True)
class StickyResult:
    """What one run measured. Per-instance lists are indexed by instance (the new one last)."""

    scenario: StickyScenario
    requests_completed: int
    requests_failed: int
    response: ResponseStats
    horizon: float  # arrival time of the last request: the common measuring period
    load: list[float]  # work sent to each instance per unit of time it was up (offered load)
    imbalance: float  # max / mean of ``load``: 1 is perfectly even
    utilization: list[float]  # busy time / time up, within [0, horizon]
    window_starts: list[float]
    window_utilization: list[list[float]]  # [instance][window]: busy fraction of that window
    requests_per_instance: list[int]
    heaviest_user: int
    heaviest_user_share: float  # the heaviest user's share of all requests
    heaviest_user_instances: int  # how many instances served the heaviest user (before a crash)
    new_instance: int | None
    new_instance_share: float | None  # share of requests arriving after the scale-out it got
    fair_share: float | None  # 1 / (instances after the scale-out)
    hottest_instance: int | None  # the crashed one: most work sent to it before the crash
    sessions_lost: int  # users whose in-memory session died with the crashed instance
    users_forced_to_login: int  # of those, the users who came back after the crash (once each)
    session_misses: int  # requests that found no session where they landed (moved, or lost)
    affinity: float  # share of requests served where their user's previous request was
    spilled: int  # bounded_load: requests sent past their user's own instance
    worst_excess: int | None  # bounded_load: max(connections − capacity) at any choice (≤ 0)
    response_times: Sequence[float] = field(repr=False)  # Samples of array('d'): 8 B each

    @property
    def policy(self) -> str:
        return self.scenario.policy

    @property
    def p99_response(self) -> float:
        return self.response.p99

    def busy_between(self, start: float, end: float) -> list[float]:
        """Each instance's busy fraction from ``start`` to ``end``: the mean of the utilization
        windows that lie wholly within that span (none: a ``ValueError``)."""
        width = self.horizon / self.scenario.windows
        inside = [
            k
            for k, begins in enumerate(self.window_starts)
            if begins >= start - 1e-9 and begins + width <= end + 1e-9
        ]
        if not inside:
            raise ValueError(
                f"no utilization window of {width:g} s lies within [{start:g}, {end:g}]"
            )
        return [math.fsum(row[k] for k in inside) / len(inside) for row in self.window_utilization]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: counts are ints, floats rounded to 6 decimals."""
        s = self.scenario
        summary: dict[str, Any] = {
            "policy": s.policy,
            "instances": s.instances,
            "users": s.users,
            "activity": s.activity,
            "zipf_s": s.zipf_s if s.activity == "zipf" else None,
            "pareto_alpha": s.pareto_alpha if s.activity == "pareto" else None,
            "arrival_rate": s.arrival_rate,
            "service_rate": s.service_rate,
            "requests": s.requests,
            "sessions": s.session_store,
            "seed": s.seed,
            "epsilon": s.epsilon if s.policy == "bounded_load" else None,
            "vnodes": s.vnodes if s.policy in ("consistent_hash", "bounded_load") else None,
            "scale_out_at": s.scale_out_at,
            "crash_hottest_at": s.crash_hottest_at,
            "requests_completed": self.requests_completed,
            "requests_failed": self.requests_failed,
            "mean_response": self.response.mean,
            "p50_response": self.response.p50,
            "p95_response": self.response.p95,
            "p99_response": self.response.p99,
            "imbalance": self.imbalance,
            "load": self.load,
            "utilization": self.utilization,
            "requests_per_instance": self.requests_per_instance,
            "heaviest_user": self.heaviest_user,
            "heaviest_user_share": self.heaviest_user_share,
            "heaviest_user_instances": self.heaviest_user_instances,
            "new_instance": self.new_instance,
            "new_instance_share": self.new_instance_share,
            "fair_share": self.fair_share,
            "hottest_instance": self.hottest_instance,
            "sessions_lost": self.sessions_lost,
            "users_forced_to_login": self.users_forced_to_login,
            "session_misses": self.session_misses,
            "affinity": self.affinity,
            "spilled": self.spilled,
            "worst_excess": self.worst_excess,
            "window_starts": self.window_starts,
            "window_utilization": self.window_utilization,
        }
        return rounded(summary)


@dataclass(frozen=True)
class RequestStream:
    """The requests of one scenario, drawn up front: every policy replays the very same ones."""

    gaps: list[float]
    users: list[int]
    service_times: list[float]

    @classmethod
    def draw(cls, scenario: StickyScenario) -> RequestStream:
        arrival_rng, service_rng, user_rng = independent_streams(scenario.seed, 3)
        pick_user = scenario.activity_model().sampler(user_rng)
        service_time = service_sampler("exponential", scenario.service_rate, service_rng)
        n, rate = scenario.requests, scenario.arrival_rate
        gaps = [arrival_rng.expovariate(rate) for _ in range(n)]
        return cls(gaps, [pick_user() for _ in range(n)], [service_time() for _ in range(n)])

    @property
    def horizon(self) -> float:
        return math.fsum(self.gaps)


class CrashAwareMetrics(LifecycleMetrics):
    """Lifecycle metrics plus: which instance served what, and when it was busy."""

    def __init__(self, env: simpy.Environment, expected: int) -> None:
        super().__init__(env, expected)
        self.placed: dict[int, int] = {}  # request number -> instance index, while in flight
        self.busy: list[list[tuple[float, float]]] = []  # [instance] -> (start, end) of services

    def completed(self, request: Request, now: float) -> None:
        index = self.placed.pop(request.number)
        self.busy[index].append((now - request.service_time, now))
        super().completed(request, now)

    def failure(self, request: Request, cause: str = "no_instance") -> None:
        self.placed.pop(request.number, None)
        super().failure(request, cause)


class TrackingBalancer(LoadBalancer):
    """The engine's balancer, also keeping the books this lesson needs (counts, sessions)."""

    def __init__(
        self,
        instances: list[Instance],
        policy: Policy,
        rng: random.Random,
        metrics: CrashAwareMetrics,
        memory_sessions: bool,
    ) -> None:
        super().__init__(instances, policy, rng, metrics)
        self.tracked = metrics
        self.memory_sessions = memory_sessions
        self.routed: list[int] = [0] * len(instances)
        self.work: list[float] = [0.0] * len(instances)
        self.routed_after_scale_out = 0
        self.new_instance_after_scale_out = 0
        self.new_instance: int | None = None
        self.session_home: dict[int, int] = {}  # user -> instance holding their session
        self.last_served: dict[int, int] = {}  # user -> instance of their previous request
        self.session_misses = 0
        self.logged_out: set[int] = set()  # users whose session died in a crash, not back yet
        self.sent_to_login = 0  # of those, the users who came back (each once)
        self.stayed = 0
        self.instances_of_user: dict[int, set[int]] = {}
        self.watched_user = -1

    def add_instance(self, instance: Instance) -> None:
        """Scale out: one more instance joins the pool and starts taking requests now."""
        self.instances.append(instance)
        self.routed.append(0)
        self.work.append(0.0)
        self.tracked.busy.append([])
        self.new_instance = instance.index
        self.refresh()

    def crash(self, instance: MortalInstance) -> int:
        """The instance dies: its queued and in-service requests fail; returns sessions lost."""
        for request in instance.crash():  # (crash() itself fails the request in service)
            self.tracked.failure(request, "queued")
        self.refresh()
        lost = [user for user, home in self.session_home.items() if home == instance.index]
        for user in lost:
            del self.session_home[user]
        self.logged_out.update(lost)
        return len(lost)

    def route(self, request: Request) -> None:
        if not self.live:
            self.metrics.failure(request)
            return
        instance = self.policy.choose(self.live, request, self.rng)
        index, user = instance.index, request.user
        self.routed[index] += 1
        self.work[index] += request.service_time
        if self.new_instance is not None:
            self.routed_after_scale_out += 1
            self.new_instance_after_scale_out += index == self.new_instance
        if self.last_served.get(user) == index:
            self.stayed += 1
        self.last_served[user] = index
        if self.memory_sessions:
            home = self.session_home.get(user)
            if home is not None and home != index:
                self.session_misses += 1  # logged out here: a new login makes the session here
            elif user in self.logged_out:  # their session died with its instance: log in again
                self.logged_out.discard(user)
                self.sent_to_login += 1
                self.session_misses += 1
            self.session_home[user] = index
        if user == self.watched_user:
            self.instances_of_user.setdefault(user, set()).add(index)
        self.tracked.placed[request.number] = index
        instance.submit(request)


def _users(
    env: simpy.Environment, stream: RequestStream, balancer: TrackingBalancer
) -> Iterator[simpy.Event]:
    """The users, as one SimPy process: replay the stream's gaps, users and service times."""
    timeout, route = env.timeout, balancer.route
    for number, (gap, user, work) in enumerate(
        zip(stream.gaps, stream.users, stream.service_times, strict=True)
    ):
        yield timeout(gap)
        route(Request(number, user, env.now, work))


def _at(env: simpy.Environment, when: float, action: Any) -> Iterator[simpy.Event]:
    yield env.timeout(when)
    action()


def run_sticky(scenario: StickyScenario | None = None, **overrides: Any) -> StickyResult:
    """Run one scenario (``StickyScenario`` fields as keyword arguments) and measure it."""
    scenario = with_overrides(StickyScenario, scenario, overrides)
    stream = RequestStream.draw(scenario)
    activity = scenario.activity_model()
    heaviest = max(range(activity.users), key=activity.shares.__getitem__)

    env = simpy.Environment()
    metrics = CrashAwareMetrics(env, scenario.requests)
    pool = [MortalInstance(env, index, metrics) for index in range(scenario.instances)]
    metrics.busy = [[] for _ in pool]
    policy = scenario.make_policy()
    policy.reset()
    policy_rng = policy_stream(scenario.seed, 0x5EED)
    balancer = TrackingBalancer(
        pool, policy, policy_rng, metrics, scenario.session_store == "memory"
    )
    balancer.watched_user = heaviest
    events: dict[str, Any] = {"added_at": None, "crashed_at": None, "hottest": None, "lost": 0}

    def scale_out() -> None:
        events["added_at"] = env.now
        balancer.add_instance(MortalInstance(env, len(balancer.instances), metrics))
        events["fair_share"] = 1 / len(balancer.live)

    def crash_hottest() -> None:
        live = [instance for instance in balancer.instances if instance.alive]
        if not live:
            return
        hottest = max(live, key=lambda instance: balancer.work[instance.index])
        events["crashed_at"], events["hottest"] = env.now, hottest.index
        heavy_seen = balancer.instances_of_user.get(heaviest, set())
        events["heavy_spread"] = len(heavy_seen)
        events["lost"] = balancer.crash(hottest)

    horizon = stream.horizon
    if scenario.scale_out_at is not None and scenario.scale_out_at < horizon:
        env.process(_at(env, scenario.scale_out_at, scale_out))
    if scenario.crash_hottest_at is not None and scenario.crash_hottest_at < horizon:
        env.process(_at(env, scenario.crash_hottest_at, crash_hottest))
    env.process(_users(env, stream, balancer))
    env.run(until=metrics.done)

    count = len(balancer.instances)
    up_time = []
    for index in range(count):
        start = events["added_at"] if index == balancer.new_instance else 0.0
        end = events["crashed_at"] if index == events["hottest"] else horizon
        up_time.append(max(end - start, 0.0))
    load = [
        balancer.work[i] / up_time[i] / scenario.service_rate if up_time[i] > 0 else 0.0
        for i in range(count)
    ]
    measured = [value for value, up in zip(load, up_time, strict=True) if up > 0]
    imbalance = max(measured) / (math.fsum(measured) / len(measured))
    starts, per_window = _windows(metrics.busy, horizon, scenario.windows)
    busy_in_horizon = [sum(row) * horizon / scenario.windows for row in per_window]
    utilization = [
        busy / up if up > 0 else 0.0 for busy, up in zip(busy_in_horizon, up_time, strict=True)
    ]

    new_share = fair = None
    if balancer.new_instance is not None:
        new_share = balancer.new_instance_after_scale_out / max(balancer.routed_after_scale_out, 1)
        fair = events["fair_share"]
    spread = events.get("heavy_spread", len(balancer.instances_of_user.get(heaviest, set())))
    return StickyResult(
        scenario=scenario,
        requests_completed=len(metrics.response_times),
        requests_failed=metrics.failed,
        response=ResponseStats.of(metrics.response_times),
        horizon=horizon,
        load=load,
        imbalance=imbalance,
        utilization=utilization,
        window_starts=starts,
        window_utilization=per_window,
        requests_per_instance=list(balancer.routed),
        heaviest_user=heaviest,
        heaviest_user_share=stream.users.count(heaviest) / scenario.requests,
        heaviest_user_instances=spread,
        new_instance=balancer.new_instance,
        new_instance_share=new_share,
        fair_share=fair,
        hottest_instance=events["hottest"],
        sessions_lost=events["lost"],
        users_forced_to_login=balancer.sent_to_login,
        session_misses=balancer.session_misses,
        affinity=balancer.stayed / max(scenario.requests - len(balancer.last_served), 1),
        spilled=getattr(policy, "spilled", 0),
        worst_excess=getattr(policy, "worst_excess", None),
        response_times=metrics.response_times,
    )


def _windows(
    busy: list[list[tuple[float, float]]], horizon: float, windows: int
) -> tuple[list[float], list[list[float]]]:
    """Busy fraction of every instance in each of ``windows`` equal windows of [0, horizon]."""
    width = horizon / windows
    starts = [k * width for k in range(windows)]
    table = []
    for intervals in busy:
        row = [0.0] * windows
        for start, end in intervals:
            if start >= horizon:
                continue
            end = min(end, horizon)
            first = min(int(start / width), windows - 1)
            if end <= (first + 1) * width:  # the common case: a service within one window
                row[first] += end - start
                continue
            last = min(int(end / width), windows - 1)
            for k in range(first, last + 1):
                low, high = max(start, k * width), min(end, (k + 1) * width)
                if high > low:
                    row[k] += high - low
        table.append([value / width for value in row])
    return starts, table


def compare_sticky(
    policies: tuple[str, ...] = STICKY_POLICIES, **overrides: Any
) -> dict[str, StickyResult]:
    """Run the same scenario (same seed: the very same requests) under each of ``policies``."""
    return {
        policy: run_sticky(StickyScenario(**{**overrides, "policy": policy})) for policy in policies
    }


def replicate_sticky(
    replications: int = 10, policies: tuple[str, ...] = STICKY_POLICIES, **overrides: Any
) -> dict[str, list[StickyResult]]:
    """Each of ``policies`` on ``replications`` independent request streams (seeds from
    ``replication_seeds`` of the scenario's seed). Run i of every policy serves the very same
    requests, so policies compare run by run; which heavy users share an instance changes from
    one run to the next, and that is the spread to report."""
    ReplicationSettings(replications)
    base = StickyScenario(**{**overrides, "policy": policies[0]})
    knobs.work_limit(
        "requests over all runs",
        replications * len(policies) * base.requests,
        knobs.MAX_REQUESTS,
        "replications or requests",
    )
    seeds = replication_seeds(base.seed, replications)
    return {
        policy: [run_sticky(base, policy=policy, seed=seed) for seed in seeds]
        for policy in policies
    }


def spread_table(replicated: dict[str, list[StickyResult]]) -> str:
    """The policies side by side over replications: the hottest instance's load, imbalance and
    p99, each as the mean of the runs and its 95% interval."""
    measures = (
        ("hottest load", lambda r: max(r.load), "{:.0%}"),
        ("imbalance", lambda r: r.imbalance, "{:.2f}"),
        ("p99 (s)", lambda r: r.p99_response, "{:.1f}"),
    )
    return interval_table("policy", replicated, measures, width=26)


def comparison_table(results: dict[str, StickyResult]) -> str:
    """The policies side by side: imbalance, p95/p99, the heaviest user's spread, sessions."""
    header = (
        f"{'policy':<18} {'imbalance':>9} {'p95 (s)':>8} {'p99 (s)':>8} "
        f"{'heavy user on':>13} {'sessions':>8}"
    )
    rows = [header, "-" * len(header)]
    for name, result in results.items():
        rows.append(
            f"{name:<18} {result.imbalance:>9.2f} {result.response.p95:>8.1f} "
            f"{result.p99_response:>8.1f} {result.heaviest_user_instances:>13d} "
            f"{result.scenario.session_store:>8}"
        )
    return "\n".join(rows)
