"""Lesson 09's experiments on ``labs/apps/events_app.py``: a live connection tied to one instance.

Both run real gunicorn processes (``gthread`` workers: each open stream holds a thread) behind
the readable balancer, which passes server-sent events on as they arrive.

* :func:`delivery_across_instances`: one subscriber connected straight to instance A; ``events``
  events published through the balancer, round robin over the instances. With the events in
  each instance's memory the subscriber gets only those A published, exactly 1/N of them; through
  Redis it gets every one. Deterministic: the :meth:`~Delivery.verdict` prints the counts.
* :func:`reconnect_after_kill`: a subscriber through the balancer, a publisher posting every
  ``interval`` seconds to the other instance; ``kill -9`` of the subscriber's instance; the client
  reconnects through the balancer, to the survivor. With pub/sub the events published while it
  was away are lost (how many depends on scheduling: the verdict says "1 or more"); with a Redis
  stream and ``Last-Event-ID`` none is lost and none comes twice. Exact numbers:
  :meth:`~Reconnect.counts` (for an ``NBVAL_IGNORE_OUTPUT`` cell).

Every wait is bounded, and the cluster is stopped on return, even when something failed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import requests

from labs.apps.events_app import STATES, VIAS
from labs.apps.web import whole_number
from labs.cluster import ProcessCluster
from labs.cluster.clients import logged_in, wait_until
from labs.sse import EventSource

USER = "alice"
END = "(end)"  # the last event of a run: once it arrives, everything that could arrive has
RETRY_MS = 200  # how soon the instances tell a client to reconnect
TIMEOUT_SECONDS = 5.0  # the longest any one wait of an experiment lasts
MAX_EVENTS = 1000


class EventsExperimentError(RuntimeError):
    """The experiment could not run as designed (no stream, an event that never came)."""


@dataclass
class _Subscriber:
    """An :class:`EventSource` read by a thread of its own, until the ``END`` event."""

    source: EventSource
    received: list[dict] = field(default_factory=list)  # each event's data, in order
    connection_of: list[int] = field(default_factory=list)  # which connection brought each
    ended: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            for event in self.source:
                data = event.json()
                if data["message"] == END:
                    break
                self.received.append(data)
                self.connection_of.append(len(self.source.instances) - 1)
        finally:
            self.ended.set()


def _cluster(state: str, via: str, instances: int) -> ProcessCluster:
    env = {
        "STATE": state,
        "EVENTS_VIA": via,
        "RETRY_MS": str(RETRY_MS),
        "GUNICORN_CMD_ARGS": "--threads 8",  # each open stream holds one of them
    }
    return ProcessCluster(
        "events", instances=instances, balancer="python", worker_class="gthread", env=env
    )


def _publish(session: requests.Session, url: str, message: str) -> str:
    """POST one event to ``url``; the instance that took it (its X-Instance)."""
    answer = session.post(url + "/events", json={"message": message}, timeout=TIMEOUT_SECONDS)
    if answer.status_code != 202:
        raise EventsExperimentError(f"POST /events answered {answer.status_code}")
    return answer.headers["X-Instance"]


def _wait_until(condition: Callable[[], object], what: str) -> None:
    wait_until(condition, what, TIMEOUT_SECONDS, EventsExperimentError)


def _subscribe(url: str, session: requests.Session) -> tuple[_Subscriber, threading.Thread]:
    subscriber = _Subscriber(EventSource(url, session, timeout=TIMEOUT_SECONDS, max_connections=5))
    thread = threading.Thread(target=subscriber.run, name="subscriber", daemon=True)
    thread.start()
    _wait_until(subscriber.source.connected.is_set, "the subscriber's stream")
    return subscriber, thread


def _finish(subscriber: _Subscriber, session: requests.Session, url: str) -> None:
    """Publish ``END`` on ``url`` (where the subscriber is connected) and wait until it arrives:
    every event published before it has arrived too (one instance, or one Redis, keeps order)."""
    _publish(session, url, END)
    if not subscriber.ended.wait(TIMEOUT_SECONDS):
        raise EventsExperimentError("the last event never reached the subscriber")


# --- delivery across instances -------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one subscriber on instance A received of ``published`` events, spread over N."""

    state: str
    via: str  # how "shared" events travel ("pubsub" or "stream"); unused by "memory"
    instances: int
    published: int
    published_on: dict[str, int]  # instance -> events it took
    received: int
    received_from: dict[str, int]  # instance that published -> events the subscriber received
    subscriber_on: str
    seconds: float

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.received, self.published)

    def verdict(self) -> str:
        """The counts (deterministic: sequential requests, round robin) in one sentence."""
        where = "instance memory" if self.state == "memory" else f"Redis ({self.via})"
        head = (
            f"events in {where}, {self.instances} instances: the subscriber on "
            f"{self.subscriber_on} received {self.received} of {self.published} events"
        )
        if self.received == self.published:
            return f"{head}: all of them, whichever instance published them"
        return (
            f"{head} ({self.ratio}): only those published on {self.subscriber_on} "
            f"({self.published_on.get(self.subscriber_on, 0)})"
        )

    def counts(self) -> dict:
        return {
            "published_on": dict(self.published_on),
            "received_from": dict(self.received_from),
            "seconds": round(self.seconds, 2),
        }


