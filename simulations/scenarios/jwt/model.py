"""The JWT revocation gap: how long a revoked token keeps working, and what closing it costs.

A JWT is checked without a lookup, so it cannot be "logged out": once issued it is accepted
until its ``exp``. ``run_jwt`` simulates, with one SimPy process per actor:

* **a user** sends requests (Poisson, ``request_rate`` per second) with their current token;
  when that token has expired, the request first *refreshes* it (one call to the store, which
  checks the refresh token), so a user who sends nothing refreshes nothing and there is never
  more than one refresh per request (the requests are walked in time order, not run as SimPy
  processes: see :func:`user_requests`);
* **revocations** arrive at random (Poisson, ``revocation_rate`` per second, all users
  together): a random user's current token is stolen (it may have expired already, unused:
  then it is worth nothing to the thief), the user notices and logs out (revokes it) and logs
  in again with a fresh token;
* **an attacker** replays the stolen token at the user's request rate until it is refused
  (a real attacker reads ``exp`` from the token and stops there too).

``revocation="none"``: the service cannot refuse the token before ``exp``, so the *exposure
window* is the token's remaining lifetime: a little more than ``token_ttl / 2`` on average for a
live token (revoked tokens are replaced by fresh ones, so live tokens are younger than a uniform
age would make them), 0 for one that had expired before it was stolen.
``revocation="denylist"``: logout writes the token's ``jti`` to a shared denylist with a TTL
equal to the remaining lifetime; every request costs one lookup; the entry becomes visible
after ``denylist_delay`` seconds (replication, caches), so the exposure is at most that delay.

Theory, for checking: a user's current token is replaced when revoked (rate r, one user's
revocation rate) or, once older than ``token_ttl`` = T, at the user's next request (rate q), so
at a random moment its age has density ∝ e^(−r·a) on [0, T] and ∝ e^(−r·T − (r+q)(a−T))
beyond. PASTA: revocations see that distribution; :func:`theory_mean_exposure` integrates it
(→ T/2 × T / (T + 1/q) when r·T is small: half a lifetime, times the share of time the token
is live) and :func:`theory_refresh_rate` counts the refreshes. The denylist's mean size follows
from Little's law: revocation rate × mean remaining lifetime. Each entry lives at most one
TTL, so at any moment the denylist holds at most the revocations of the last TTL: a Poisson
count whose *mean* is revocation rate × TTL (the count itself is no bound: it varies).

Random streams (user requests, revocations, attacker replays, initial token ages) are drawn
from separate generators seeded from ``seed``, so ``none`` and ``denylist`` runs with the same
seed see exactly the same requests and revocations.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import percentile
from simulations.replications import replicate

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


def _live_span(ttl: float, r: float) -> float:
    """∫₀ᵀ e^(−r·a) da: how long a token is expected to stay current while it is still live."""
    return ttl if r * ttl < 1e-9 else -math.expm1(-r * ttl) / r


def live_share(ttl: float, per_user_rate: float, request_rate: float | None = None) -> float:
    """The share of time a user's current token is live (not yet expired): a token is current
    for its live span, then, once expired, until the user's next request or a revocation (mean
    1/(r+q)). ``request_rate=None``: tokens replaced the moment they expire (always live)."""
    if request_rate is None:
        return 1.0
    live = _live_span(ttl, per_user_rate)
    return live / (live + math.exp(-per_user_rate * ttl) / (per_user_rate + request_rate))


def theory_mean_exposure(
    ttl: float,
    per_user_rate: float,
    delay: float | None = None,
    request_rate: float | None = None,
) -> float:
    """Expected exposure E[min(delay, remaining lifetime)] of a token revoked at random.

    ``delay=None`` (no denylist) gives the mean remaining lifetime: T/2 for a live token when
    revocations are rare (r·T → 0), a little more when they are frequent (revoked tokens are
    replaced by new ones, so tokens are younger on average). A token that expired before it
    was stolen leaves no window: the live token's value is multiplied by :func:`live_share`
    (``request_rate=None``: always live).
    """
    d = ttl if delay is None else min(delay, ttl)
    share = live_share(ttl, per_user_rate, request_rate)
    x = per_user_rate * ttl
    if x < 1e-9:
        return share * (d - d * d / (2 * ttl))  # uniform remaining lifetime
    r = per_user_rate
    return share * (d - math.exp(-r * ttl) * math.expm1(r * d) / r) / -math.expm1(-x)


def theory_refresh_rate(ttl: float, per_user_rate: float, request_rate: float) -> float:
    """Refreshes per second of one user: renewal theory. A token stays current for its live
    span, then expired until the user's next request (a refresh, rate q) or a revocation; the
    user refreshes at rate q during the expired share of the time. Never above ``request_rate``."""
    r, q = per_user_rate, request_rate
    return q * (1 - live_share(ttl, r, q))


def _stationary_age(
    rng: random.Random, ttl: float, per_user_rate: float, request_rate: float
) -> float:
    """A user's current token's age at a random moment, from one uniform draw: live with
    probability :func:`live_share` (density ∝ e^(−r·a) on [0, ttl]), else expired for an
    exponential time (rate r + q) since ``ttl``."""
    u, share = rng.random(), live_share(ttl, per_user_rate, request_rate)
    if u >= share:
        return ttl - math.log1p(-(u - share) / (1 - share)) / (per_user_rate + request_rate)
    u /= share
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
    refreshes: int  # expired tokens replaced at their user's next request
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

    def revocations_within(self, window: float, at: Sequence[float]) -> list[int]:
        """How many revocations fell in ``(t − window, t]``, for each ``t`` of ``at``. With
        ``window`` = the TTL: a bound on the denylist's size at ``t``, since an entry lives at
        most its token's remaining lifetime."""
        times = [revocation.time for revocation in self.revocations]  # in time order
        return [bisect_right(times, t) - bisect_right(times, t - window) for t in at]

    def busiest_window(self, window: float) -> int:
        """The most revocations in any ``window`` seconds of the run (with the TTL: the most
        entries the denylist could ever have held at once)."""
        times = [revocation.time for revocation in self.revocations]
        counts = (i + 1 - bisect_right(times, t - window) for i, t in enumerate(times))
        return max(counts, default=0)

    @property
    def theory_mean_exposure(self) -> float:
        s = self.scenario
        delay = s.denylist_delay if s.revocation == "denylist" else None
        return theory_mean_exposure(s.token_ttl, s.per_user_revocation_rate, delay, s.request_rate)

    @property
    def theory_mean_entries(self) -> float:
        """Little's law: entries written per second × how long each one lives."""
        s = self.scenario
        if s.revocation == "none":
            return 0.0
        lifetime = theory_mean_exposure(
            s.token_ttl, s.per_user_revocation_rate, request_rate=s.request_rate
        )
        return s.revocation_rate * lifetime

    @property
    def theory_refreshes_per_second(self) -> float:
        s = self.scenario
        return s.users * theory_refresh_rate(
            s.token_ttl, s.per_user_revocation_rate, s.request_rate
        )

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
            "theory_refreshes_per_second": round(self.theory_refreshes_per_second, 6),
        }


