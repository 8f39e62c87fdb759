"""The JWT revocation gap: how long a revoked token keeps working, and what closing it costs.

A JWT is checked without a lookup, so it cannot be "logged out": once issued it is accepted
until its ``exp``. ``run_jwt`` simulates, with one SimPy process per actor:

* **a user** sends requests (Poisson, ``request_rate`` per second) with their current token
  (counted, not simulated event by event: see :func:`count_user_requests`);
* **a refresher** replaces each user's token when it expires (one refresh per ``token_ttl``);
* **revocations** arrive at random (Poisson, ``revocation_rate`` per second, all users
  together): a random user's current token is stolen, the user notices and logs out
  (revokes it) and logs in again with a fresh token;
* **an attacker** replays the stolen token at the user's request rate until it is refused
  (a real attacker reads ``exp`` from the token and stops there too).

``revocation="none"``: the service cannot refuse the token before ``exp``, so the *exposure
window* is the token's remaining lifetime, about ``token_ttl / 2`` on average.
``revocation="denylist"``: logout writes the token's ``jti`` to a shared denylist with a TTL
equal to the remaining lifetime; every request costs one lookup; the entry becomes visible
after ``denylist_delay`` seconds (replication, caches), so the exposure is at most that delay.

Theory, for checking: a user's token dies at age ``token_ttl`` (refresh) or when revoked, so
at a random moment its age has density ∝ e^(−r·a) on [0, T] (r: one user's revocation rate).
PASTA: revocations see that distribution; :func:`theory_mean_exposure` integrates it
(→ T/2 when r·T is small). The denylist's mean size follows from Little's law: revocation
rate × mean remaining lifetime; its peak is bounded by the revocations of one TTL.

Random streams (user requests, revocations, attacker replays, initial token ages) are drawn
from separate generators seeded from ``seed``, so ``none`` and ``denylist`` runs with the same
seed see exactly the same requests and revocations.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import percentile

REVOCATION_MODES = ("none", "denylist")
MAX_REQUESTS = 2_000_000  # expected user requests in one run: keeps a CLI run to seconds
MAX_REVOCATIONS = 200_000
MAX_REPLAYS = 20_000_000  # attacker requests: cheap each (~1 µs), but not without end
SERIES_POINTS = 120  # denylist size samples kept for plots


@dataclass(frozen=True)
class JwtScenario:
    """Stolen tokens revoked at random: how long each keeps working. One run's knobs: token
    lifetime, revocation strategy, population, traffic, seed."""

    token_ttl: float = knobs.number(
        900.0,
        "access-token lifetime",
        unit="s",
        slider=(60, 3600, 60),
        label="token TTL (s)",
        metavar="S",
    )
    revocation: str = knobs.choice(
        "none",
        REVOCATION_MODES,
        "none: tokens live until exp; denylist: logout writes the jti to a shared store",
    )
    users: int = knobs.count(1000, "users with a token", high=knobs.MAX_USERS, metavar="U")
    duration: float = knobs.number(3600.0, "simulated seconds", unit="s", metavar="T")
    revocation_rate: float = knobs.number(
        0.05,
        "stolen tokens revoked per second, all users together",
        unit="1/s",
        slider=(0.01, 0.2, 0.01),
        label="revocations/s",
        metavar="R",
    )
    request_rate: float = knobs.number(
        0.02, "requests per second per user, and per thief", unit="req/s", metavar="Q"
    )
    denylist_delay: float = knobs.number(
        0.0,
        "seconds before every instance sees a new entry",
        unit="s",
        above=False,
        applies=("revocation", ("denylist",)),
        slider=(0.0, 120.0, 5.0),
        label="delay (s)",
        metavar="D",
    )
    seed: int = knobs.seed(42)

    def __post_init__(self) -> None:
        knobs.check(self)
        delay = self.denylist_delay
        if self.revocation == "none" and delay:
            raise ValueError("denylist_delay applies only to revocation='denylist'")
        s = self
        knobs.work_limit(
            "requests",
            s.users * s.request_rate * s.duration,
            MAX_REQUESTS,
            "users, request_rate or duration",
        )
        knobs.work_limit(
            "token refreshes",
            s.users * s.duration / s.token_ttl,
            MAX_REQUESTS,
            "users or duration, or raise token_ttl",
        )
        knobs.work_limit(
            "revocations",
            s.revocation_rate * s.duration,
            MAX_REVOCATIONS,
            "revocation_rate or duration",
        )
        window = min(s.token_ttl, s.duration)  # how long a thief can use a stolen token
        if s.revocation == "denylist":
            window = min(window, s.denylist_delay)
        knobs.work_limit(
            "stolen-token replays",
            s.revocation_rate * s.duration * (s.request_rate * window + 1),
            MAX_REPLAYS,
            "revocation_rate, request_rate or duration",
        )

    @property
    def per_user_revocation_rate(self) -> float:
        return self.revocation_rate / self.users


def theory_mean_exposure(ttl: float, per_user_rate: float, delay: float | None = None) -> float:
    """Expected exposure E[min(delay, remaining lifetime)] of a token revoked at random.

    ``delay=None`` (no denylist) gives the mean remaining lifetime: T/2 when revocations are
    rare (r·T → 0), a little more when they are frequent (revoked tokens are replaced by new
    ones, so tokens are younger on average).
    """
    d = ttl if delay is None else min(delay, ttl)
    x = per_user_rate * ttl
    if x < 1e-9:
        return d - d * d / (2 * ttl)  # uniform remaining lifetime
    r = per_user_rate
    return (d - math.exp(-r * ttl) * math.expm1(r * d) / r) / -math.expm1(-x)


def _stationary_age(rng: random.Random, ttl: float, per_user_rate: float) -> float:
    """A token's age at a random moment: density ∝ e^(−r·a) on [0, ttl]."""
    u = rng.random()
    if per_user_rate * ttl < 1e-9:
        return u * ttl
    return -math.log1p(u * math.expm1(-per_user_rate * ttl)) / per_user_rate


