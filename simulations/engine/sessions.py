"""Where sessions live, shared by every scenario of instances that come and go (lessons 04, 05).

* ``MemoryStore``: a session lives in the memory of the instance that created it, and dies with it;
* ``SharedStore``: sessions live in an external store (Redis) that every instance reads;
* ``SessionBook``: the users' side of the story, following every request and every lost instance:
  first logins, session misses, users forced to log in again, sessions lost;
* ``start_cluster``: ready instances behind a balancer, with a ``SessionBook`` listening;
* ``Outcome``: the counts every crash, autoscale and deploy result starts with;
* ``store_knob``, ``routing_knob``, ``think_time_knob``, ``service_rate_knob``: the knobs these
  scenarios share, declared here once (each scenario picks its own default).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.lifecycle import Cluster, LifecycleMetrics, MortalInstance
from simulations.engine.policies import POLICY_NAMES, make_policy
from simulations.engine.workload import Request

STORES = ("memory", "shared")


def store_knob(default: str = "memory") -> Any:
    """The ``store`` field: where sessions live, instance memory or a shared store."""
    return knobs.choice(default, STORES, "where sessions live", label="sessions")


def routing_knob(default: str = "sticky") -> Any:
    """The ``policy`` field: how the balancer routes each request."""
    return knobs.choice(default, POLICY_NAMES, "load-balancing policy", label="routing")


def think_time_knob(default: float, **meta: Any) -> Any:
    """The ``think_time`` field: mean seconds between two requests of one user."""
    return knobs.number(default, "mean seconds between a user's requests", unit="s", **meta)


def service_rate_knob(default: float, **meta: Any) -> Any:
    """The ``service_rate`` field: requests per second one instance serves."""
    return knobs.number(default, "requests per second one instance serves", unit="req/s", **meta)


class MemoryStore:
    """Sessions in instance memory: each user's current session lives on one instance."""

    name = "memory"

    def __init__(self) -> None:
        self.home: dict[int, int] = {}  # user -> index of the instance holding their session

    def has(self, user: int, instance: MortalInstance) -> bool:
        return self.home.get(user) == instance.index

    def create(self, user: int, instance: MortalInstance) -> None:
        self.home[user] = instance.index  # a session left on another instance is now orphaned

    def drop_instance(self, instance: MortalInstance) -> list[int]:
        """The instance's memory is gone: return the users whose session was there."""
        lost = [user for user, home in self.home.items() if home == instance.index]
        for user in lost:
            del self.home[user]
        return lost

    def forget(self, user: int) -> None:
        self.home.pop(user, None)

    def __len__(self) -> int:
        return len(self.home)


class SharedStore:
    """Sessions in an external store every instance reads (Redis): no instance's death loses one."""

    name = "shared"

    def __init__(self) -> None:
        self.users: set[int] = set()

    def has(self, user: int, instance: MortalInstance) -> bool:
        return user in self.users

    def create(self, user: int, instance: MortalInstance) -> None:
        self.users.add(user)

    def drop_instance(self, instance: MortalInstance) -> list[int]:
        return []  # the sessions were never only there

    def forget(self, user: int) -> None:
        self.users.discard(user)

    def __len__(self) -> int:
        return len(self.users)


SessionStore = MemoryStore | SharedStore


def make_store(name: str) -> SessionStore:
    """A fresh, empty session store by name (``memory`` or ``shared``)."""
    if name == "memory":
        return MemoryStore()
    if name == "shared":
        return SharedStore()
    raise ValueError(f"unknown session store {name!r}; use memory or shared")


