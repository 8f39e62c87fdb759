"""Sessions and crashes: where a session lives decides who is logged out when an instance dies.

Every user logs in once, early (within ``login_window``, 10 s by default), then sends requests
at random, about one every ``think_time`` seconds, until ``duration``. Sessions live in one of
two stores:

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
``crashes`` ready instances (lowest index first) die (``simulations.lifecycle``); with
``restart_after`` each comes back, empty, after that delay plus ``boot_time``.

The requests are drawn up front from the seed (login times, think times, service times), so
every store and policy run with the same seed sees exactly the same requests and crash.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

import simpy

from simulations.lifecycle import (
    READY,
    Cluster,
    ClusterEvent,
    LifecycleMetrics,
    MortalInstance,
    replay,
    sample,
)
from simulations.metrics import ResponseStats, rounded
from simulations.policies import POLICY_NAMES, make_policy
from simulations.validation import (
    integer,
    non_negative,
    positive_int,
    positive_number,
    with_overrides,
)
from simulations.workload import Request, independent_streams, numbered_requests, policy_stream

STORES = ("memory", "shared")
TIMELINE_SAMPLES = 200


class MemoryStore:
    """Sessions in instance memory: each user's current session lives on one instance."""

    name = "memory"

    def __init__(self) -> None:
        self.home: dict[int, int] = {}  # user -> index of the instance holding their session

    def has(self, user: int, instance: MortalInstance) -> bool:
        return self.home.get(user) == instance.index

    def create(self, user: int, instance: MortalInstance) -> None:
        self.home[user] = instance.index  # a session left on another instance is now orphaned

    def drop_instance(self, instance: MortalInstance) -> list[int]:
        """The instance's memory is gone: return the users whose session was there."""
        lost = [user for user, home in self.home.items() if home == instance.index]
        for user in lost:
            del self.home[user]
        return lost

    def forget(self, user: int) -> None:
        self.home.pop(user, None)

    def __len__(self) -> int:
        return len(self.home)


class SharedStore:
    """Sessions in an external store every instance reads (Redis): no instance's death loses one."""

    name = "shared"

    def __init__(self) -> None:
        self.users: set[int] = set()

    def has(self, user: int, instance: MortalInstance) -> bool:
        return user in self.users

    def create(self, user: int, instance: MortalInstance) -> None:
        self.users.add(user)

    def drop_instance(self, instance: MortalInstance) -> list[int]:
        return []  # the sessions were never only there

    def forget(self, user: int) -> None:
        self.users.discard(user)

    def __len__(self) -> int:
        return len(self.users)


SessionStore = MemoryStore | SharedStore


def make_store(name: str) -> SessionStore:
    """A fresh, empty session store by name (``memory`` or ``shared``)."""
    if name == "memory":
        return MemoryStore()
    if name == "shared":
        return SharedStore()
    raise ValueError(f"unknown session store {name!r}; use memory or shared")


class SessionBook:
    """The users' side of the story: logins, session misses, forced re-logins, lost sessions."""

    def __init__(self, store: SessionStore, logouts: set[int] | None = None) -> None:
        self.store = store
        self.logouts = logouts or set()  # numbers of requests after which the user logs out
        self.logins = 0  # first logins
        self.misses = 0  # requests that found no session where they landed
        self.logged_in: set[int] = set()
        self.forced: set[int] = set()  # users asked to log in again at least once
        self.lost: list[tuple[float, int, int]] = []  # (time, user, instance) of each lost session

    def request_reaches(self, request: Request, instance: MortalInstance) -> None:
        """The instance reads the request's session cookie: a hit, a first login, or a miss."""
        user = request.user
        if not self.store.has(user, instance):
            if user in self.logged_in:
                self.misses += 1
                self.forced.add(user)
            else:
                self.logged_in.add(user)
                self.logins += 1
            self.store.create(user, instance)  # logging in (again) makes a session here
        if request.number in self.logouts:  # the end of a visit: the user logs out
            self.store.forget(user)

    def instance_lost(self, instance: MortalInstance) -> int:
        """An instance died or left: the sessions only it held are lost; returns how many."""
        users = self.store.drop_instance(instance)
        now = instance.env.now
        self.lost.extend((now, user, instance.index) for user in users)
        return len(users)


def check_routing(store: str, policy: str) -> None:
    """Reject an unknown session store or balancing policy: the two choices every scenario of
    instances that come and go (crashes, autoscaling, deploys) starts from."""
    if store not in STORES:
        raise ValueError(f"unknown session store {store!r}; use memory or shared")
    if policy not in POLICY_NAMES:
        raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICY_NAMES)}")


def start_cluster(
    env: simpy.Environment,
    size: int,
    store: str,
    policy: str,
    policy_rng: random.Random,
    expected: int,
    logouts: set[int] | None = None,
    retry_queued: bool = False,
) -> tuple[LifecycleMetrics, SessionBook, Cluster]:
    """``size`` ready instances behind a ``policy`` balancer, sessions in ``store``: the metrics
    (waiting for ``expected`` requests), the ``SessionBook`` that follows every request and lost
    instance, and the ``Cluster`` to crash, launch or retire instances in."""
    metrics = LifecycleMetrics(env, expected)
    book = SessionBook(make_store(store), logouts)
    chooser = make_policy(policy)
    chooser.reset()
    cluster = Cluster.start(
        env,
        size,
        chooser,
        policy_rng,
        metrics,
        on_routed=book.request_reaches,
        on_lost=book.instance_lost,
        retry_queued=retry_queued,
    )
    return metrics, book, cluster


