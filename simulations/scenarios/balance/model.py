"""The load-balancing scenario: users → load balancer → n instances, measured end to end.

``run_balance`` wires the actors together (the users' arrival process, one balancer, n
instances, a monitor sampling queue lengths), runs until every request has been served or has
failed, and returns a ``BalanceResult``: response-time statistics, per-instance utilization and
queue lengths, and what queueing theory predicts for the same setup, where it can.

Every random draw comes from generators seeded from ``seed`` (one stream each for arrival
times, service times, users and the policy), so the same arguments give the same result bit for
bit, and two policies run with the same seed see exactly the same requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs, theory
from simulations.engine.balancer import LoadBalancer
from simulations.engine.instance import Instance
from simulations.engine.metrics import (
    Metrics,
    QueueTrace,
    ResponseStats,
    Samples,
    rounded,
    sample_queues,
)
from simulations.engine.policies import POLICY_NAMES, Policy, PolicyFunction, Sticky, make_policy
from simulations.engine.workload import (
    SERVICE_DISTRIBUTIONS,
    Workload,
    arrivals,
    numpy_streams,
    service_scv,
)
from simulations.replications import replicate

QUEUE_SAMPLES = 200  # snapshots of the queue lengths per run: enough for a plot, cheap to take


@dataclass(frozen=True)
class BalanceScenario:
    """Requests through a load balancer to n single-server FIFO instances. The knobs of one
    run, in the order ``run_balance`` takes them positionally."""

    policy: str | Policy | PolicyFunction = knobs.choice(
        "random",
        POLICY_NAMES,
        "how the balancer picks an instance (or a Policy, or a function f(queue_lengths, rng))",
        objects=True,
    )
    instances: int = knobs.count(
        4, "instances behind the balancer", high=knobs.MAX_INSTANCES, slider=(1, 16, 1)
    )
    arrival_rate: float = knobs.number(
        3.2, "requests per second, all users together", unit="req/s", metavar="L"
    )
    service_rate: float = knobs.number(
        1.0, "requests per second one instance can serve", unit="req/s", metavar="M"
    )
    requests: int = knobs.count(
        10_000, "requests the run simulates", high=knobs.MAX_REQUESTS, cli_default=100_000
    )
    seed: int = knobs.seed(0)
    service_dist: str = knobs.choice(
        "exponential", SERVICE_DISTRIBUTIONS, "service-time distribution", label="service"
    )
    choices: int | None = knobs.count(
        None,
        "how many instances to ask (default 2, or 1 with a single instance)",
        optional=True,
        high=knobs.MAX_INSTANCES,
        applies=("policy", ("power_of_two",)),
        metavar="D",
    )
    users: int = knobs.count(
        100,
        "equally active users, each pinned",
        high=knobs.MAX_USERS,
        applies=("policy", ("sticky",)),
        metavar="U",
    )
    warmup: int = knobs.count(
        0,
        "first requests left out of the response-time figures (the warm-up)",
        low=0,
        high=knobs.MAX_REQUESTS,
        metavar="W",
    )

    def __post_init__(self) -> None:
        knobs.check(self)
        if self.warmup >= self.requests:
            raise ValueError(
                f"warmup must be below the {self.requests} requests, got {self.warmup}"
            )
        if self.choices is None:
            object.__setattr__(self, "choices", min(2, self.instances))
        if self.choices > self.instances:
            raise ValueError(
                f"choices must be between 1 and the {self.instances} instances, got {self.choices}"
            )


@dataclass(frozen=True)
class Theory:
    """What queueing theory says about a run: a value, bounds, or only a name and a reason."""

    model: str
    mean_response: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    p99_response: float | None = None  # where the time in system is known to be exponential


@dataclass(frozen=True)
class BalanceResult:
    """Everything one balance run measured (plain data: plot it, print it, assert on it)."""

    policy: str
    instances: int
    arrival_rate: float
    service_rate: float
    service_dist: str
    requests: int
    seed: int
    choices: int
    users: int
    warmup: int
    requests_completed: int
    requests_failed: int
    response: ResponseStats
    utilization: list[float]
    mean_queue_length: list[float]
    served: list[int]
    duration: float
    queues: QueueTrace
    theory: Theory
    warning: str | None
    response_times: Sequence[float] = field(repr=False)  # after the warm-up; 8 B each, not copied

    @property
    def load(self) -> float:
        """Offered load per instance, ρ = λ / (n μ)."""
        return self.arrival_rate / (self.instances * self.service_rate)

    @property
    def mean_response(self) -> float:
        return self.response.mean

    @property
    def p99_response(self) -> float:
        return self.response.p99

    def summary(self) -> str:
        """Two lines for a person: the setup, then mean and p99 against the theory."""
        setup = (
            f"{self.policy}, {self.instances} instances, load {self.load:.0%}, "
            f"{self.service_dist} service, {self.requests_completed} requests"
        )
        numbers = f"mean {self.response.mean:.2f} s, p99 {self.response.p99:.2f} s"
        if self.theory.mean_response is not None:
            numbers += f" (theory mean {self.theory.mean_response:.2f} s: {self.theory.model})"
        elif self.theory.lower_bound is not None:
            numbers += f" (theory: at least {self.theory.lower_bound:.2f} s, M/M/c)"
        return f"{setup}\n{numbers}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-request data, floats rounded to 6 decimals)."""
        summary: dict[str, Any] = {
            "policy": self.policy,
            "instances": self.instances,
            "arrival_rate": self.arrival_rate,
            "service_rate": self.service_rate,
            "service_dist": self.service_dist,
            "requests": self.requests,
            "seed": self.seed,
        }
        if self.policy == "power_of_two":
            summary["choices"] = self.choices
        if self.policy == "sticky":
            summary["users"] = self.users
        if self.warmup:
            summary["warmup"] = self.warmup
        summary |= {
            "load": self.load,
            "requests_completed": self.requests_completed,
            "requests_failed": self.requests_failed,
            "mean_response": self.response.mean,
            "p50_response": self.response.p50,
            "p95_response": self.response.p95,
            "p99_response": self.response.p99,
            "utilization": self.utilization,
            "mean_queue_length": self.mean_queue_length,
            "served": self.served,
            "duration": self.duration,
            "theory": asdict(self.theory),
        }
        if self.warning:
            summary["warning"] = self.warning
        return rounded(summary)