@dataclass(frozen=True)
class Revocation:
    """One stolen-and-revoked token: when, whose, how long it stayed usable, how often used."""

    time: float
    user: int
    expires_at: float
    exposure: float  # seconds the token was still accepted after the revocation
    replays_accepted: int  # attacker requests served with it after the revocation


@dataclass(frozen=True)
class JwtResult:
    """What one run measured."""

    scenario: JwtScenario
    revocations: list[Revocation] = field(repr=False)
    user_requests: int
    attacker_requests: int
    attacker_requests_accepted: int
    refreshes: int  # tokens replaced at expiry
    relogins: int  # tokens replaced after a revocation
    denylist_lookups: int
    denylist_peak_entries: int
    denylist_mean_entries: float  # time average after the first TTL (the steady state)
    series_times: list[float] = field(repr=False)
    series_entries: list[int] = field(repr=False)  # denylist size at ``series_times``

    @property
    def requests(self) -> int:
        """Every request that carried an access token, the users' and the attackers'."""
        return self.user_requests + self.attacker_requests

    @property
    def exposures(self) -> list[float]:
        return [revocation.exposure for revocation in self.revocations]

    @property
    def mean_exposure(self) -> float | None:
        exposures = self.exposures
        return sum(exposures) / len(exposures) if exposures else None

    @property
    def max_exposure(self) -> float | None:
        return max(self.exposures, default=None)

    @property
    def p95_exposure(self) -> float | None:
        exposures = sorted(self.exposures)
        return percentile(exposures, 95) if exposures else None

    @property
    def theory_mean_exposure(self) -> float:
        s = self.scenario
        delay = s.denylist_delay if s.revocation == "denylist" else None
        return theory_mean_exposure(s.token_ttl, s.per_user_revocation_rate, delay)

    @property
    def theory_mean_entries(self) -> float:
        """Little's law: entries written per second × how long each one lives."""
        s = self.scenario
        if s.revocation == "none":
            return 0.0
        return s.revocation_rate * theory_mean_exposure(s.token_ttl, s.per_user_revocation_rate)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: counts are ints, times in seconds rounded to 6 decimals."""
        s = self.scenario

        def seconds(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {
            "token_ttl": s.token_ttl,
            "revocation": s.revocation,
            "users": s.users,
            "duration": s.duration,
            "revocation_rate": s.revocation_rate,
            "request_rate": s.request_rate,
            "denylist_delay": s.denylist_delay if s.revocation == "denylist" else None,
            "seed": s.seed,
            "revocations": len(self.revocations),
            "requests": self.requests,
            "user_requests": self.user_requests,
            "attacker_requests": self.attacker_requests,
            "attacker_requests_accepted": self.attacker_requests_accepted,
            "refreshes": self.refreshes,
            "relogins": self.relogins,
            "mean_exposure_seconds": seconds(self.mean_exposure),
            "p95_exposure_seconds": seconds(self.p95_exposure),
            "max_exposure_seconds": seconds(self.max_exposure),
            "theory_mean_exposure_seconds": seconds(self.theory_mean_exposure),
            "denylist_lookups": self.denylist_lookups,
            "lookups_per_request": round(self.denylist_lookups / self.requests, 6)
            if self.requests
            else 0.0,
            "denylist_peak_entries": self.denylist_peak_entries,
            "denylist_mean_entries": round(self.denylist_mean_entries, 6),
            "theory_mean_denylist_entries": round(self.theory_mean_entries, 6),
            "refreshes_per_second": round(self.refreshes / s.duration, 6),
        }


def count_user_requests(rng: random.Random, users: int, rate: float, duration: float) -> int:
    """How many requests ``users`` Poisson streams (``rate`` each) send in ``[0, duration)``.

    A user's own request changes nothing the lesson measures: the user always holds a live,
    unrevoked token (a stolen one is replaced at once), so it is accepted and, with a denylist,
    costs one lookup. So users are counted here instead of run as SimPy processes: the same
    streams, drawn from ``rng`` in the same order (the users' next requests kept in time order
    in a heap, as SimPy's event queue would), at a fraction of the cost (most of a run's events
    were user requests).
    """
    upcoming = [(rng.expovariate(rate), user) for user in range(users)]
    heapq.heapify(upcoming)
    count = 0
    while upcoming and upcoming[0][0] < duration:
        at, user = upcoming[0]
        count += 1
        heapq.heapreplace(upcoming, (at + rng.expovariate(rate), user))
    return count


@dataclass
class Token:
    jti: int
    user: int
    expires_at: float


class RevocationModel:
    """The SimPy model behind :func:`run_jwt`: users, refreshers, revocations, attackers."""

    def __init__(self, scenario: JwtScenario) -> None:
        self.s = scenario
        self.env = simpy.Environment()
        seeds = random.Random(scenario.seed)
        self.request_rng, self.revocation_rng, self.attacker_rng, age_rng = (
            random.Random(seeds.getrandbits(64)) for _ in range(4)
        )
        self.next_jti = 0
        ttl, rate = scenario.token_ttl, scenario.per_user_revocation_rate
        self.tokens = [
            self.issue(u, -_stationary_age(age_rng, ttl, rate)) for u in range(scenario.users)
        ]
        self.denylist: dict[int, float] = {}  # jti -> the moment every instance sees the entry
        self.revocations: list[Revocation] = []
        self.user_requests = self.attacker_requests = self.accepted_replays = 0
        self.refreshes = self.relogins = self.lookups = 0
        self.peak_entries = 0
        self.entry_seconds = 0.0  # ∫ denylist size dt over [0, duration]
        self._last_change = self.warmup
        self.series: list[tuple[float, int]] = []

    def issue(self, user: int, issued_at: float) -> Token:
        self.next_jti += 1
        return Token(self.next_jti, user, issued_at + self.s.token_ttl)

    def accepts(self, token: Token) -> bool:
        """The service's check: signature and ``exp`` (free), then the denylist (one lookup)."""
        now = self.env.now
        if now >= token.expires_at:
            return False
        if self.s.revocation == "denylist":
            self.lookups += 1
            visible_at = self.denylist.get(token.jti)
            if visible_at is not None and now >= visible_at:
                return False
        return True

    # -- the actors --------------------------------------------------------------------------

    def refresher(self, u: int) -> Iterator[simpy.Event]:
        while True:
            token = self.tokens[u]
            yield self.env.timeout(token.expires_at - self.env.now)
            if self.env.now >= self.s.duration:
                return
            if self.tokens[u] is token:  # not already replaced by a re-login
                self.tokens[u] = self.issue(u, self.env.now)
                self.refreshes += 1

    def revocations_arrive(self) -> Iterator[simpy.Event]:
        rng = self.revocation_rng
        while True:
            yield self.env.timeout(rng.expovariate(self.s.revocation_rate))
            if self.env.now >= self.s.duration:
                return
            user = rng.randrange(self.s.users)
            stolen = self.tokens[user]
            self.tokens[user] = self.issue(user, self.env.now)  # the user logs in again
            self.relogins += 1
            self.env.process(self.revoke(stolen))

    def revoke(self, stolen: Token) -> Iterator[simpy.Event]:
        now, remaining = self.env.now, stolen.expires_at - self.env.now
        exposure = remaining
        if self.s.revocation == "denylist":
            exposure = min(self.s.denylist_delay, remaining)
            self.account_entries()
            self.denylist[stolen.jti] = now + self.s.denylist_delay
            self.peak_entries = max(self.peak_entries, len(self.denylist))
            self.env.process(self.expire_entry(stolen))
        record = {"accepted": 0}
        yield self.env.process(self.attacker(stolen, record))
        self.revocations.append(
            Revocation(now, stolen.user, stolen.expires_at, exposure, record["accepted"])
        )

    def expire_entry(self, token: Token) -> Iterator[simpy.Event]:
        """The denylist entry lives exactly as long as the token could be used (Redis TTL)."""
        yield self.env.timeout(token.expires_at - self.env.now)
        self.account_entries()
        del self.denylist[token.jti]

    def attacker(self, token: Token, record: dict[str, int]) -> Iterator[simpy.Event]:
        rng = self.attacker_rng
        while True:
            at = self.env.now + rng.expovariate(self.s.request_rate)
            if at >= min(token.expires_at, self.s.duration):
                return  # the token is dead (its exp is readable) or the run is over
            yield self.env.timeout(at - self.env.now)
            self.attacker_requests += 1
            if not self.accepts(token):
                return
            record["accepted"] += 1
            self.accepted_replays += 1

    def sampler(self) -> Iterator[simpy.Event]:
        step = self.s.duration / SERIES_POINTS
        for index in range(SERIES_POINTS):
            yield self.env.timeout(index * step - self.env.now)
            self.series.append((self.env.now, len(self.denylist)))

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def warmup(self) -> float:
        """The denylist starts empty; after one TTL entries expire as fast as they arrive."""
        return min(self.s.token_ttl, self.s.duration / 2)

    def account_entries(self) -> None:
        """Add size × elapsed time to ∫ size dt over [warmup, duration] (the steady state)."""
        now = min(max(self.env.now, self.warmup), self.s.duration)
        self.entry_seconds += len(self.denylist) * max(0.0, now - self._last_change)
        self._last_change = max(self._last_change, now)

    def run(self) -> JwtResult:
        for u in range(self.s.users):
            self.env.process(self.refresher(u))
        self.env.process(self.revocations_arrive())
        self.env.process(self.sampler())
        self.env.run(until=self.s.duration)
        s = self.s
        self.user_requests = count_user_requests(
            self.request_rng, s.users, s.request_rate, s.duration
        )
        if s.revocation == "denylist":
            self.lookups += self.user_requests  # every request of a user is checked too
        self.account_entries()
        revocations = sorted(self.revocations, key=lambda r: r.time)
        return JwtResult(
            scenario=self.s,
            revocations=revocations,
            user_requests=self.user_requests,
            attacker_requests=self.attacker_requests,
            attacker_requests_accepted=self.accepted_replays,
            refreshes=self.refreshes,
            relogins=self.relogins,
            denylist_lookups=self.lookups,
            denylist_peak_entries=self.peak_entries,
            denylist_mean_entries=self.entry_seconds / (self.s.duration - self.warmup),
            series_times=[time for time, _ in self.series],
            series_entries=[size for _, size in self.series],
        )


