"""The workload: users send requests at random moments, each needing some work.

Requests arrive as a *Poisson process*: the gaps between arrivals are independent and
exponentially distributed, which is what many independent users clicking at random look like
from the server side. Each request belongs to a user (one user = one session) and carries the
amount of work it needs, its *service time*, drawn from a stream of its own, not from the
policy's, so every policy sees the very same requests (common random numbers make policy
comparisons fair).

Service times are exponential by default (the "M" in M/M/1), or deterministic, or lognormal
(heavier tail than exponential, like real request latencies); all have mean 1 / service_rate.

The balance scenario's users draw their numbers with numpy, a block of ``BLOCK`` at a time: one
numpy call for 4,096 gaps costs about what ``random.expovariate`` spends on 550 of them (15 ns
a draw instead of 110), and a simulation of a million requests needs three million draws. Every
source of randomness has its own stream, derived from the run's seed by numpy's
``SeedSequence`` (``numpy_streams``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import Protocol

import numpy as np
import simpy

from simulations.knobs import positive_int, positive_number

SERVICE_DISTRIBUTIONS = ("exponential", "deterministic", "lognormal")
LOGNORMAL_SIGMA = 1.0  # shape of the lognormal service time: squared CV = e^σ² − 1 ≈ 1.72
BLOCK = 4_096  # numbers drawn per numpy call (32 KB a stream)


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
        mu = _lognormal_mu(mean)
        lognormvariate = rng.lognormvariate
        return lambda: lognormvariate(mu, LOGNORMAL_SIGMA)
    raise ValueError(f"unknown service distribution {distribution!r}; use {SERVICE_DISTRIBUTIONS}")


def service_block_sampler(
    distribution: str, service_rate: float, rng: np.random.Generator
) -> Callable[[int], np.ndarray]:
    """``service_sampler`` for numpy: a function drawing ``size`` service times at once."""
    mean = 1.0 / service_rate
    if distribution == "exponential":
        return lambda size: rng.exponential(mean, size)
    if distribution == "deterministic":
        return lambda size: np.full(size, mean)
    if distribution == "lognormal":
        mu = _lognormal_mu(mean)
        return lambda size: rng.lognormal(mu, LOGNORMAL_SIGMA, size)
    raise ValueError(f"unknown service distribution {distribution!r}; use {SERVICE_DISTRIBUTIONS}")


def _lognormal_mu(mean: float) -> float:
    """The underlying normal's mean that gives the lognormal a mean of exactly ``mean``."""
    return math.log(mean) - LOGNORMAL_SIGMA**2 / 2


def in_blocks(draw: Callable[[int], np.ndarray], count: int) -> Iterator[float]:
    """``count`` numbers from ``draw(size)``, asked for ``BLOCK`` at a time, one by one."""
    blocks = (draw(min(BLOCK, count - start)).tolist() for start in range(0, count, BLOCK))
    return chain.from_iterable(blocks)


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


def seed_sequence(seed: int) -> np.random.SeedSequence:
    """numpy's seed sequence for ``seed``: any whole number (a negative one is told apart from
    its absolute value)."""
    return np.random.SeedSequence(seed if seed >= 0 else [-seed, 1])


def numpy_streams(seed: int, count: int) -> tuple[list[np.random.Generator], random.Random]:
    """``count`` independent numpy generators derived from ``seed``, and one Python generator
    apart from them for the balancing policy (policies, yours included, use ``random.Random``)."""
    *streams, policy = seed_sequence(seed).spawn(count + 1)
    policy_rng = random.Random(int(policy.generate_state(1, np.uint64)[0]))
    return [np.random.default_rng(stream) for stream in streams], policy_rng


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
    arrival_rng: np.random.Generator,
    service_rng: np.random.Generator,
    user_rng: np.random.Generator,
    warmup: int = 0,
    warmed_up: Callable[[], None] | None = None,
) -> Iterator[simpy.Event]:
    """The users, as one SimPy process: wait a random gap, send a request, repeat.

    ``warmed_up()``, if given, is called once the first ``warmup`` requests have been sent.
    """
    n, mean_gap = workload.requests, 1.0 / workload.arrival_rate
    gaps = in_blocks(lambda size: arrival_rng.exponential(mean_gap, size), n)
    users = in_blocks(lambda size: user_rng.integers(0, workload.users, size), n)
    draw_service = service_block_sampler(workload.service_dist, workload.service_rate, service_rng)
    requests = enumerate(zip(gaps, users, in_blocks(draw_service, n), strict=True))
    timeout, route = env.timeout, router.route  # looked up once: this loop runs per request
    for phase in (islice(requests, warmup), requests):  # the warm-up, then the rest
        for number, (gap, user, service_time) in phase:
            yield timeout(gap)
            route(Request(number, user, env.now, service_time))
        if warmed_up is not None:
            warmed_up()
            warmed_up = None