def delivery_across_instances(
    state: str = "memory", instances: int = 3, events: int = 9, *, via: str = "pubsub"
) -> Delivery:
    """A subscriber straight on instance A; ``events`` ``POST /events`` through the balancer
    (round robin: each instance takes ``events / instances``); what the subscriber received."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, got {via!r}")
    whole_number("instances", instances, 1, 8)
    whole_number("events", events, 1, MAX_EVENTS)
    started = time.monotonic()
    with _cluster(state, via, instances) as cluster:
        session = logged_in(cluster.url, USER, EventsExperimentError, TIMEOUT_SECONDS)
        first = cluster.instance_urls[0]
        subscriber, thread = _subscribe(first + "/events", session)
        try:
            published_on = Counter(
                _publish(session, cluster.url, f"event {n}") for n in range(events)
            )
            _finish(subscriber, session, first)
        finally:
            subscriber.source.close()
            thread.join(TIMEOUT_SECONDS)
            session.close()
    ids = cluster.instance_ids
    received_from = Counter(data["published_by"] for data in subscriber.received)
    return Delivery(
        state=state,
        via=via,
        instances=instances,
        published=events,
        published_on={name: published_on.get(name, 0) for name in ids},
        received=len(subscriber.received),
        received_from={name: received_from.get(name, 0) for name in ids},
        subscriber_on=ids[0],
        seconds=time.monotonic() - started,
    )


# --- a reconnect after a kill --------------------------------------------------------------


@dataclass(frozen=True)
class Reconnect:
    """What a subscriber received across a ``kill -9`` of its instance and a reconnect."""

    via: str
    published: int  # events published (each answered 202), steadily, on the other instance
    received: int  # events received, a duplicate counted each time it came
    lost: tuple[int, ...]  # the numbers of the events never received
    duplicates: int  # events received more than once (extra copies)
    connections: tuple[str | None, ...]  # the instance that served each connection, in order
    killed: str
    before_kill: int  # events received on the first connection
    gap_seconds: float  # from the kill to the new stream
    seconds: float

    @property
    def reconnected_elsewhere(self) -> bool:
        return len(self.connections) >= 2 and self.connections[-1] != self.killed

    def verdict(self) -> str:
        """Sentences that do not depend on scheduling (pub/sub's loss is 1 or more, not a count)."""
        moved = (
            "the client reconnected to another instance"
            if self.reconnected_elsewhere
            else "the client did NOT reconnect elsewhere"
        )
        lost = "yes (1 or more)" if self.lost else "0"
        return (
            f"{self.via}: the subscriber's instance killed (kill -9); {moved}; "
            f"events lost during the reconnect: {lost}; received twice: {self.duplicates}"
        )

    def counts(self) -> dict:
        return {
            "killed": self.killed,
            "published": self.published,
            "received": self.received,
            "lost": len(self.lost),
            "lost_events": list(self.lost),
            "duplicates": self.duplicates,
            "connections": list(self.connections),
            "gap_seconds": round(self.gap_seconds, 3),
            "seconds": round(self.seconds, 2),
        }


def reconnect_after_kill(
    via: str = "pubsub", *, interval: float = 0.05, before: int = 5, after: int = 5
) -> Reconnect:
    """Two instances; a subscriber through the balancer; events published every ``interval``
    seconds on the instance it is *not* on. After ``before`` events arrive, its instance is
    killed (``kill -9``); the client reconnects through the balancer (with ``Last-Event-ID``)
    and the run ends ``after`` events later. Counts what was published and what arrived."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, got {via!r}")
    if isinstance(interval, bool) or not 0.01 <= interval <= 1:
        raise ValueError(f"interval must be from 0.01 to 1 s, got {interval!r}")
    whole_number("before", before, 1, 100)
    whole_number("after", after, 1, 100)
    started = time.monotonic()
    with _cluster("shared", via, 2) as cluster:
        session = logged_in(cluster.url, USER, EventsExperimentError, TIMEOUT_SECONDS)
        subscriber, thread = _subscribe(cluster.url + "/events", session)
        source = subscriber.source
        victim = str(source.instances[0])
        other = cluster.instance_urls[1 - cluster.instance_ids.index(victim)]
        publisher = requests.Session()
        publisher.cookies.update(session.cookies)
        published: list[int] = []
        stop = threading.Event()
        failures: list[Exception] = []

        def publish_steadily() -> None:
            try:
                while not stop.is_set() and len(published) < MAX_EVENTS:
                    _publish(publisher, other, str(len(published)))
                    published.append(len(published))
                    stop.wait(interval)
            except Exception as exc:  # reported below, not lost in a thread
                failures.append(exc)

        steady = threading.Thread(target=publish_steadily, name="publisher", daemon=True)
        steady.start()
        try:
            _wait_until(lambda: len(subscriber.received) >= before, f"{before} events")
            before_kill = len(subscriber.received)
            killed_at = time.monotonic()
            cluster.kill(victim)
            _wait_until(
                lambda: len(source.instances) >= 2 and source.connected.is_set(), "a reconnect"
            )
            gap = time.monotonic() - killed_at
            reconnected = len(subscriber.received)
            _wait_until(lambda: len(subscriber.received) >= reconnected + after, "events after it")
            stop.set()
            steady.join(TIMEOUT_SECONDS)
            if failures:
                raise EventsExperimentError(f"the publisher failed: {failures[0]}")
            _finish(subscriber, publisher, other)
        finally:
            stop.set()
            source.close()
            thread.join(TIMEOUT_SECONDS)
            steady.join(TIMEOUT_SECONDS)
            publisher.close()
            session.close()
    numbers = Counter(int(data["message"]) for data in subscriber.received)
    return Reconnect(
        via=via,
        published=len(published),
        received=len(subscriber.received),
        lost=tuple(n for n in published if n not in numbers),
        duplicates=sum(count - 1 for count in numbers.values()),
        connections=tuple(source.instances),
        killed=victim,
        before_kill=before_kill,
        gap_seconds=gap,
        seconds=time.monotonic() - started,
    )
