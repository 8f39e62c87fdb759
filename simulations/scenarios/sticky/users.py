"""Heavy-tailed user activity: a few users send most of the requests.

Real traffic is not spread evenly over users: a handful of heavy users (an API client, a
crawler, a busy shop's back office) send a large share of it. Two classic models:

* **Zipf**: user i (counting from 1) sends a share proportional to 1 / i^s. With s = 1 and a
  thousand users the heaviest user alone sends 13% of all requests.
* **Pareto**: every user's rate is drawn independently from a Pareto distribution with shape
  α (smaller α, heavier tail); the rates are then normalised into shares.

``UserActivity`` turns the shares into a cumulative table once, so drawing the user of each
request is one ``rng.random()`` plus a binary search (``bisect``): fast and deterministic.
Users are numbered from 0; under Zipf, user 0 is the heaviest.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

ACTIVITY_MODELS = ("zipf", "pareto")


def zipf_shares(users: int, s: float) -> list[float]:
    """Share of the traffic of each of ``users`` users: proportional to 1 / (i + 1)^s."""
    _check_users(users)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"the Zipf exponent s must be a number >= 0, got {s!r}")
    weights = [1.0 / (rank**s) for rank in range(1, users + 1)]
    return _normalise(weights)


def pareto_shares(users: int, alpha: float, rng: random.Random) -> list[float]:
    """Shares from independent Pareto(α) activity rates, one per user, drawn from ``rng``."""
    _check_users(users)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"the Pareto shape alpha must be a positive number, got {alpha!r}")
    return _normalise([rng.paretovariate(alpha) for _ in range(users)])


@dataclass(frozen=True)
class UserActivity:
    """Who sends the requests: each user's share of the traffic, and a fast way to draw one."""

    shares: tuple[float, ...]

    @classmethod
    def zipf(cls, users: int, s: float = 1.0) -> UserActivity:
        """Zipf activity: user i sends a share ∝ 1 / (i + 1)^s (s = 0: everybody equal)."""
        return cls(tuple(zipf_shares(users, s)))

    @classmethod
    def pareto(cls, users: int, alpha: float = 1.5, seed: int = 0) -> UserActivity:
        """Pareto activity: every user's rate drawn from Pareto(α) with its own seeded generator."""
        return cls(tuple(pareto_shares(users, alpha, random.Random(seed))))

    @property
    def users(self) -> int:
        return len(self.shares)

    def top_share(self, k: int = 1) -> float:
        """Share of the traffic sent by the ``k`` heaviest users together."""
        return math.fsum(sorted(self.shares, reverse=True)[:k])

    def sampler(self, rng: random.Random) -> Callable[[], int]:
        """A function drawing one user (an index) per call, with probability equal to its share."""
        cumulative = list(accumulate(self.shares))
        total = cumulative[-1]
        last = len(cumulative) - 1
        uniform = rng.random

        def pick() -> int:
            return min(bisect_right(cumulative, uniform() * total), last)

        return pick


def _check_users(users: int) -> None:
    if not (isinstance(users, int) and not isinstance(users, bool) and users >= 1):
        raise ValueError(f"the number of users must be a positive integer, got {users!r}")


def _normalise(weights: Sequence[float]) -> list[float]:
    total = math.fsum(weights)
    return [weight / total for weight in weights]
