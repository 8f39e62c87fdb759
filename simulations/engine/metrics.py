"""Metrics: what the simulation measured, as plain numbers.

While the model runs, a ``Metrics`` object only *appends*: one response time per completed
request, a counter of failed ones, and, every so often, a snapshot of each instance's queue
length. All the statistics (mean, percentiles) are computed once at the end, from the list, so
measuring costs almost nothing while simulating.

Response time = time in the system = waiting in the queue + being served.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulations.engine.workload import Request


class Metrics:
    """Collects completions and failures; fires ``done`` once every request is accounted for."""

    def __init__(self, env: simpy.Environment, expected: int) -> None:
        self.expected = expected
        self.response_times: list[float] = []
        self.failed = 0
        self.done = env.event()
        self.queue_times: list[float] = []
        self.queue_lengths: list[list[int]] = []
        self._accounted = 0

    def completed(self, request: Request, now: float) -> None:
        """A request left the system after being served."""
        self.response_times.append(now - request.arrived)
        self._accounted += 1
        if self._accounted == self.expected:
            self.done.succeed()

    def failure(self, request: Request) -> None:
        """A request could not be served (for example: no instance was alive to take it)."""
        self.failed += 1
        self._accounted += 1
        if self._accounted == self.expected:
            self.done.succeed()


def sample_queues(
    env: simpy.Environment, instances: Sequence, metrics: Metrics, interval: float
) -> Iterator[simpy.Event]:
    """The monitor, as one SimPy process: every ``interval``, note each instance's queue length."""
    while True:
        metrics.queue_times.append(env.now)
        metrics.queue_lengths.append([instance.queue_length for instance in instances])
        yield env.timeout(interval)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of already-sorted values, interpolating linearly (like numpy)."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


def rounded(value: Any) -> Any:
    """``value`` ready for JSON: floats rounded to 6 decimals (NaN and ∞ become ``None``), also
    inside lists and dicts; everything else as it is."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, list):
        return [rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class ResponseStats:
    """Mean and tail of a set of response times."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, times: Sequence[float]) -> ResponseStats:
        ordered = sorted(times)
        mean = math.fsum(ordered) / len(ordered) if ordered else math.nan
        return cls(
            count=len(ordered),
            mean=mean,
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
        )


@dataclass(frozen=True)
class QueueTrace:
    """Queue length of every instance (waiting + in service), sampled at regular times."""

    times: list[float] = field(default_factory=list)
    lengths: list[list[int]] = field(default_factory=list)  # lengths[k][i]: instance i at times[k]

    def of_instance(self, index: int) -> list[int]:
        """The sampled queue lengths of one instance, in time order."""
        return [row[index] for row in self.lengths]
