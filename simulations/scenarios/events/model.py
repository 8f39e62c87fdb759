"""Lesson 09 at scale: events pushed over long-lived connections (SSE, WebSocket) to N instances.

N × C clients each hold one connection to an instance picked at random (C per instance on
average). Publishers' requests (Poisson, ``publish_rate`` events per second) land on a random
instance that is up. Who gets an event?

* ``pubsub="memory"``: the instance hands it to its own connections only, so an event reaches
  the share of clients connected there: **1/N** on average (each instance is equally likely);
* ``pubsub="broker"``: the instance publishes it to a broker (Redis pub/sub) that every instance
  subscribes to: every connected client gets it, **1**.

With ``crash="one"``, instance 0 crashes at ``crash_at``: its clients see their connection drop
and reconnect to a random survivor (the balancer's choice), each attempt after a delay:

* ``backoff="none"``: at once, and again at once after a failed attempt;
* ``"fixed"``: after ``base`` seconds each time (an EventSource's ``retry:``);
* ``"jitter"``: full-jitter exponential backoff, attempt k (0 first) after a delay uniform in
  [0, min(cap, base × 2^k)] (AWS's advice).

An instance accepts connections one at a time (a handshake: TLS, authentication, the
subscription) taking ``handshake_ms``, first come first served. An attempt **fails** when it would
wait longer than ``connect_timeout`` for its handshake to finish: the client gives up, and the
server skips the attempt when it reaches it (the socket is closed). Measured: the peak attempt
rate one survivor sees per 100 ms (``BUCKET``), failed attempts, the time until every client is
back, and the events **missed** during the gap: published while a client was disconnected, so
gone for it (pub/sub keeps no history; a stream read from the last event id would replay them).
With a broker, delivered + missed = events × clients, exactly.

Without jitter the dropped clients all arrive in the same instant: C/(N−1) handshakes per
survivor at once, of which only connect_timeout / handshake succeed; the rest fail and come back
together again. ``EventsModel.attempt`` is the few lines that make the storm.

Same arguments, same seed: the same result, bit for bit.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Generator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.metrics import rounded, text_table
from simulations.replications import replicate

PUBSUBS = ("memory", "broker")
CRASHES = ("none", "one")
BACKOFFS = ("none", "fixed", "jitter")
BUCKET = 0.1  # seconds per bucket of reconnect attempts
SERIES_BUCKETS = 200  # buckets kept for the figures, from the crash on (20 s)
MAX_CLIENTS = 200_000
MAX_EVENTS = 1_000_000
MAX_ATTEMPTS = 500_000
MAX_DOUBLINGS = 60  # base × 2^k: beyond this the cap has long taken over


@dataclass(frozen=True)
class EventsScenario:
    """N instances holding clients' long-lived connections; events published; maybe a crash."""

    instances: int = knobs.count(
        4, "instances, each holding long-lived connections", high=256, slider=(2, 16, 1)
    )
    clients: int = knobs.count(
        1_000,
        "connected clients per instance, on average (each connects to a random instance)",
        high=MAX_CLIENTS,
        slider=(100, 5_000, 100),
        label="clients/instance",
        metavar="C",
    )
    pubsub: str = knobs.choice(
        "broker",
        PUBSUBS,
        "how an event reaches subscribers: only those on the instance the publish landed on "
        "(memory), or every connected one (a pub/sub broker)",
    )
    publish_rate: float = knobs.number(
        10.0,
        "events published per second (Poisson), each to a random instance that is up",
        unit="events/s",
        high=1e5,
        slider=(1.0, 100.0, 1.0),
        label="events/s",
    )
    crash: str = knobs.choice(
        "one", CRASHES, "instances that crash at crash_at: none, or one (its clients reconnect)"
    )
    crash_at: float = knobs.number(
        5.0, "when instance 0 crashes", unit="s", applies=("crash", ("one",)), label="crash at"
    )
    backoff: str = knobs.choice(
        "none",
        BACKOFFS,
        "when a dropped client tries again: at once, after a fixed delay, or after a "
        "full-jitter exponential backoff",
        applies=("crash", ("one",)),
        why="only dropped clients reconnect",
    )
    base: float = knobs.number(
        1.0,
        "the fixed delay, or the backoff's base: attempt k waits uniform(0, min(cap, base·2^k))",
        unit="s",
        high=1e5,
        applies=("backoff", ("fixed", "jitter")),
        why="no delay at all without backoff",
        slider=(0.1, 5.0, 0.1),
        label="base (s)",
    )
    cap: float = knobs.number(
        30.0,
        "the longest backoff delay",
        unit="s",
        high=1e5,
        applies=("backoff", ("jitter",)),
        why="only the exponential backoff grows",
    )
    handshake_ms: float = knobs.number(
        5.0,
        "time an instance spends accepting one connection (TLS, auth, subscribe), one at a time",
        unit="ms",
        high=1e6,
        applies=("crash", ("one",)),
        slider=(1.0, 20.0, 1.0),
        label="handshake (ms)",
    )
    connect_timeout: float = knobs.number(
        1.0,
        "a client gives up an attempt whose handshake is not done within this, and tries again",
        unit="s",
        high=1e5,
        applies=("crash", ("one",)),
        label="connect timeout",
    )
    duration: float = knobs.number(30.0, "simulated seconds", unit="s", high=1e6, metavar="T")
    seed: int = knobs.seed(0)

    def __post_init__(self) -> None:
        knobs.check(self)
        s = self
        knobs.work_limit("clients", s.instances * s.clients, MAX_CLIENTS, "instances or clients")
        knobs.work_limit(
            "events", s.publish_rate * s.duration, MAX_EVENTS, "publish_rate or duration"
        )
        if s.crash == "one":
            if s.instances < 2:
                raise ValueError(
                    "a crash needs at least 2 instances: the survivors take its clients"
                )
            if s.crash_at >= s.duration:
                raise ValueError(
                    f"crash_at ({s.crash_at:g} s) must come before the end ({s.duration:g} s)"
                )
            if s.handshake_ms / 1_000 >= s.connect_timeout:
                raise ValueError(
                    f"connect_timeout ({s.connect_timeout:g} s) must be longer than a handshake "
                    f"({s.handshake_ms:g} ms): no attempt could ever succeed"
                )
            knobs.work_limit(
                "reconnect attempts",
                s.clients * (s.duration - s.crash_at) / s.connect_timeout,
                MAX_ATTEMPTS,
                "clients, duration or raise connect_timeout",
            )

    @property
    def survivors(self) -> int:
        return self.instances - 1 if self.crash == "one" else self.instances