class SessionBook:
    """The users' side of the story: logins, session misses, forced re-logins, lost sessions."""

    def __init__(self, store: SessionStore, logouts: set[int] | None = None) -> None:
        self.store = store
        self.logouts = logouts or set()  # numbers of requests after which the user logs out
        self.logins = 0  # first logins
        self.misses = 0  # requests that found no session where they landed
        self.logged_in: set[int] = set()
        self.forced: set[int] = set()  # users asked to log in again at least once
        self.lost: list[tuple[float, int, int]] = []  # (time, user, instance) of each lost session

    def request_reaches(self, request: Request, instance: MortalInstance) -> None:
        """The instance reads the request's session cookie: a hit, a first login, or a miss."""
        user = request.user
        if not self.store.has(user, instance):
            if user in self.logged_in:
                self.misses += 1
                self.forced.add(user)
            else:
                self.logged_in.add(user)
                self.logins += 1
            self.store.create(user, instance)  # logging in (again) makes a session here
        if request.number in self.logouts:  # the end of a visit: the user logs out
            self.store.forget(user)

    def instance_lost(self, instance: MortalInstance) -> int:
        """An instance died or left: the sessions only it held are lost; returns how many."""
        users = self.store.drop_instance(instance)
        now = instance.env.now
        self.lost.extend((now, user, instance.index) for user in users)
        return len(users)


def check_routing(store: str, policy: str) -> None:
    """Reject an unknown session store or balancing policy: the two choices every scenario of
    instances that come and go (crashes, autoscaling, deploys) starts from."""
    if store not in STORES:
        raise ValueError(f"unknown session store {store!r}; use memory or shared")
    if policy not in POLICY_NAMES:
        raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICY_NAMES)}")


def start_cluster(
    env: simpy.Environment,
    size: int,
    store: str,
    policy: str,
    policy_rng: random.Random,
    expected: int,
    logouts: set[int] | None = None,
    retry_queued: bool = False,
) -> tuple[LifecycleMetrics, SessionBook, Cluster]:
    """``size`` ready instances behind a ``policy`` balancer, sessions in ``store``: the metrics
    (waiting for ``expected`` requests), the ``SessionBook`` that follows every request and lost
    instance, and the ``Cluster`` to crash, launch or retire instances in. A run in which nobody
    sends a request has nothing to measure and would never end: a ``ValueError`` says so."""
    if expected == 0:
        raise ValueError(
            "in this run no user sends a single request: raise users or duration, "
            "or lower think_time"
        )
    metrics = LifecycleMetrics(env, expected)
    book = SessionBook(make_store(store), logouts)
    chooser = make_policy(policy)
    chooser.reset()
    cluster = Cluster.start(
        env,
        size,
        chooser,
        policy_rng,
        metrics,
        on_routed=book.request_reaches,
        on_lost=book.instance_lost,
        retry_queued=retry_queued,
    )
    return metrics, book, cluster


def outcome_counts(requests: int, metrics: LifecycleMetrics, book: SessionBook) -> dict[str, int]:
    """What users lived through, as the result fields of the same names: requests served or
    failed (and why), first logins, session misses, forced re-logins, sessions lost."""
    return {
        "requests": requests,
        "requests_completed": len(metrics.response_times),
        "failed_requests": metrics.failed,
        "failed_in_flight": metrics.failures["in_flight"],
        "failed_queued": metrics.failures["queued"],
        "failed_no_instance": metrics.failures["no_instance"],
        "logins": book.logins,
        "session_misses": book.misses,
        "users_forced_to_login": len(book.forced),
        "sessions_lost": len(book.lost),
    }


@dataclass(frozen=True)
class Outcome:
    """What users lived through in one run of instances that come and go (crashes, autoscaling,
    deploys): requests served or failed and why, first logins, session misses, forced re-logins,
    sessions lost. Every lifecycle result starts with these fields; ``outcome_counts`` fills them.
    """

    requests: int
    requests_completed: int
    failed_requests: int
    failed_in_flight: int
    failed_queued: int
    failed_no_instance: int
    logins: int
    session_misses: int
    users_forced_to_login: int
    sessions_lost: int


OUTCOME_FIELDS = tuple(item.name for item in fields(Outcome))


def outcome_fields(result: Outcome) -> dict[str, int]:
    """The ``outcome_counts`` a result was made with, read back for its JSON summary."""
    return {name: getattr(result, name) for name in OUTCOME_FIELDS}