def user_requests(
    rng: random.Random, users: int, rate: float, duration: float
) -> Iterator[tuple[float, int]]:
    """(time, user) of every request ``users`` Poisson streams (``rate`` each) send in
    ``[0, duration)``, in time order.

    A user's request is always accepted (a stolen token is replaced at once, an expired one
    refreshed) and touches only that user's token, so users are not run as SimPy processes:
    the same streams, drawn from ``rng`` in the same order (the users' next requests kept in
    time order in a heap, as SimPy's event queue would), at a fraction of the cost (most of a
    run's events are user requests). The model walks them up to each revocation.
    """
    upcoming = [(rng.expovariate(rate), user) for user in range(users)]
    heapq.heapify(upcoming)
    while upcoming and upcoming[0][0] < duration:
        at, user = upcoming[0]
        yield at, user
        heapq.heapreplace(upcoming, (at + rng.expovariate(rate), user))


def count_user_requests(rng: random.Random, users: int, rate: float, duration: float) -> int:
    """How many requests :func:`user_requests` gives."""
    return sum(1 for _ in user_requests(rng, users, rate, duration))


@dataclass
class Token:
    jti: int
    user: int
    expires_at: float


class RevocationModel:
    """The SimPy model behind :func:`run_jwt`: users, revocations, attackers."""

    def __init__(self, scenario: JwtScenario) -> None:
        self.s = scenario
        self.env = simpy.Environment()
        seeds = random.Random(scenario.seed)
        self.request_rng, self.revocation_rng, self.attacker_rng, age_rng = (
            random.Random(seeds.getrandbits(64)) for _ in range(4)
        )
        self.next_jti = 0
        ttl, rate, q = scenario.token_ttl, scenario.per_user_revocation_rate, scenario.request_rate
        self.tokens = [
            self.issue(u, -_stationary_age(age_rng, ttl, rate, q)) for u in range(scenario.users)
        ]
        self.requests = user_requests(self.request_rng, scenario.users, q, scenario.duration)
        self.next_request = next(self.requests, None)
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

    def users_send_until(self, until: float) -> None:
        """The users' requests before ``until``, in time order: a request that finds its
        user's token expired refreshes it first (so at most one refresh per request)."""
        while self.next_request is not None and self.next_request[0] < until:
            at, u = self.next_request
            self.user_requests += 1
            if at >= self.tokens[u].expires_at:
                self.tokens[u] = self.issue(u, at)
                self.refreshes += 1
            self.next_request = next(self.requests, None)

    def revocations_arrive(self) -> Iterator[simpy.Event]:
        rng = self.revocation_rng
        while True:
            yield self.env.timeout(rng.expovariate(self.s.revocation_rate))
            if self.env.now >= self.s.duration:
                return
            self.users_send_until(self.env.now)  # the tokens as they are at this moment
            user = rng.randrange(self.s.users)
            stolen = self.tokens[user]
            self.tokens[user] = self.issue(user, self.env.now)  # the user logs in again
            self.relogins += 1
            self.env.process(self.revoke(stolen))

    def revoke(self, stolen: Token) -> Iterator[simpy.Event]:
        now, remaining = self.env.now, max(0.0, stolen.expires_at - self.env.now)
        exposure = remaining
        if self.s.revocation == "denylist" and remaining > 0:  # an expired token needs none
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
        self.env.process(self.revocations_arrive())
        self.env.process(self.sampler())
        self.env.run(until=self.s.duration)
        s = self.s
        self.users_send_until(s.duration)
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


