"""The workload: users send requests at random moments, each needing some work.

Requests arrive as a *Poisson process*: the gaps between arrivals are independent and
exponentially distributed, which is what many independent users clicking at random look like
from the server side. Each request belongs to a user (one user = one session) and carries the
amount of work it needs, its *service time*, drawn when it arrives so every policy sees the very
same requests (common random numbers make policy comparisons fair).

Service times are exponential by default (the "M" in M/M/1), or deterministic, or lognormal
(heavier tail than exponential, like real request latencies); all have mean 1 / service_rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import simpy

from simulations.knobs import positive_int, positive_number

SERVICE_DISTRIBUTIONS = ("exponential", "deterministic", "lognormal")
LOGNORMAL_SIGMA = 1.0  # shape of the lognormal service time: squared CV = e^σ² − 1 ≈ 1.72


@dataclass(slots=True)
class Request:
    """One request: who sent it, when it arrived, and how much work it needs."""

    number: int
    user: int
    arrived: float
    service_time: float


class Router(Protocol):
    """Anything that takes requests: the load balancer."""

    def route(self, request: Request) -> None: ...


def service_sampler(
    distribution: str, service_rate: float, rng: random.Random
) -> Callable[[], float]:
    """A function drawing one service time (mean 1 / service_rate) from ``distribution``."""
    mean = 1.0 / service_rate
    if distribution == "exponential":
        expovariate = rng.expovariate
        return lambda: expovariate(service_rate)
    if distribution == "deterministic":
        return lambda: mean
    if distribution == "lognormal":
        # Choose the underlying normal's mean so the lognormal's mean is exactly 1 / μ.
        mu = math.log(mean) - LOGNORMAL_SIGMA**2 / 2
        lognormvariate = rng.lognormvariate
        return lambda: lognormvariate(mu, LOGNORMAL_SIGMA)
    raise ValueError(f"unknown service distribution {distribution!r}; use {SERVICE_DISTRIBUTIONS}")


def service_scv(distribution: str) -> float:
    """Squared coefficient of variation (variance / mean²) of a service distribution."""
    return {"exponential": 1.0, "deterministic": 0.0, "lognormal": math.expm1(LOGNORMAL_SIGMA**2)}[
        distribution
    ]


def independent_streams(seed: int, count: int) -> list[random.Random]:
    """``count`` generators seeded from ``seed``, one per source of randomness (arrivals, service
    times, users...): each source draws the same numbers whatever the others draw."""
    streams = random.Random(seed)
    return [random.Random(streams.getrandbits(64)) for _ in range(count)]


def policy_stream(seed: int, salt: int) -> random.Random:
    """The balancing policy's generator: seeded from ``seed`` but apart from the request streams
    (``salt`` differs per scenario), so a policy's coin flips never shift the requests."""
    return random.Random(random.Random(seed).getrandbits(64) ^ salt)


def numbered_requests(
    sends: list[tuple[float, int]], service_rate: float, service_rng: random.Random
) -> list[Request]:
    """Requests from ``(time, user)`` sends drawn up front: sorted by time, numbered in that
    order, each with an exponential service time (mean 1 / service_rate)."""
    sends.sort()
    return [
        Request(number, user, when, service_rng.expovariate(service_rate))
        for number, (when, user) in enumerate(sends)
    ]


@dataclass(frozen=True)
class Workload:
    """How many requests arrive, how fast, from how many users, needing how much work."""

    arrival_rate: float
    service_rate: float
    requests: int
    users: int = 100
    service_dist: str = "exponential"

    def __post_init__(self) -> None:
        for name in ("arrival_rate", "service_rate"):
            positive_number(name, getattr(self, name))
        for name in ("requests", "users"):
            positive_int(name, getattr(self, name))
        if self.service_dist not in SERVICE_DISTRIBUTIONS:
            raise ValueError(
                f"unknown service distribution {self.service_dist!r}; use {SERVICE_DISTRIBUTIONS}"
            )


def arrivals(
    env: simpy.Environment,
    workload: Workload,
    router: Router,
    arrival_rng: random.Random,
    service_rng: random.Random,
    user_rng: random.Random,
) -> Iterator[simpy.Event]:
    """The users, as one SimPy process: wait a random gap, send a request, repeat."""
    next_gap = arrival_rng.expovariate
    rate = workload.arrival_rate
    service_time = service_sampler(workload.service_dist, workload.service_rate, service_rng)
    uniform = user_rng.random  # int(uniform() * users): a uniform user, 3× cheaper than randrange
    users = workload.users
    for number in range(workload.requests):
        yield env.timeout(next_gap(rate))
        router.route(Request(number, int(uniform() * users), env.now, service_time()))
