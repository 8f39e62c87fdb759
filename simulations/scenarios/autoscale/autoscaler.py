"""The autoscaler: Kubernetes' Horizontal Pod Autoscaler rule, and a controller that applies it.

Target tracking, as the HPA does it (kubernetes.io, "Horizontal Pod Autoscaling"):

    desired = ceil(current × metric / target)

* **tolerance** (default 0.1): while |metric / target − 1| ≤ 0.1 nothing changes, so noise
  around the target does not make the cluster flap;
* **scale-down stabilization window** (default 300 s): scaling *down* goes only as far as the
  *highest* recommendation of the last window, so a short lull does not remove instances that
  the next burst needs (scaling up is immediate);
* the result is clamped to ``[min_replicas, max_replicas]``.

``desired_replicas``, ``stabilized`` and ``clamp`` are pure functions of numbers, in
``simulations/engine/hpa.py`` (lesson 08's scenario scales by them too): easy to test and to
reimplement (lesson 05's exercise). ``HorizontalAutoscaler`` keeps the recommendation
history between syncs. ``autoscaler`` is the controller as a SimPy process: every
``sync_period`` (15 s) it measures the mean CPU utilization of the ready instances over the
last ``metric_window`` (60 s: shorter windows make it chase noise), asks the rule, and
launches instances (which serve only after their boot time) or retires the newest ones
(drained or stopped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import simpy

from simulations.engine.hpa import FLOAT_SLACK, clamp, desired_replicas, stabilized
from simulations.engine.lifecycle import BOOTING, READY, Cluster, MortalInstance

__all__ = [  # the rule lives in the engine (lesson 08's rate limiter scales by it too)
    "FLOAT_SLACK",
    "HorizontalAutoscaler",
    "autoscaler",
    "clamp",
    "desired_replicas",
    "stabilized",
]


@dataclass
class HorizontalAutoscaler:
    """The HPA's decision at each sync: rule → stabilization window → min/max clamp."""

    target: float = 0.6
    tolerance: float = 0.1
    min_replicas: int = 1
    max_replicas: int = 10
    stabilization_window: float = 300.0
    recommendations: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.target > 0 and math.isfinite(self.target)):
            raise ValueError(f"target must be a positive number, got {self.target!r}")
        if not (0 <= self.tolerance < 1):
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance!r}")
        if not (1 <= self.min_replicas <= self.max_replicas):
            raise ValueError(
                f"need 1 ≤ min_replicas ≤ max_replicas, got {self.min_replicas} and "
                f"{self.max_replicas}"
            )
        if self.stabilization_window < 0:
            raise ValueError("stabilization_window must be ≥ 0")

    def recommend(self, now: float, current: int, metric: float) -> int:
        """How many replicas to run from now on, given ``current`` ready ones at ``metric``."""
        desired = desired_replicas(current, metric, self.target, self.tolerance)
        chosen = stabilized(self.recommendations, now, self.stabilization_window, desired)
        self.recommendations = [
            (when, replicas)
            for when, replicas in self.recommendations
            if when > now - self.stabilization_window
        ]
        self.recommendations.append((now, desired))
        return clamp(chosen, self.min_replicas, self.max_replicas)


@dataclass(frozen=True)
class Decision:
    """One sync of the autoscaler: what it measured and what it decided."""

    time: float
    ready: int
    booting: int
    utilization: float
    desired: int  # after stabilization and clamping: the replica count it asked for


class UtilizationMeter:
    """Mean CPU utilization (0 to 1) of the ready instances over the last ``window`` seconds,
    each measured over the part of the window it was ready (like a metrics server's rate)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.snapshots: list[tuple[float, dict[int, float]]] = [(0.0, {})]

    def read(self, now: float, instances: list[MortalInstance]) -> float:
        start = now - self.window
        self.snapshots = [snap for snap in self.snapshots if snap[0] >= start - FLOAT_SLACK]
        when, busy_then = self.snapshots[0] if self.snapshots else (now, {})
        shares = []
        for instance in instances:
            if instance.ready_since <= when and instance.index in busy_then:
                since, before = when, busy_then[instance.index]
            else:
                since, before = max(instance.ready_since, when), instance.busy_at_ready
            if now > since:
                shares.append((instance.busy_until(now) - before) / (now - since))
        self.snapshots.append((now, {i.index: i.busy_until(now) for i in instances}))
        return sum(shares) / len(shares) if shares else 0.0


def autoscaler(
    env: simpy.Environment,
    cluster: Cluster,
    hpa: HorizontalAutoscaler,
    sync_period: float,
    boot_time: float,
    drain: bool,
    decisions: list[Decision],
    metric_window: float = 60.0,
    on_sync: Callable[[], None] | None = None,
    until: float = math.inf,
) -> Iterator[simpy.Event]:
    """The autoscaler, as one SimPy process: every ``sync_period``, measure, decide, act.

    Current = ready instances (booting ones have no metrics yet), so instances already on their
    way are not asked for twice. Scale-in cancels booting instances first, then retires the
    newest ready ones (Kubernetes also removes the youngest pods first). It stops at ``until``,
    the end of the traffic: what is left then is a backlog draining.
    """
    meter = UtilizationMeter(metric_window)
    running = len(cluster.in_state(READY, BOOTING))
    hpa.recommendations.append((env.now, running))  # the size it has been keeping so far
    while env.now + sync_period <= until:
        yield env.timeout(sync_period)
        ready = cluster.in_state(READY)
        booting = cluster.in_state(BOOTING)
        utilization = meter.read(env.now, ready)
        desired = hpa.recommend(env.now, len(ready), utilization)
        decisions.append(Decision(env.now, len(ready), len(booting), utilization, desired))
        running = len(ready) + len(booting)
        for _ in range(desired - running):
            cluster.launch(boot_time)
        if desired < running:
            newest_first = sorted(booting, key=_index, reverse=True) + sorted(
                ready, key=_index, reverse=True
            )
            for instance in newest_first[: running - desired]:
                cluster.retire(instance, drain)
        if on_sync is not None:
            on_sync()


def _index(instance: MortalInstance) -> int:
    return instance.index