def outcome_counts(requests: int, metrics: LifecycleMetrics, book: SessionBook) -> dict[str, int]:
    """What users lived through, as the result fields of the same names: requests served or
    failed (and why), first logins, session misses, forced re-logins, sessions lost."""
    return {
        "requests": requests,
        "requests_completed": len(metrics.response_times),
        "failed_requests": metrics.failed,
        "failed_in_flight": metrics.failures["in_flight"],
        "failed_queued": metrics.failures["queued"],
        "failed_no_instance": metrics.failures["no_instance"],
        "logins": book.logins,
        "session_misses": book.misses,
        "users_forced_to_login": len(book.forced),
        "sessions_lost": len(book.lost),
    }


@dataclass(frozen=True)
class Outcome:
    """What users lived through in one run of instances that come and go (crashes, autoscaling,
    deploys): requests served or failed and why, first logins, session misses, forced re-logins,
    sessions lost. Every lifecycle result starts with these fields; ``outcome_counts`` fills them.
    """

    requests: int
    requests_completed: int
    failed_requests: int
    failed_in_flight: int
    failed_queued: int
    failed_no_instance: int
    logins: int
    session_misses: int
    users_forced_to_login: int
    sessions_lost: int


OUTCOME_FIELDS = tuple(item.name for item in fields(Outcome))


def outcome_fields(result: Outcome) -> dict[str, int]:
    """The ``outcome_counts`` a result was made with, read back for its JSON summary."""
    return {name: getattr(result, name) for name in OUTCOME_FIELDS}


@dataclass(frozen=True)
class SessionsScenario:
    """The knobs of one run: store, routing, cluster, users, the crash schedule, seed."""

    store: str = "memory"
    policy: str = "sticky"
    instances: int = 4
    users: int = 1000
    duration: float = 100.0
    login_window: float = 10.0
    think_time: float = 10.0
    service_rate: float = 40.0
    crash_at: tuple[float, ...] = ()
    crashes: int = 1
    restart_after: float | None = None
    boot_time: float = 0.0
    retry_queued: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.crash_at, int | float):
            object.__setattr__(self, "crash_at", (float(self.crash_at),))
        object.__setattr__(self, "crash_at", tuple(sorted(self.crash_at)))
        check_routing(self.store, self.policy)
        for name in ("instances", "users"):
            positive_int(name, getattr(self, name))
        integer("seed", self.seed)
        for name in ("duration", "think_time", "service_rate", "login_window"):
            positive_number(name, getattr(self, name))
        if self.login_window > self.duration:
            raise ValueError(
                f"login_window {self.login_window:g} is longer than the duration {self.duration:g}"
            )
        integer("crashes", self.crashes)
        if not 0 <= self.crashes <= self.instances:
            raise ValueError(
                f"crashes must be between 0 and the {self.instances} instances, got {self.crashes}"
            )
        for when in self.crash_at:
            positive_number("crash_at", when)
            if when >= self.duration:
                raise ValueError(
                    f"a crash at {when:g} comes after the last request (duration "
                    f"{self.duration:g}): it could not change anything"
                )
        if self.crashes == 0 and self.crash_at:
            raise ValueError("crash_at needs crashes ≥ 1 (crashes = 0 means nothing crashes)")
        non_negative("boot_time", self.boot_time)
        if self.restart_after is None:
            if self.boot_time:
                raise ValueError("boot_time applies to restarted instances: give restart_after")
        else:
            non_negative("restart_after", self.restart_after)
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
    forced_logins: list[int] = field(default_factory=list)  # session misses so far
    failed: list[int] = field(default_factory=list)  # failed requests so far

    @classmethod
    def of(cls, rows: list[tuple]) -> Timeline:
        columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
        return cls(*(list(column) for column in columns))


@dataclass(frozen=True)
class SessionsResult(Outcome):
    """What one run measured: requests, failures and the sessions' fate (all counts are ints)."""

    scenario: SessionsScenario
    requests_rerouted: int
    sessions_at_crash: int
    sessions_at_end: int
    requests_per_instance: list[int]
    events: list[ClusterEvent]
    response: ResponseStats
    timeline: Timeline
    lost_sessions: list[tuple[float, int, int]] = field(repr=False)

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


def draw_requests(scenario: SessionsScenario) -> list[Request]:
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


def run_sessions(scenario: SessionsScenario | None = None, **overrides: Any) -> SessionsResult:
    """Run one scenario (``SessionsScenario`` fields as keyword arguments) and count the damage."""
    scenario = with_overrides(SessionsScenario, scenario, overrides)
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
    env.process(crash_schedule(env, cluster, scenario, lambda: at_crash.append(len(book.store))))
    env.process(replay(env, requests, cluster.balancer))
    rows: list[tuple] = []

    def probe() -> tuple:
        return (cluster.count(READY), len(book.store), book.misses, metrics.failed)

    env.process(sample(env, scenario.duration / TIMELINE_SAMPLES, probe, rows))
    env.run(until=metrics.done)

    return SessionsResult(
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
    )


def crash_schedule(
    env: simpy.Environment, cluster: Cluster, scenario: SessionsScenario, before_first: Any
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


def compare_stores(**overrides: Any) -> dict[str, SessionsResult]:
    """The same users and crash three ways: memory + round robin, memory + sticky, shared."""
    setups = {
        "memory + round_robin": {"store": "memory", "policy": "round_robin"},
        "memory + sticky": {"store": "memory", "policy": "sticky"},
        "shared + round_robin": {"store": "shared", "policy": "round_robin"},
    }
    return {name: run_sessions(**{**overrides, **setup}) for name, setup in setups.items()}