def run_balance(*args: Any, **kwargs: Any) -> BalanceResult:
    """Simulate ``requests`` requests through a balancer using ``policy`` over ``instances``.

    The arguments are ``BalanceScenario``'s fields, positionally in its order (``policy,
    instances, arrival_rate, service_rate, requests, seed, service_dist``) or by name, or one
    ``BalanceScenario``. ``policy`` is a name from ``POLICY_NAMES``, a ``Policy`` object or a
    function ``f(queue_lengths, rng) -> index``. ``choices`` is d for ``power_of_two`` (default
    2, or 1 with a single instance); ``users`` is the number of equally active users (each with
    one session) that ``sticky`` pins.
    """
    return simulate(knobs.from_arguments(BalanceScenario, args, kwargs))


def replicate_balance(replications: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs of the scenario ``run_balance`` would take (the same
    arguments, ``warmup`` included), merged into one JSON-ready dict: counts summed, figures
    averaged, and ``"interval"``: the 95% interval of each average (``simulations.replications``).
    """
    scenario = knobs.from_arguments(BalanceScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def _run_dict(scenario: BalanceScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()


def simulate(scenario: BalanceScenario) -> BalanceResult:
    """One run of ``scenario``: set up, run until every request is served or failed, measure."""
    run = BalanceRun(scenario)
    run.run()
    return run.result()


class BalanceRun:
    """One run of a scenario, wired and ready: ``run()`` simulates it, ``result()`` measures
    it (``bench`` times ``run()`` alone, without the set-up)."""

    def __init__(self, scenario: BalanceScenario) -> None:
        s = self.scenario = scenario
        workload = Workload(s.arrival_rate, s.service_rate, s.requests, s.users, s.service_dist)
        self.policy = make_policy(s.policy, s.choices)
        self.policy.reset()
        (arrival_rng, service_rng, user_rng), policy_rng = numpy_streams(s.seed, 3)
        self.env = env = simpy.Environment()
        self.metrics = Metrics(env, s.requests)
        self.pool = [Instance(env, index, self.metrics) for index in range(s.instances)]
        balancer = self.balancer = LoadBalancer(self.pool, self.policy, policy_rng, self.metrics)
        self.warmup_served = [0] * s.instances  # per instance: its requests among the warm-up's
        env.process(
            arrivals(
                env, workload, balancer, arrival_rng, service_rng, user_rng, s.warmup, self._warm
            )
        )
        horizon = s.requests / min(s.arrival_rate, s.instances * s.service_rate)
        env.process(sample_queues(env, self.pool, self.metrics, horizon / QUEUE_SAMPLES))

    def _warm(self) -> None:
        # An instance serves its requests in arrival order: the warm-up's requests it has (or
        # will have) served are the first ones in its record.
        self.warmup_served = [instance.served + instance.queue_length for instance in self.pool]

    def run(self) -> None:
        self.env.run(until=self.metrics.done)

    def measured(self) -> Samples:
        """The response times after the warm-up, instance by instance (not copied)."""
        return Samples(
            memoryview(instance.response_times)[skip:]
            for instance, skip in zip(self.pool, self.warmup_served, strict=True)
        )

    def result(self) -> BalanceResult:
        s, pool, metrics, chooser = self.scenario, self.pool, self.metrics, self.policy
        duration = self.env.now
        pins = chooser.users_per_instance(pool) if isinstance(chooser, Sticky) else None
        measured = self.measured()
        return BalanceResult(
            policy=chooser.name,
            instances=s.instances,
            arrival_rate=s.arrival_rate,
            service_rate=s.service_rate,
            service_dist=s.service_dist,
            requests=s.requests,
            seed=s.seed,
            choices=s.choices,
            users=s.users,
            warmup=s.warmup,
            requests_completed=len(metrics.response_times),
            requests_failed=metrics.failed,
            response=ResponseStats.of(measured),
            utilization=[instance.busy_time / duration for instance in pool],
            mean_queue_length=[instance.time_in_system / duration for instance in pool],
            served=[instance.served for instance in pool],
            duration=duration,
            queues=QueueTrace(metrics.queue_times, metrics.queue_lengths),
            theory=theory_for(
                chooser.name,
                s.instances,
                s.arrival_rate,
                s.service_rate,
                s.service_dist,
                s.choices,
                pins,
            ),
            warning=_warning(s.instances, s.arrival_rate, s.service_rate, pins),
            response_times=measured,
        )


def theory_for(
    policy: str,
    instances: int,
    arrival_rate: float,
    service_rate: float,
    service_dist: str = "exponential",
    choices: int = 2,
    users_per_instance: list[int] | None = None,
) -> Theory:
    """The analytical mean response time for this setup, or bounds, or why there is none."""
    n, lam, mu = instances, arrival_rate, service_rate
    scv = service_scv(service_dist)
    exponential = service_dist == "exponential"
    per_instance = {"exponential": "M/M/1", "deterministic": "M/D/1"}.get(service_dist, "M/G/1")
    if policy == "random":
        value = theory.random_routing_mean_response(lam, mu, n, scv)
        p99 = theory.exponential_sojourn_percentile(value, 99) if exponential else None
        return Theory(
            f"{per_instance} per instance at λ/n (Poisson splitting)", value, p99_response=p99
        )
    if policy == "round_robin" and exponential:
        value = theory.round_robin_mean_response(lam, mu, n)
        p99 = theory.exponential_sojourn_percentile(value, 99)
        return Theory(f"E_{n}/M/1 per instance (Erlang-{n} gaps)", value, p99_response=p99)
    if policy == "power_of_two" and exponential:
        value = theory.power_of_d_mean_response(lam, mu, n, choices)
        return Theory(f"power of d={choices} choices, mean-field limit (n → ∞)", value)
    if policy == "sticky" and users_per_instance:
        value = theory.sticky_mean_response(lam, mu, users_per_instance, scv)
        return Theory(f"{per_instance} per instance at its pinned users' share of λ", value)
    if exponential:
        # No balancer beats one shared queue (M/M/c); for exponential service no balancer that
        # cannot see service times beats joining the shortest queue, which beats round robin.
        lower = theory.mmc_mean_response(lam, mu, n)
        upper = (
            theory.round_robin_mean_response(lam, mu, n) if policy == "least_connections" else None
        )
        return Theory(
            "no closed form: M/M/c (one shared queue) is a lower bound", None, lower, upper
        )
    return Theory(f"no closed form for {policy} with {service_dist} service")


def _warning(
    instances: int, arrival_rate: float, service_rate: float, pins: list[int] | None
) -> str | None:
    capacity = instances * service_rate
    if arrival_rate >= capacity:
        return (
            f"unstable: arrival rate {arrival_rate:g}/s ≥ capacity {capacity:g}/s "
            f"({instances} instances × {service_rate:g}/s): queues grow without bound, "
            "so response times keep rising with the number of requests"
        )
    if pins:
        total = sum(pins)
        hot = [k for k, users in enumerate(pins) if arrival_rate * users / total >= service_rate]
        if hot:
            return (
                f"unstable: sticky pins send instance(s) {', '.join(map(str, hot))} more than "
                "they can serve: their queues grow without bound"
            )
    return None


def compare_policies(
    policies: tuple[str, ...] = ("random", "round_robin", "power_of_two", "least_connections"),
    loads: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9),
    instances: int = 4,
    service_rate: float = 1.0,
    requests: int = 10_000,
    seed: int = 0,
    service_dist: str = "exponential",
) -> dict[str, list[BalanceResult]]:
    """Run every policy at every load per instance ρ (arrival rate ρ n μ), same seed for all."""
    return {
        policy: [
            run_balance(
                policy,
                instances,
                rho * instances * service_rate,
                service_rate,
                requests,
                seed,
                service_dist,
            )
            for rho in loads
        ]
        for policy in policies
    }


def replicate_policies(
    replications: int,
    policies: tuple[str, ...] = ("random", "round_robin", "power_of_two", "least_connections"),
    loads: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9),
    instances: int = 4,
    service_rate: float = 1.0,
    requests: int | Sequence[int] = 10_000,
    warmup: int | Sequence[int] = 0,
    seed: int = 0,
    service_dist: str = "exponential",
) -> dict[str, list[dict[str, Any]]]:
    """:func:`compare_policies` with ``replications`` independent runs per point and a warm-up:
    for each policy, one :func:`replicate_balance` dict per load (95% intervals included).
    ``requests`` and ``warmup`` are one number, or one per load (a busier queue needs a longer
    run). Every policy gets the same seeds, so the same requests."""
    per_load = {}
    for name, value in (("requests", requests), ("warmup", warmup)):
        values = [value] * len(loads) if isinstance(value, int) else list(value)
        if len(values) != len(loads):
            raise ValueError(f"{name}: one number, or one per load ({len(loads)}), not {value!r}")
        per_load[name] = values
    return {
        policy: [
            replicate_balance(
                replications,
                policy,
                instances,
                rho * instances * service_rate,
                service_rate,
                count,
                seed,
                service_dist,
                warmup=left_out,
            )
            for rho, count, left_out in zip(
                loads, per_load["requests"], per_load["warmup"], strict=True
            )
        ]
        for policy in policies
    }