def replicate_jwt(
    replications: int, scenario: JwtScenario | None = None, **overrides: Any
) -> dict[str, Any]:
    """``replications`` independent runs of one scenario (seeds derived from its ``seed``),
    merged as ``simulations.replications.replicate`` does: counts summed, figures averaged, and
    ``"interval"``: the 95% interval of each average that varied (``mean_exposure_seconds``,
    ``denylist_mean_entries``, ``refreshes_per_second``, ...)."""
    return replicate(_run_dict, replace(scenario or JwtScenario(), **overrides), replications)


def _run_dict(scenario: JwtScenario) -> dict[str, Any]:
    return RevocationModel(scenario).run().to_dict()


@dataclass(frozen=True)
class TradeoffPoint:
    """Short access tokens + refresh: exposure and refresh traffic at one TTL, averaged over
    independent replications (the intervals are 95%; ``None`` with a single run)."""

    token_ttl: float
    mean_exposure: float | None  # seconds a revoked access token keeps working (no denylist)
    theory_mean_exposure: float
    refreshes_per_second: float  # refresh requests: each costs one store lookup (refresh token)
    theory_refreshes_per_second: float
    requests_per_second: float  # what a denylist would cost instead: one lookup per request
    exposure_interval: tuple[float, float] | None = None
    refreshes_interval: tuple[float, float] | None = None


def ttl_tradeoff(
    ttls: Sequence[float],
    scenario: JwtScenario | None = None,
    replications: int = 1,
    **overrides: Any,
) -> list[TradeoffPoint]:
    """Run the no-denylist model at each access-token TTL, ``replications`` times each (the
    same seeds at every TTL: the same users, requests and thefts)."""
    base = replace(scenario or JwtScenario(), **overrides)
    points = []
    for ttl in ttls:
        run = replicate_jwt(
            replications, base, token_ttl=ttl, revocation="none", denylist_delay=0.0
        )
        points.append(
            TradeoffPoint(
                token_ttl=ttl,
                mean_exposure=run["mean_exposure_seconds"],
                theory_mean_exposure=run["theory_mean_exposure_seconds"],
                refreshes_per_second=run["refreshes_per_second"],
                theory_refreshes_per_second=run["theory_refreshes_per_second"],
                requests_per_second=run["user_requests"] / (replications * base.duration),
                exposure_interval=_interval(run, "mean_exposure_seconds"),
                refreshes_interval=_interval(run, "refreshes_per_second"),
            )
        )
    return points


def _interval(run: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The 95% interval of ``key`` in a replicated run, ``None`` for a single run."""
    low_high = run.get("interval", {}).get(key)
    return None if low_high is None else (low_high[0], low_high[1])