@dataclass(frozen=True)
class EventsResult:
    """What one run measured: deliveries, and the reconnects after the crash (if any)."""

    scenario: EventsScenario
    connections: int  # clients connected at the start (N × C on average)
    events: int  # published
    delivered: int  # event deliveries (one event to one client)
    missed: int  # events published while a dropped client was disconnected, summed
    dropped: int  # clients of the crashed instance
    reconnected: int  # of those, back by the end
    attempts: int  # reconnect attempts
    failed_attempts: int  # attempts that timed out
    peak_per_instance: int  # most attempts one survivor saw in one BUCKET
    reconnect_time: float  # crash → the last reconnect (→ the end, if some never came back)
    mean_gap: float  # seconds a dropped client was disconnected, on average
    attempts_per_bucket: tuple[int, ...] = field(repr=False)  # all survivors, from the crash
    disconnected_per_bucket: tuple[int, ...] = field(repr=False)  # at each bucket's end

    @property
    def delivered_fraction(self) -> float:
        """Deliveries over what every client should have received (events × clients)."""
        possible = self.events * self.connections
        return self.delivered / possible if possible else 0.0

    @property
    def theory_fraction(self) -> float | None:
        """1/N (memory) or 1 (broker) without a crash; ``None`` with one."""
        s = self.scenario
        if s.crash != "none":
            return None
        return 1.0 / s.instances if s.pubsub == "memory" else 1.0

    @property
    def capacity_per_bucket(self) -> float:
        """Handshakes one instance can do in a BUCKET."""
        return BUCKET * 1_000 / self.scenario.handshake_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the scenario's fields, then the measurements."""
        return rounded(
            {
                **asdict(self.scenario),
                "connections": self.connections,
                "events": self.events,
                "delivered": self.delivered,
                "delivered_fraction": self.delivered_fraction,
                "theory_fraction": self.theory_fraction,
                "missed": self.missed,
                "dropped": self.dropped,
                "reconnected": self.reconnected,
                "still_disconnected": self.dropped - self.reconnected,
                "attempts": self.attempts,
                "failed_attempts": self.failed_attempts,
                # a maximum and series as floats: replications average them (``replicate``
                # sums whole numbers)
                "peak_per_instance": float(self.peak_per_instance),
                "reconnect_time": self.reconnect_time,
                "mean_gap": self.mean_gap,
                "attempts_per_bucket": [float(n) for n in self.attempts_per_bucket],
                "disconnected_per_bucket": [float(n) for n in self.disconnected_per_bucket],
            }
        )


