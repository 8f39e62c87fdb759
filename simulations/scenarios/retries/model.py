"""Lesson 10 at scale: clients that time out and retry, against servers that never hear of it.

Clients send requests (Poisson) to a pool of ``servers`` behind one shared FIFO queue: an M/M/c
station (the best any balancer does with c servers: none idles while work waits). Each attempt
takes a server an exponential time, mean ``service_time``. The offered ``load`` is the clients'
rate as a fraction of the pool's capacity c / s (λ = load × c / s); with a ``spike``, for
``spike_duration`` seconds from ``spike_at`` it is ``load + spike`` (a burst: the trigger).

A client waits ``timeout`` seconds for each attempt. No answer by then: it gives up on that
attempt (closes the connection; a late answer is thrown away) and, as its ``policy`` says,
retries: ``"none"`` never, ``"immediate"`` at once, ``"backoff"`` after a random delay with
*full jitter*, uniform in [0, min(``backoff_cap``, ``backoff_base`` × 2^(k−1))) before the k-th
retry (AWS's "exponential backoff and jitter"); at most ``max_retries`` retries per request.
With ``budget`` on, a retry is also refused when the retries sent in the last ``BUDGET_WINDOW``
seconds would pass ``budget_ratio`` × the requests sent in that window (the retry budgets of
Finagle and gRPC, the SRE book's per-client "retry budget" of 10%).

**The servers do not know the client gave up.** An abandoned attempt stays in the queue and is
served in its turn, like any request whose caller has hung up: its work is *wasted*, and for a
request that is not idempotent its effect still happens. A request whose effect ran more than
once (an abandoned attempt that completed, and another attempt that completed too) is a
**duplicate**: the double charge. This is what makes a retry storm real: near saturation a
burst pushes the queue's wait past the timeout, every attempt times out, each request comes
back 1 + ``max_retries`` times, and the servers spend all their time on answers nobody waits
for. The storm sustains itself wherever load × (1 + ``max_retries``) > 1, long after the burst:
the *metastable* failure (Bronson et al., "Metastable failures in distributed systems", HotOS
2021). Backoff only moves the retries later: new requests keep coming (an open system), so it
postpones retries without making fewer; what bounds the extra load is the budget (load × (1 +
ratio)). Above capacity nothing on the client side helps: an unbounded queue grows until every
answer is late. With ``queue_limit`` the pool sheds load: an attempt that finds that many
waiting is refused at once (a 503), which the client retries like a timeout.

The scenario's default has no burst; ``BURST`` (+0.5 of capacity for 5 s at 20 s) is the trigger
``goodput_by_load`` and the explorer start from.

Requests are sent for ``duration`` seconds; the run goes on until every one of them is answered
or given up. Every attempt the pool accepted completes (nobody removes it from the queue), so
its effect is counted, also when that happens after the run. Goodput counts requests answered
within their timeout, per second of sending; ``final_goodput`` only those sent in the last
quarter of the run: where the run settled after the burst. With ``policy="none"``, no burst and
no queue limit, the share of attempts that time out is P(R > T) for the M/M/c response time R
(``theory_timeout_share``; e^(−(μ−λ)T) for one server): the duplicate candidates.

The pool serves first come, first served without preemption, so an attempt's start and end are
known the moment it joins the queue: it takes the first server free after everyone before it
(``RetriesModel.send``; the Kiefer–Wolfowitz recursion). SimPy orders the rest, each a callback
on a timeout: arrivals, the clients' timers (only for attempts that will be late) and backoffs.
Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import percentile, rounded, text_table
from simulations.replications import replicate
from simulations.theory import erlang_c

POLICIES = ("none", "immediate", "backoff")
BUDGET_WINDOW = 10.0  # seconds of history a retry budget counts (Finagle's default TTL)
FINAL_SHARE = 0.25  # final_goodput: requests sent in the last quarter of the run
SERIES_BINS = 60  # the run's time series: answers in time and attempts, per 1/60 of duration
LAST_BIN = SERIES_BINS - 1
MAX_REQUESTS = 200_000
MAX_ATTEMPTS = 1_000_000
MAX_RETRIES = 20
BURST = {"spike": 0.5}  # the trigger goodput_by_load and the explorer start from: +50% for 5 s
# The lesson's four designs: name -> the knobs that make it.
SETUPS: dict[str, dict[str, Any]] = {
    "none": {"policy": "none"},
    "immediate": {"policy": "immediate"},
    "backoff": {"policy": "backoff"},
    "backoff+budget": {"policy": "backoff", "budget": True},
}


@dataclass(frozen=True)
class RetriesScenario:
    """Clients with a timeout and a retry policy against an M/M/c pool. The knobs."""

    policy: str = knobs.choice(
        "immediate",
        POLICIES,
        "what a client does when an attempt times out: nothing, retry at once, or retry after "
        "a capped exponential backoff with full jitter",
    )
    servers: int = knobs.count(
        4,
        "servers behind one shared queue (M/M/c), one attempt at a time each",
        high=1_024,
        slider=(1, 16, 1),
        metavar="N",
    )
    load: float = knobs.number(
        0.7,
        "offered load: the clients' request rate as a fraction of the pool's capacity N/s",
        high=10.0,
        slider=(0.3, 1.5, 0.05),
        metavar="L",
    )
    service_time: float = knobs.number(
        0.2,
        "mean time a server spends on one attempt (exponential)",
        unit="s",
        high=1e4,
        slider=(0.05, 1.0, 0.05),
        label="service (s)",
        metavar="S",
    )
    timeout: float = knobs.number(
        1.0,
        "how long a client waits for one attempt before it gives up on it (and may retry)",
        unit="s",
        high=1e5,
        slider=(0.2, 5.0, 0.1),
        label="timeout (s)",
        metavar="T",
    )
    max_retries: int = knobs.count(
        3,
        "retries per request at most",
        high=MAX_RETRIES,
        applies=("policy", ("immediate", "backoff")),
        why="only a policy that retries",
        slider=(1, 10, 1),
        label="max retries",
    )
    backoff_base: float = knobs.number(
        0.2,
        "the k-th retry waits a time uniform in [0, min(cap, base × 2^(k−1)))",
        unit="s",
        high=1e4,
        applies=("policy", ("backoff",)),
        why="only backoff waits",
    )
    backoff_cap: float = knobs.number(
        2.0,
        "the longest a retry waits before it is sent",
        unit="s",
        high=1e4,
        applies=("policy", ("backoff",)),
        why="only backoff waits",
    )
    budget: bool = knobs.switch(
        False,
        "a retry budget: retries in the last 10 s at most budget_ratio × the requests then",
        applies=("policy", ("immediate", "backoff")),
        why="only a policy that retries",
    )
    budget_ratio: float = knobs.number(
        0.1,
        "the retry budget: retries allowed per request sent, over the last 10 s",
        high=10.0,
        applies=("budget", ()),
        why="only a retry budget counts",
    )
    queue_limit: int | None = knobs.count(
        None,
        "attempts that may wait for a server (none: no limit); one more is refused at once, "
        "a 503 the client retries like a timeout",
        low=0,
        high=1_000_000,
        optional=True,
        metavar="Q",
    )
    spike: float = knobs.number(
        0.0,
        "a burst: extra load (share of capacity) from spike_at for spike_duration; 0: none",
        above=False,
        high=10.0,
        slider=(0.0, 1.5, 0.1),
        label="burst (+load)",
    )
    spike_at: float = knobs.number(
        20.0,
        "when the burst starts",
        unit="s",
        above=False,
        high=1e6,
        applies=("spike", ()),
        why="only a burst starts",
    )
    spike_duration: float = knobs.number(
        5.0,
        "how long the burst lasts",
        unit="s",
        high=1e6,
        applies=("spike", ()),
        why="only a burst lasts",
    )
    duration: float = knobs.number(
        60.0, "seconds during which clients send requests", unit="s", high=1e6, metavar="D"
    )
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        s = self
        if s.backoff_cap < s.backoff_base:
            raise ValueError(
                f"backoff_cap ({s.backoff_cap:g}) must be at least backoff_base "
                f"({s.backoff_base:g})"
            )
        spiked = min(s.spike_duration, max(s.duration - s.spike_at, 0.0)) if s.spike else 0.0
        requests = self.capacity * (s.load * s.duration + s.spike * spiked)
        knobs.work_limit("requests", requests, MAX_REQUESTS, "load, servers or duration")
        tries = 1 + (s.max_retries if s.policy != "none" else 0)
        knobs.work_limit(
            "attempts", requests * tries, MAX_ATTEMPTS, "max_retries, load, servers or duration"
        )

    @property
    def capacity(self) -> float:
        """Requests per second the pool serves when busy: N / s."""
        return self.servers / self.service_time

    @property
    def arrival_rate(self) -> float:
        """The clients' base rate λ = load × N / s (requests per second)."""
        return self.load * self.capacity


