"""Lesson 01 at scale: how often does a request find its session, with N instances?

Users log in once, then click at random moments (exponential think times). Every request, the
login included, goes through a load balancer to one of N instances. Where is the session?

* ``store="memory"``: in the memory of the instance that served the login (``stateful_app``).
  A later request finds it only if the balancer happens to send it to that same instance;
  anywhere else it is a **session miss** (a 401: the user looks logged out);
* ``store="shared"``: in a store every instance reads (``stateless_app`` with Redis): no
  request can miss.

Theory: round robin and random routing ignore where the session is, so a request reaches the
one instance holding it with probability 1/N, and the miss rate is **1 − 1/N**: 0% with one
instance, 50% with two, 90% with ten. ``sticky`` routing pins every user to the instance that
served their login (COURSE_DESIGN §7b) and never misses, until that instance dies (lesson 04).

A user who misses is refused and keeps clicking; their session stays where it was, so the miss
rate measures exactly "how often does a request reach the instance holding the session".
Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import simpy

from simulations import knobs
from simulations.replications import replicate

POLICIES = ("round_robin", "random", "sticky")
STORES = ("memory", "shared")
THINK_TIME = 10.0  # mean seconds between two clicks of one user


@dataclass(frozen=True)
class SessionMissScenario:
    """Users log in once, then click; how often does a click miss its session? The knobs."""

    instances: int = knobs.count(
        2, "instances behind the balancer", high=knobs.MAX_INSTANCES, slider=(1, 12, 1)
    )
    requests: int = knobs.count(2_000, "requests after the logins", high=knobs.MAX_REQUESTS)
    users: int = knobs.count(50, "users, each logging in once", high=knobs.MAX_USERS, metavar="U")
    policy: str = knobs.choice("round_robin", POLICIES, "how the balancer picks an instance")
    store: str = knobs.choice("memory", STORES, "where sessions live", label="sessions")
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)


@dataclass(frozen=True)
class SessionMissResult:
    """What the users saw: how many of their requests (after login) found no session."""

    instances: int
    policy: str
    store: str
    users: int
    requests: int  # requests after the logins
    misses: int  # requests that reached an instance without the user's session
    requests_per_instance: tuple[int, ...]
    seed: int

    @property
    def miss_rate(self) -> float:
        return self.misses / self.requests

    @property
    def expected_miss_rate(self) -> float:
        """What theory says the miss rate should be (see :func:`expected_miss_rate`)."""
        return expected_miss_rate(self.instances, self.policy, self.store)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the command line prints it."""
        return {
            "instances": self.instances,
            "policy": self.policy,
            "store": self.store,
            "users": self.users,
            "requests": self.requests,
            "seed": self.seed,
            "misses": self.misses,
            "miss_rate": round(self.miss_rate, 6),
            "expected_miss_rate": round(self.expected_miss_rate, 6),
            "requests_per_instance": list(self.requests_per_instance),
        }


def expected_miss_rate(instances: int, policy: str = "round_robin", store: str = "memory") -> float:
    """1 − 1/N for sessions in memory behind a balancer that ignores them; else 0."""
    SessionMissScenario(instances=instances, policy=policy, store=store)  # checks the three
    if store == "shared" or policy == "sticky":
        return 0.0
    return 1.0 - 1.0 / instances


class Balancer:
    """Sends each request to one instance: in turn, at random, or back to the user's pin."""

    def __init__(self, policy: str, instances: int, rng: random.Random) -> None:
        self.policy, self.instances, self.rng = policy, instances, rng
        self.turn = 0
        self.pins: dict[int, int] = {}  # sticky: user -> the instance that served their login

    def route(self, user: int) -> int:
        if self.policy == "sticky" and user in self.pins:
            return self.pins[user]
        if self.policy == "random":
            chosen = self.rng.randrange(self.instances)
        else:  # round robin, and a sticky user's first request
            chosen, self.turn = self.turn % self.instances, self.turn + 1
        self.pins.setdefault(user, chosen)
        return chosen


def session_miss_rate(*args: Any, **kwargs: Any) -> SessionMissResult:
    """Simulate ``users`` logging in and sending ``requests`` requests to ``instances``; the
    arguments are ``SessionMissScenario``'s fields (``instances`` first), or one scenario."""
    return simulate(knobs.from_arguments(SessionMissScenario, args, kwargs))


def simulate(scenario: SessionMissScenario) -> SessionMissResult:
    """One run of ``scenario``: every user logs in, then clicks until ``requests`` are sent."""
    instances, requests, users = scenario.instances, scenario.requests, scenario.users
    policy, store, seed = scenario.policy, scenario.store, scenario.seed
    rng = random.Random(seed)
    balancer = Balancer(policy, instances, random.Random(rng.getrandbits(64)))
    env = simpy.Environment()
    sessions: list[set[int]] = [set() for _ in range(instances)]  # what each instance holds
    shared: set[int] = set()  # the external store
    served = [0] * instances
    misses = sent = 0
    done = env.event()

    def user(number: int):
        nonlocal misses, sent
        yield env.timeout(rng.uniform(0, THINK_TIME))  # users arrive over the first few seconds
        home = balancer.route(number)  # the login: the session is created where it lands
        (shared if store == "shared" else sessions[home]).add(number)
        while not done.triggered:
            yield env.timeout(rng.expovariate(1 / THINK_TIME))
            if done.triggered:
                return
            instance = balancer.route(number)
            served[instance] += 1
            sent += 1
            if number not in (shared if store == "shared" else sessions[instance]):
                misses += 1
            if sent == requests:
                done.succeed()

    for number in range(users):
        env.process(user(number))
    env.run(until=done)
    return SessionMissResult(
        instances=instances,
        policy=policy,
        store=store,
        users=users,
        requests=requests,
        misses=misses,
        requests_per_instance=tuple(served),
        seed=seed,
    )


def miss_rate_by_instances(
    instance_counts: Iterable[int], **settings: Any
) -> list[SessionMissResult]:
    """:func:`session_miss_rate` for each number of instances, the other ``settings`` (fields
    of ``SessionMissScenario``) and the seed the same each time."""
    return [session_miss_rate(n, **settings) for n in instance_counts]


def replicate_miss_rates(
    instance_counts: Iterable[int], replications: int, **settings: Any
) -> list[dict[str, Any]]:
    """:func:`miss_rate_by_instances` with ``replications`` independent runs per number of
    instances, merged (``simulations.replications``): misses summed, the miss rate averaged,
    its 95% interval in ``"interval"``."""
    return [
        replicate(_run_dict, SessionMissScenario(n, **settings), replications)
        for n in instance_counts
    ]


def _run_dict(scenario: SessionMissScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()
