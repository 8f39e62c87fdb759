"""A rolling deploy: replace every instance with a new version, a few at a time, under load.

Kubernetes' ``RollingUpdate`` strategy bounds two numbers while it works:

* ``maxSurge``: how many instances *above* the desired count may exist (booting or ready);
  a percentage of the replicas, **rounded up** (25% of 4 → 1, of 10 → 3);
* ``maxUnavailable``: how many *below* the desired count may be unavailable (not ready);
  a percentage **rounded down** (25% of 4 → 1, of 10 → 2). Both 0 is not allowed: the deploy
  could never start.

The controller (``rolling_deploy``) repeats two steps until every instance is new and ready:
launch new instances while the total (old + new, booting or ready) stays within replicas +
surge, and retire old ones while the ready count stays at least replicas − unavailable; then
wait for a new instance to finish booting. Retiring drains by default (the instance leaves the
balancer, finishes its requests, then exits: Kubernetes' SIGTERM and grace period); without
draining what it held fails. Draining instances count against neither bound: a RollingUpdate
leaves terminating pods out of both counts (unless the newer, feature-gated Deployment field
``podReplacementPolicy: TerminationComplete`` makes it wait for them), so while old instances
drain, more than replicas + surge instances exist (``max_present``).

Every old instance is replaced, so with sessions in ``memory`` every session on the old version
is lost (a user re-pinned to another *old* instance can even be logged out twice); with a
``shared`` store the deploy is invisible to users.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.lifecycle import (
    BOOTING,
    DRAINING,
    READY,
    Cluster,
    ClusterEvent,
    MortalInstance,
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
from simulations.replications import ReplicationSettings, replication_seeds

SAMPLE_EVERY = 1.0  # seconds between timeline samples
_AMOUNT = re.compile(r"^(\d+)(%?)$")


def resolve_amount(amount: int | str, replicas: int, round_up: bool) -> int:
    """An absolute number (``2``) or a percentage of ``replicas`` (``"25%"``), rounded up (surge)
    or down (unavailable) the way Kubernetes does."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        if amount < 0:
            raise ValueError(f"must be ≥ 0, got {amount}")
        return amount
    match = _AMOUNT.match(str(amount).strip())
    if not match:
        raise ValueError(f"{amount!r} is neither a whole number nor a percentage like 25%")
    value, percent = int(match.group(1)), match.group(2)
    if not percent:
        return value
    exact = value * replicas / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def surge_and_unavailable(
    replicas: int, max_surge: int | str = "25%", max_unavailable: int | str = "25%"
) -> tuple[int, int]:
    """Kubernetes' (maxSurge, maxUnavailable) for ``replicas``: surge rounds up, unavailable
    down; both 0 is rejected, like ``kubectl`` does."""
    surge = resolve_amount(max_surge, replicas, round_up=True)
    unavailable = resolve_amount(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        raise ValueError("maxSurge and maxUnavailable cannot both be 0: the deploy could not start")
    return surge, min(unavailable, replicas)


@dataclass(frozen=True)
class Snapshot:
    """The cluster right after one step of the deploy controller (or a boot finishing)."""

    time: float
    old_ready: int
    new_ready: int
    new_booting: int
    draining: int

    @property
    def ready(self) -> int:
        return self.old_ready + self.new_ready

    @property
    def total(self) -> int:
        """Instances that count against the surge: booting or ready, old or new."""
        return self.old_ready + self.new_ready + self.new_booting

    @property
    def present(self) -> int:
        """Every instance that exists, draining ones included (they count against no bound)."""
        return self.total + self.draining


def rolling_deploy(
    env: simpy.Environment,
    cluster: Cluster,
    replicas: int,
    surge: int,
    unavailable: int,
    boot_time: float,
    drain: bool,
    history: list[Snapshot],
) -> Iterator[simpy.Event]:
    """The deploy controller, as one SimPy process: launch new, retire old, within the bounds."""

    def note() -> None:
        history.append(Snapshot(env.now, *version_counts(cluster)))

    old: list[MortalInstance] = cluster.in_state(READY)
    new: list[MortalInstance] = []
    note()
    while True:
        changed = False
        while len(old) + len(new) < replicas + surge and len(new) < replicas:
            new.append(cluster.launch(boot_time, version=2))  # scale up the new version
            changed = True
        new_ready = sum(instance.state == READY for instance in new)
        while old and len(old) - 1 + new_ready >= replicas - unavailable:
            cluster.retire(old.pop(0), drain)  # scale down the old version, oldest first
            changed = True
        if changed:
            note()
        elif not old and new_ready == replicas:
            return  # every instance is new and ready
        else:
            yield cluster.next_ready()  # wait for a new instance to finish booting
            note()


def version_counts(cluster: Cluster) -> tuple[int, int, int, int]:
    """Old ready, new ready, new booting, and draining instances (old or new), right now."""
    state = [(instance.version, instance.state) for instance in cluster.instances]
    return (
        state.count((1, READY)),
        state.count((2, READY)),
        state.count((2, BOOTING)),
        sum(s == DRAINING for _, s in state),
    )


@dataclass(frozen=True)
class DeployScenario:
    """A rolling deploy, Kubernetes RollingUpdate style, under load. The knobs of one run:
    sessions and routing, the deploy's bounds, boot, traffic."""

    store: str = store_knob()
    policy: str = routing_knob()
    replicas: int = knobs.count(
        4, "instances before and after the deploy", high=knobs.MAX_INSTANCES, slider=(2, 12, 1)
    )
    max_surge: int | str = knobs.amount(
        "25%",
        "extra instances the deploy may start: a number or a percentage, rounded up",
        metavar="S",
    )
    max_unavailable: int | str = knobs.amount(
        "25%",
        "instances that may be missing: a number or a percentage, rounded down",
        metavar="U",
    )
    boot_time: float = knobs.number(
        10.0,
        "a new instance serves B seconds after it starts",
        unit="s",
        above=False,
        slider=(0, 60, 5),
        label="boot (s)",
        metavar="B",
    )
    drain: bool = knobs.switch(
        True,
        "old instances drain before they stop",
        flag="--no-drain",
        flag_help="old instances stop at once (their requests fail)",
        label="drain",
    )
    deploy_at: float = knobs.number(60.0, "the deploy starts at", unit="s", metavar="T")
    duration: float = knobs.number(240.0, "seconds of traffic", unit="s", metavar="D")
    users: int = knobs.count(200, "users sending requests", high=knobs.MAX_USERS, metavar="U")
    think_time: float = think_time_knob(10.0, metavar="S")
    service_rate: float = service_rate_knob(10.0, metavar="M")
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        knobs.work_limit(
            "requests",
            self.users * self.duration / self.think_time,
            knobs.MAX_LIFECYCLE_REQUESTS,
            "users or duration, or raise think_time",
        )
        knobs.work_limit("timeline samples", self.duration / SAMPLE_EVERY, 200_000, "duration")
        if self.think_time >= self.duration:
            raise ValueError(
                f"think_time {self.think_time:g} is not shorter than the duration "
                f"{self.duration:g}: most users would send no request at all"
            )
        if self.deploy_at >= self.duration:
            raise ValueError(
                f"the deploy at {self.deploy_at:g} starts after the last request "
                f"(duration {self.duration:g}): it could not change anything"
            )
        surge_and_unavailable(self.replicas, self.max_surge, self.max_unavailable)

    @property
    def bounds(self) -> tuple[int, int]:
        """(surge, unavailable) as instance counts."""
        return surge_and_unavailable(self.replicas, self.max_surge, self.max_unavailable)


@dataclass(frozen=True)
class DeployTimeline:
    times: list[float] = field(default_factory=list)
    old_ready: list[int] = field(default_factory=list)
    new_ready: list[int] = field(default_factory=list)
    booting: list[int] = field(default_factory=list)
    draining: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DeployResult(Outcome):
    """What one deploy measured (counts are ints)."""

    scenario: DeployScenario
    surge: int
    unavailable: int
    users_logged_out_twice: int
    sessions_at_deploy: int
    deploy_finished: float | None  # when every instance was new and ready
    max_total: int  # most instances booting or ready at once (≤ replicas + surge)
    min_ready: int  # fewest ready at once (≥ replicas − unavailable)
    history: list[Snapshot]
    response: ResponseStats
    timeline: DeployTimeline

    events: list[ClusterEvent] = field(default_factory=list, repr=False)
    lost_sessions: list[tuple[float, int, int]] = field(default_factory=list, repr=False)

    @property
    def max_present(self) -> int:
        """Most instances that existed at once, draining ones included: above replicas + surge
        when old instances drain while new ones boot (Kubernetes does not count terminating
        pods against maxSurge either)."""
        return max((snap.present for snap in self.history), default=self.scenario.replicas)

    @property
    def deploy_time(self) -> float | None:
        finished = self.deploy_finished
        return None if finished is None else finished - self.scenario.deploy_at

    def summary(self) -> str:
        s = self.scenario
        took = f"{self.deploy_time:.0f} s" if self.deploy_time is not None else "unfinished"
        return (
            f"{s.store} sessions, {s.policy}: {s.replicas} replicas, surge {self.surge}, "
            f"unavailable {self.unavailable}, boot {s.boot_time:g} s → deploy took {took}, "
            f"{self.min_ready}–{self.max_total} instances\n"
            f"sessions lost {self.sessions_lost} of {self.sessions_at_deploy}, users forced to "
            f"log in again {self.users_forced_to_login} ({self.users_logged_out_twice} twice), "
            f"failed requests {self.failed_requests}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: every knob of the scenario as given, then the counts (ints),
        then the measured times rounded to 6 decimals."""
        summary: dict[str, Any] = asdict(self.scenario)
        summary |= {
            "surge": self.surge,
            "unavailable": self.unavailable,
            **outcome_fields(self),
            "users_logged_out_twice": self.users_logged_out_twice,
            "sessions_at_deploy": self.sessions_at_deploy,
            "deploy_finished": rounded(self.deploy_finished),
            "deploy_time": rounded(self.deploy_time),
            "max_total": self.max_total,
            "min_ready": self.min_ready,
            "mean_response": rounded(self.response.mean),
            "p99_response": rounded(self.response.p99),
        }
        return summary


def draw_requests(scenario: DeployScenario) -> list[Request]:
    """Each user sends requests at random, about one every ``think_time`` seconds."""
    think_rng, service_rng = independent_streams(scenario.seed, 2)
    sends = [
        (when, user)
        for user in range(scenario.users)
        for when in poisson_times(think_rng, 1.0 / scenario.think_time, 0.0, scenario.duration)
    ]
    return numbered_requests(sends, scenario.service_rate, service_rng)


def run_deploy(scenario: DeployScenario | None = None, **overrides: Any) -> DeployResult:
    """Run one rolling deploy (``DeployScenario`` fields as keyword arguments) and measure it."""
    scenario = with_overrides(DeployScenario, scenario, overrides)
    s = scenario
    surge, unavailable = s.bounds
    requests = draw_requests(s)

    env = simpy.Environment()
    metrics, book, cluster = start_cluster(
        env, s.replicas, s.store, s.policy, policy_stream(s.seed, 0xDE91), len(requests)
    )
    history: list[Snapshot] = []
    at_deploy: list[int] = []
    finished: list[float] = []

    def deploy() -> Iterator[simpy.Event]:
        yield env.timeout(s.deploy_at)
        at_deploy.append(len(book.store))
        yield from rolling_deploy(
            env, cluster, s.replicas, surge, unavailable, s.boot_time, s.drain, history
        )
        finished.append(env.now)

    env.process(deploy())
    env.process(replay(env, requests, cluster.balancer))
    rows: list[tuple] = []

    def probe() -> tuple:
        return (*version_counts(cluster), len(book.store))

    env.process(sample(env, SAMPLE_EVERY, probe, rows, until=s.duration))
    env.run(until=metrics.done)

    times_lost: dict[int, int] = {}
    for _, user, _ in book.lost:
        times_lost[user] = times_lost.get(user, 0) + 1
    columns = list(zip(*rows, strict=True))
    return DeployResult(
        scenario=s,
        surge=surge,
        unavailable=unavailable,
        **outcome_counts(len(requests), metrics, book),
        users_logged_out_twice=sum(count >= 2 for count in times_lost.values()),
        sessions_at_deploy=at_deploy[0] if at_deploy else 0,
        deploy_finished=finished[0] if finished else None,
        max_total=max((snap.total for snap in history), default=s.replicas),
        min_ready=min((snap.ready for snap in history), default=s.replicas),
        history=history,
        response=ResponseStats.of(metrics.response_times),
        timeline=DeployTimeline(*(list(column) for column in columns)),
        events=list(cluster.events),
        lost_sessions=list(book.lost),
    )


def replicate_deploy(
    replications: int = 10, scenario: DeployScenario | None = None, **overrides: Any
) -> list[DeployResult]:
    """The same deploy ``replications`` times, each with its own seed (``replication_seeds`` of
    the scenario's seed): the bounds and the timing are the controller's, the users' requests
    and so who is logged out twice are the noise."""
    ReplicationSettings(replications)
    scenario = with_overrides(DeployScenario, scenario, overrides)
    seeds = replication_seeds(scenario.seed, replications)
    return [run_deploy(scenario, seed=seed) for seed in seeds]