class Request:
    """One request a client wants done (a payment): its attempts and what became of them."""

    __slots__ = ("answered", "attempts", "completions", "failed", "sent", "settled")

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.attempts = 0
        self.completions = 0  # attempts the pool accepted: each completes, its effect runs
        self.answered = math.nan  # when an attempt's answer reached the client in time
        self.failed = False
        self.settled = False


@dataclass(frozen=True)
class RetriesResult:
    """What one run measured. Counts are requests, except where they say attempts."""

    scenario: RetriesScenario
    requests: int  # requests sent during the run
    attempts: int  # attempts sent (first attempts and retries)
    succeeded: int  # requests answered within their timeout
    failed: int  # requests given up (retries exhausted, not allowed, or none)
    timed_out: int  # attempts the client stopped waiting for
    rejected: int  # attempts refused by a full queue (queue_limit)
    budget_denied: int  # retries the budget refused
    abandoned_completed: int  # abandoned attempts the servers finished anyway (wasted work)
    duplicates: int  # requests whose effect ran more than once
    failed_but_done: int  # requests the client saw fail whose effect happened anyway
    final_requests: int  # requests sent in the last quarter of the run
    final_succeeded: int  # ... and answered in time
    busy_seconds: float  # server time spent on attempts, within [0, duration)
    wasted_seconds: float  # ... on attempts nobody was waiting for any more
    end: float
    answers_per_bin: tuple[int, ...] = field(repr=False)  # answers in time, per 1/60 of the run
    attempts_per_bin: tuple[int, ...] = field(repr=False)  # attempts sent, per 1/60 of the run
    requests_per_bin: tuple[int, ...] = field(repr=False)  # requests sent, per 1/60 of the run
    latencies: tuple[float, ...] = field(repr=False)  # first send → answer, succeeded requests

    @property
    def series_times(self) -> list[float]:
        """The middle of each of the ``SERIES_BINS`` bins of the time series."""
        width = self.scenario.duration / SERIES_BINS
        return [(k + 0.5) * width for k in range(SERIES_BINS)]

    def per_second(self, counts: Sequence[int]) -> list[float]:
        """A time series of counts per bin as rates per second."""
        width = self.scenario.duration / SERIES_BINS
        return [count / width for count in counts]

    @property
    def retries(self) -> int:
        return self.attempts - self.requests

    @property
    def offered(self) -> float:
        """Requests per second the clients sent (the burst included)."""
        return self.requests / self.scenario.duration

    @property
    def goodput(self) -> float:
        """Requests answered within their timeout, per second."""
        return self.succeeded / self.scenario.duration

    @property
    def final_goodput(self) -> float:
        """Goodput of the requests sent in the last quarter of the run (after the burst)."""
        return self.final_succeeded / (FINAL_SHARE * self.scenario.duration)

    @property
    def amplification(self) -> float:
        """Attempts per request: the load the servers see over the load the clients offer."""
        return self.attempts / self.requests if self.requests else math.nan

    @property
    def duplicate_rate(self) -> float:
        return self.duplicates / self.requests if self.requests else 0.0

    @property
    def timeout_share(self) -> float:
        """Attempts that timed out, as a share of the attempts."""
        return self.timed_out / self.attempts if self.attempts else 0.0

    @property
    def utilization(self) -> float:
        s = self.scenario
        return self.busy_seconds / (s.servers * s.duration)

    @property
    def wasted_share(self) -> float:
        """Share of the servers' busy time spent on answers nobody waited for."""
        return self.wasted_seconds / self.busy_seconds if self.busy_seconds else 0.0

    @property
    def mean_latency(self) -> float:
        return math.fsum(self.latencies) / len(self.latencies) if self.latencies else math.nan

    @property
    def p99_latency(self) -> float:
        return percentile(sorted(self.latencies), 99)

    @property
    def theory_timeout_share(self) -> float:
        """P(R > T) in M/M/c at the base load: the share of attempts that time out with no
        retries, no burst and no queue limit (NaN at load ≥ 1)."""
        s = self.scenario
        return theory_timeout_share(s.load, s.servers, s.service_time, s.timeout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the counts (ints), then rates, shares and
        latencies (floats, so replications give them 95% intervals)."""
        capacity = self.scenario.capacity
        counts = {
            "requests": self.requests,
            "attempts": self.attempts,
            "retries": self.retries,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "rejected": self.rejected,
            "budget_denied": self.budget_denied,
            "abandoned_completed": self.abandoned_completed,
            "duplicates": self.duplicates,
            "failed_but_done": self.failed_but_done,
        }
        return rounded(
            {
                **asdict(self.scenario),
                **counts,
                "capacity": capacity,
                "offered": self.offered,
                "goodput": self.goodput,
                "final_goodput": self.final_goodput,
                "goodput_fraction": self.goodput / capacity,
                "final_goodput_fraction": self.final_goodput / capacity,
                "amplification": self.amplification,
                "duplicate_rate": self.duplicate_rate,
                "timeout_share": self.timeout_share,
                "theory_timeout_share": self.theory_timeout_share,
                "utilization": self.utilization,
                "wasted_share": self.wasted_share,
                "mean_latency": self.mean_latency,
                "p99_latency": self.p99_latency,
            }
        )


def theory_timeout_share(load: float, servers: int, service_time: float, timeout: float) -> float:
    """P(R > T) for the response time R of an M/M/c queue (FCFS) at ``load`` = λ s / c:
    R = W + S, P(W > w) = C e^(−(cμ−λ) w) (C: Erlang C), S exponential(μ), so
    P(R > T) = e^(−μT) + C μ / (cμ − λ − μ) (e^(−μT) − e^(−(cμ−λ)T)); for c = 1, e^(−(μ−λ)T).
    NaN when load ≥ 1 (no steady state)."""
    if not 0 < load < 1:
        return math.nan
    mu = 1.0 / service_time
    lam = load * servers * mu
    gap = servers * mu - lam  # the waiting time's decay rate
    waits = erlang_c(servers, lam / mu)
    if servers == 1:
        return math.exp(-gap * timeout)
    if math.isclose(gap, mu):
        return math.exp(-mu * timeout) * (1 + waits * mu * timeout)
    return math.exp(-mu * timeout) + waits * mu / (gap - mu) * (
        math.exp(-mu * timeout) - math.exp(-gap * timeout)
    )


class RetriesModel:
    """One run: the clients' arrivals, the pool's queue and servers, the clients' timers."""

    def __init__(self, scenario: RetriesScenario) -> None:
        s = self.s = scenario
        rng = random.Random(s.seed)
        self.arrivals = random.Random(rng.getrandbits(64))
        self.works = random.Random(rng.getrandbits(64))
        self.jitter = random.Random(rng.getrandbits(64))
        self.env = simpy.Environment()
        self.free = [0.0] * s.servers  # a heap: when each server finishes its last attempt
        self.waiting: deque[float] = deque()  # start times of attempts not started yet
        self.requests: list[Request] = []
        self.recent_requests: deque[float] = deque()  # the budget's window
        self.recent_retries: deque[float] = deque()
        self.retrying, self.immediate = s.policy != "none", s.policy == "immediate"
        self.rate = 1.0 / s.service_time
        self.duration, self.timeout, self.queue_limit = s.duration, s.timeout, s.queue_limit
        self.sending = True
        self.unsettled = 0
        self.attempts = self.timed_out = self.rejected = self.budget_denied = 0
        self.abandoned_completed = 0
        self.busy_seconds = self.wasted_seconds = 0.0
        self.bin_width = s.duration / SERIES_BINS
        self.answers_per_bin = [0] * SERIES_BINS
        self.attempts_per_bin = [0] * SERIES_BINS
        self.requests_per_bin = [0] * SERIES_BINS
        self.finished = self.env.event()

    # --- the story ---------------------------------------------------------------------------

    def clients(self) -> None:
        """Requests arrive (Poisson at λ, at λ + burst during the burst) until ``duration``:
        each arrival schedules the next (a callback, cheaper than a process)."""
        s = self.s
        self.burst = (s.spike_at, s.spike_at + s.spike_duration) if s.spike else (math.inf,) * 2
        self.rates = (s.arrival_rate, (s.load + s.spike) * s.capacity)  # outside, inside it
        self.next_arrival(0.0)

    def next_arrival(self, now: float) -> None:
        start, stop = self.burst
        end = self.duration
        while True:
            bursting = start <= now < stop
            rate = self.rates[bursting]
            boundary = min(stop if bursting else (start if now < start else end), end)
            arrival = now + self.arrivals.expovariate(rate)
            if arrival < boundary:
                break
            now = boundary  # memoryless: draw again from the boundary, at the new rate
            if now >= end:
                self.env.timeout(end - self.env.now).callbacks.append(self.stop_sending)
                return
        self.env.timeout(arrival - self.env.now, arrival).callbacks.append(self.arrive)

    def arrive(self, event: simpy.Event) -> None:
        arrival = event.value
        request = Request(arrival)
        self.requests.append(request)
        self.requests_per_bin[min(int(arrival / self.bin_width), LAST_BIN)] += 1
        self.unsettled += 1
        if self.s.budget:
            self.recent_requests.append(arrival)
        self.send(request)
        self.next_arrival(arrival)

    def stop_sending(self, event: simpy.Event) -> None:
        self.sending = False
        self.check_finished()

    def send(self, request: Request) -> None:
        """An attempt leaves the client and joins the pool's FIFO queue (or is refused, when
        ``queue_limit`` attempts wait already). First come, first served on c servers: it
        starts when the first server is free after everyone before it, and runs to the end,
        whether anyone still waits for it or not: the servers never hear of a timeout."""
        request.attempts += 1
        self.attempts += 1
        now = self.env.now
        end = self.duration
        if now < end:
            self.attempts_per_bin[min(int(now / self.bin_width), LAST_BIN)] += 1
        waiting = self.waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()  # started by now
        if self.queue_limit is not None and len(waiting) >= self.queue_limit:
            self.rejected += 1  # a 503 at once: the client may retry it like a timeout
            self.retry_or_give_up(request)
            return
        start = self.free[0]  # when the first server is free
        if start > now:
            waiting.append(start)
        else:
            start = now
        finish = start + self.works.expovariate(self.rate)
        heapq.heapreplace(self.free, finish)
        request.completions += 1  # its effect will commit at ``finish``
        busy = (finish if finish < end else end) - (start if start < end else end)
        self.busy_seconds += busy  # within the sending window [0, duration)
        if finish - now <= self.timeout:  # answered in time
            request.answered = finish
            if finish < end:
                self.answers_per_bin[min(int(finish / self.bin_width), LAST_BIN)] += 1
            self.settle(request)
            return
        self.wasted_seconds += busy  # the answer will find nobody waiting
        self.abandoned_completed += 1
        self.env.timeout(self.timeout, request).callbacks.append(self.timer_expired)

    def timer_expired(self, event: simpy.Event) -> None:
        """The client's timeout: no answer yet, so it gives up on this attempt (which stays
        queued or in service: the server does not know) and may retry."""
        self.timed_out += 1
        self.retry_or_give_up(event.value)

    def retry_or_give_up(self, request: Request) -> None:
        """The client's choice after a timeout or a 503: retry (now, or after a backoff), or
        give the request up (no retries left, or the budget says no)."""
        s = self.s
        if not self.retrying or request.attempts > s.max_retries:
            self.give_up(request)
            return
        if s.budget:
            if not self.budget_allows():
                self.budget_denied += 1
                self.give_up(request)
                return
            self.recent_retries.append(self.env.now)
        if self.immediate:
            self.send(request)
            return
        ceiling = min(s.backoff_cap, s.backoff_base * 2.0 ** (request.attempts - 1))
        wait = self.env.timeout(self.jitter.uniform(0.0, ceiling), request)
        wait.callbacks.append(self.backoff_over)

    def backoff_over(self, event: simpy.Event) -> None:
        self.send(event.value)

    def budget_allows(self) -> bool:
        """Retries sent in the last ``BUDGET_WINDOW`` s, this one included, at most
        ``budget_ratio`` × the requests sent then."""
        since = self.env.now - BUDGET_WINDOW
        for recent in (self.recent_requests, self.recent_retries):
            while recent and recent[0] <= since:
                recent.popleft()
        return len(self.recent_retries) + 1 <= self.s.budget_ratio * len(self.recent_requests)

    # --- bookkeeping ----------------------------------------------------------------------

    def give_up(self, request: Request) -> None:
        request.failed = True
        self.settle(request)

    def settle(self, request: Request) -> None:
        request.settled = True
        self.unsettled -= 1
        self.check_finished()

    def check_finished(self) -> None:
        if not self.sending and self.unsettled == 0 and not self.finished.triggered:
            self.finished.succeed()

    def run(self) -> RetriesResult:
        s = self.s
        self.clients()
        self.env.run(until=self.finished)
        requests = self.requests
        final_from = (1 - FINAL_SHARE) * s.duration
        final = [r for r in requests if r.sent >= final_from]
        answered = [r for r in requests if not r.failed]
        return RetriesResult(
            scenario=s,
            requests=len(requests),
            attempts=self.attempts,
            succeeded=len(answered),
            failed=len(requests) - len(answered),
            timed_out=self.timed_out,
            rejected=self.rejected,
            budget_denied=self.budget_denied,
            abandoned_completed=self.abandoned_completed,
            duplicates=sum(r.completions > 1 for r in requests),
            failed_but_done=sum(r.failed and r.completions > 0 for r in requests),
            final_requests=len(final),
            final_succeeded=sum(not r.failed for r in final),
            busy_seconds=self.busy_seconds,
            wasted_seconds=self.wasted_seconds,
            end=self.env.now,
            answers_per_bin=tuple(self.answers_per_bin),
            attempts_per_bin=tuple(self.attempts_per_bin),
            requests_per_bin=tuple(self.requests_per_bin),
            latencies=tuple(r.answered - r.sent for r in answered),
        )


def run_retries(*args: Any, **kwargs: Any) -> RetriesResult:
    """One run; the arguments are ``RetriesScenario``'s fields (``policy`` first), or one
    scenario: ``run_retries(policy="backoff", budget=True)``."""
    return RetriesModel(knobs.from_arguments(RetriesScenario, args, kwargs)).run()


def replicate_retries(replications: int = 10, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): counts summed,
    rates, shares and latencies averaged, their 95% intervals in ``"interval"``."""
    scenario = knobs.from_arguments(RetriesScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def _run_dict(scenario: RetriesScenario) -> dict[str, Any]:
    return RetriesModel(scenario).run().to_dict()


def goodput_by_load(
    loads: Iterable[float],
    policies: Sequence[str] = tuple(SETUPS),
    replications: int = 10,
    **settings: Any,
) -> dict[str, list[dict[str, Any]]]:
    """The retry storm: :func:`replicate_retries` at each offered load for each design of
    ``SETUPS`` (``"none"``, ``"immediate"``, ``"backoff"``, ``"backoff+budget"``), the other
    settings and the seed the same everywhere: ``{design: [...]}``. Each run has the burst
    ``BURST`` (+0.5 of capacity for 5 s at 20 s) unless ``settings`` says otherwise
    (``spike=0``: steady traffic)."""
    loads = list(loads)
    unknown = [name for name in policies if name not in SETUPS]
    if unknown:
        raise ValueError(f"unknown design {unknown[0]!r}; use one of {', '.join(SETUPS)}")
    clash = sorted({key for name in policies for key in SETUPS[name]} & set(settings))
    if clash:
        raise ValueError(f"{', '.join(clash)} is set by each design; leave it out of settings")
    settings = {**BURST, **settings}
    return {
        name: [replicate_retries(replications, load=x, **SETUPS[name], **settings) for x in loads]
        for name in policies
    }


def duplicates_by_timeout(
    timeouts: Iterable[float],
    loads: Iterable[float],
    replications: int = 10,
    **settings: Any,
) -> dict[float, list[dict[str, Any]]]:
    """Duplicate rate against the client's timeout, one series per load: ``{load: [...]}``,
    :func:`replicate_retries` at each timeout: steady traffic (no burst) and the scenario's
    immediate retries, unless ``settings`` says otherwise."""
    timeouts = list(timeouts)
    return {
        load: [replicate_retries(replications, load=load, timeout=t, **settings) for t in timeouts]
        for load in loads
    }


def retries_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Lesson 10's table of :func:`goodput_by_load`: one row per design and load, goodput after
    the burst (as a share of capacity, with its 95% interval), attempts per request, the
    servers' time wasted, and the duplicate rate."""
    rows = [
        (
            "design",
            "load",
            "goodput after burst",
            "(95% interval)",
            "attempts/request",
            "work wasted",
            "duplicates",
        )
    ]
    for name, series in runs.items():
        for run in series:
            low, high = run.get("interval", {}).get("final_goodput_fraction", [None, None])
            shown = "" if low is None else f"({_percent(low)} to {_percent(high)})"
            rows.append(
                (
                    name,
                    f"{run['load']:.2f}",
                    _percent(run["final_goodput_fraction"]),
                    shown,
                    f"{run['amplification']:.2f}",
                    f"{run['wasted_share']:.0%}",
                    f"{run['duplicate_rate']:.2%}",
                )
            )
    return text_table(rows)


def _percent(share: float) -> str:
    """``0.42`` as ``42%`` (an interval's −0.3% as ``0%``, not ``-0%``)."""
    shown = f"{share:.0%}"
    return "0%" if shown == "-0%" else shown