def run_jwt(scenario: JwtScenario | None = None, **overrides: Any) -> JwtResult:
    """Simulate one scenario: ``run_jwt(token_ttl=900, revocation="denylist", seed=1)``."""
    scenario = replace(scenario or JwtScenario(), **overrides)
    return RevocationModel(scenario).run()


@dataclass(frozen=True)
class TradeoffPoint:
    """Short access tokens + refresh tokens: exposure and refresh traffic at one TTL."""

    token_ttl: float
    mean_exposure: float | None  # seconds a revoked access token keeps working (no denylist)
    theory_mean_exposure: float
    refreshes_per_second: float  # refresh requests: each costs one store lookup (refresh token)
    requests_per_second: float  # what a denylist would cost instead: one lookup per request


def ttl_tradeoff(
    ttls: Sequence[float], scenario: JwtScenario | None = None, **overrides: Any
) -> list[TradeoffPoint]:
    """Run the no-denylist model at each access-token TTL (same seed: same users, same thefts)."""
    base = replace(scenario or JwtScenario(), **overrides)
    points = []
    for ttl in ttls:
        result = run_jwt(base, token_ttl=ttl, revocation="none", denylist_delay=0.0)
        points.append(
            TradeoffPoint(
                token_ttl=ttl,
                mean_exposure=result.mean_exposure,
                theory_mean_exposure=result.theory_mean_exposure,
                refreshes_per_second=result.refreshes / base.duration,
                requests_per_second=result.user_requests / base.duration,
            )
        )
    return points