class EventsModel:
    """One run: clients placed, the crash, reconnect attempts as SimPy timeouts with callbacks,
    each survivor's accept queue a FIFO single server busy until ``free_at``; then the events
    are counted against who was connected where, when."""

    def __init__(self, scenario: EventsScenario) -> None:
        s = self.s = scenario
        rng = random.Random(s.seed)
        self.placing, self.publishing, self.landing, self.routing, self.jitter = (
            random.Random(rng.getrandbits(64)) for _ in range(5)
        )
        self.env = simpy.Environment()
        self.home = [self.placing.randrange(s.instances) for _ in range(s.instances * s.clients)]
        self.free_at = [0.0] * s.instances  # each instance's accept queue
        self.back_at: dict[int, tuple[float, int]] = {}  # dropped client → (when, instance)
        self.in_bucket: dict[tuple[int, int], int] = {}  # (instance, bucket) → attempts
        self.attempts = self.failed = 0

    def delay(self, attempt: int) -> float:
        s = self.s
        if s.backoff == "none":
            return 0.0
        if s.backoff == "fixed":
            return s.base
        return self.jitter.uniform(0.0, min(s.cap, s.base * 2.0 ** min(attempt, MAX_DOUBLINGS)))

    def retry(self, client: int, attempt: int) -> None:
        timer = self.env.timeout(self.delay(attempt), value=(client, attempt))
        timer.callbacks.append(self.attempt)

    def attempt(self, event: simpy.Event) -> None:
        """One reconnect attempt: a random survivor queues its handshake; too long a wait and
        the client gives up and tries again later."""
        client, number = event.value
        s, now = self.s, self.env.now
        target = self.routing.randrange(1, s.instances)  # instance 0 is the one that crashed
        self.attempts += 1
        bucket = int((now - s.crash_at) / BUCKET)
        self.in_bucket[target, bucket] = self.in_bucket.get((target, bucket), 0) + 1
        start = max(now, self.free_at[target])
        done = start + s.handshake_ms / 1_000
        if done - now > s.connect_timeout:
            self.failed += 1
            giving_up = self.env.timeout(s.connect_timeout)
            giving_up.callbacks.append(lambda _: self.retry(client, number + 1))
            return
        self.free_at[target] = done
        self.back_at[client] = (done, target)

    def crash(self) -> Generator[simpy.Event, Any, None]:
        """Instance 0 dies: each of its clients sees the connection drop and reconnects."""
        yield self.env.timeout(self.s.crash_at)
        for client, instance in enumerate(self.home):
            if instance == 0:
                self.retry(client, 0)

    def run(self) -> EventsResult:
        s = self.s
        if s.crash == "one":
            self.env.process(self.crash())
        self.env.run(until=s.duration)
        dropped = [c for c, instance in enumerate(self.home) if instance == 0]
        if s.crash == "none":
            dropped = []
        back = {c: when for c, (when, _) in self.back_at.items() if when <= s.duration}
        gap_ends = sorted(back.get(c, s.duration) for c in dropped)
        times, delivered = self.publish(dropped, back)
        start = bisect_right(times, s.crash_at)
        missed = sum(bisect_left(times, end) - start for end in gap_ends) if dropped else 0
        buckets = self.series(gap_ends)
        return EventsResult(
            scenario=s,
            connections=len(self.home),
            events=len(times),
            delivered=delivered,
            missed=missed,
            dropped=len(dropped),
            reconnected=len(back),
            attempts=self.attempts,
            failed_attempts=self.failed,
            peak_per_instance=max(self.in_bucket.values(), default=0),
            reconnect_time=(gap_ends[-1] - s.crash_at) if dropped else 0.0,
            mean_gap=math.fsum(end - s.crash_at for end in gap_ends) / len(dropped)
            if dropped
            else 0.0,
            attempts_per_bucket=buckets[0],
            disconnected_per_bucket=buckets[1],
        )

    def publish(self, dropped: list[int], back: dict[int, float]) -> tuple[list[float], int]:
        """The events' times, and their deliveries: each to the clients connected at that
        moment to every instance (broker) or to the instance it landed on (memory)."""
        s = self.s
        crashed = s.crash == "one"
        home_count = [0] * s.instances
        for instance in self.home:
            home_count[instance] += 1
        returns: list[list[float]] = [[] for _ in range(s.instances)]  # reconnect times
        for client, when in back.items():
            returns[self.back_at[client][1]].append(when)
        for when_list in returns:
            when_list.sort()
        all_returns = sorted(back.values())
        times, delivered, now = [], 0, 0.0
        while True:
            now += self.publishing.expovariate(s.publish_rate)
            if now >= s.duration:
                break
            times.append(now)
            after = crashed and now > s.crash_at
            landed = self.landing.randrange(1 if after else 0, s.instances)
            if s.pubsub == "broker":
                away = len(dropped) - bisect_right(all_returns, now) if after else 0
                delivered += len(self.home) - away
            elif after:  # instance 0 is gone: its clients count where they came back
                delivered += home_count[landed] + bisect_right(returns[landed], now)
            else:
                delivered += home_count[landed]
        return times, delivered

    def series(self, gap_ends: list[float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Attempts per bucket (all survivors) and clients still away at each bucket's end,
        for the first SERIES_BUCKETS buckets after the crash (none without a crash)."""
        s = self.s
        if s.crash == "none":
            return (), ()
        kept = min(SERIES_BUCKETS, math.ceil((s.duration - s.crash_at) / BUCKET))
        attempts = [0] * kept
        for (_, bucket), count in self.in_bucket.items():
            if bucket < kept:
                attempts[bucket] += count
        away = [
            len(gap_ends) - bisect_right(gap_ends, s.crash_at + (k + 1) * BUCKET)
            for k in range(kept)
        ]
        return tuple(attempts), tuple(away)


def run_events(*args: Any, **kwargs: Any) -> EventsResult:
    """One run; the arguments are ``EventsScenario``'s fields (``instances`` first), or one
    scenario: ``run_events(instances=4, backoff="jitter")``."""
    return EventsModel(knobs.from_arguments(EventsScenario, args, kwargs)).run()


def replicate_events(replications: int = 10, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``replications`` independent runs merged (``simulations.replications``): counts summed,
    the delivered fraction, times and gaps averaged, their 95% intervals in ``"interval"``."""
    scenario = knobs.from_arguments(EventsScenario, args, kwargs)
    return replicate(_run_dict, scenario, replications)


def delivery_by_instances(
    instance_counts: Iterable[int], replications: int = 10, **settings: Any
) -> dict[str, list[dict[str, Any]]]:
    """:func:`replicate_events` at each instance count for both ``pubsub`` designs, without a
    crash unless ``settings`` asks: ``{"memory": [...], "broker": [...]}``."""
    counts = list(instance_counts)
    settings = {"crash": "none", **{k: v for k, v in settings.items() if k != "pubsub"}}
    return {
        pubsub: [replicate_events(replications, n, pubsub=pubsub, **settings) for n in counts]
        for pubsub in PUBSUBS
    }


def _run_dict(scenario: EventsScenario) -> dict[str, Any]:
    return EventsModel(scenario).run().to_dict()


def delivery_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Lesson 09's table of :func:`delivery_by_instances`: the share of events delivered without
    a broker (mean of the replications, 95% interval) against 1/N, and with one."""
    rows = [("instances", "delivered, no broker", "95% interval", "1/N", "with a broker")]
    for alone, brokered in zip(runs["memory"], runs["broker"], strict=True):
        share = alone["delivered_fraction"]
        low, high = alone.get("interval", {}).get("delivered_fraction", (share, share))
        rows.append(
            (
                str(alone["instances"]),
                f"{share:.4f}",
                f"{low:.4f} to {high:.4f}",
                f"{1 / alone['instances']:.4f}",
                f"{brokered['delivered_fraction']:.0%}",
            )
        )
    return text_table(rows)


def storm_table(storms: dict[str, dict[str, Any]]) -> str:
    """Lesson 09's table of a reconnect storm, one row per backoff (each from
    :func:`replicate_events`): per run, the failed attempts and the events missed; the peak of
    attempts per survivor per 100 ms and the time until every client is back, with their 95%
    intervals."""
    rows = [
        (
            "backoff",
            "failed attempts",
            "peak per survivor / 100 ms",
            "all back after",
            "events missed",
        )
    ]
    for backoff, run in storms.items():
        runs = run["interval"]["replications"]
        peak_low, peak_high = run["interval"]["peak_per_instance"]
        back_low, back_high = run["interval"]["reconnect_time"]
        rows.append(
            (
                backoff,
                f"{run['failed_attempts'] / runs:,.0f}",
                f"{run['peak_per_instance']:.0f} ({peak_low:.0f}–{peak_high:.0f})",
                f"{run['reconnect_time']:.2f} s ({back_low:.2f}–{back_high:.2f})",
                f"{run['missed'] / runs:,.0f}",
            )
        )
    first = next(iter(storms.values()))
    note = f"per run: the mean of {first['interval']['replications']} runs (95% intervals)"
    return text_table(rows) + "\n" + note
