"""Metrics: what the simulation measured, as plain numbers.

While the model runs, a ``Metrics`` object only *appends*: one response time per completed
request, a counter of failed ones, and, every so often, a snapshot of each instance's queue
length. All the statistics (mean, percentiles) are computed once at the end, so measuring costs
almost nothing while simulating. Response times are kept as 8-byte doubles in an
``array('d')`` (a Python float in a list costs 32 bytes), and the percentiles are found
exactly without sorting them all (``order_statistics``): a million requests cost 8 MB, not 40.

Response time = time in the system = waiting in the queue + being served.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulations.engine.workload import Request


class Metrics:
    """Collects completions and failures; fires ``done`` once every request is accounted for."""

    def __init__(self, env: simpy.Environment, expected: int) -> None:
        self.expected = expected
        self.response_times: array[float] = array("d")
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
        n = len(times)
        if not n:
            return cls(count=0, mean=math.nan, p50=math.nan, p95=math.nan, p99=math.nan)
        ranks = sorted({rank for q in (50, 95, 99) for rank in _ranks(n, q)})
        ordered = _OrderStatistics(order_statistics(times, ranks), n)
        return cls(
            count=n,
            mean=math.fsum(times) / n,  # exact, whatever the order
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
        )


def _ranks(n: int, q: float) -> tuple[int, int]:
    """The two order statistics ``percentile`` interpolates between for the q-th percentile."""
    low = math.floor((n - 1) * q / 100)
    return low, min(low + 1, n - 1)


class _OrderStatistics:
    """Looks like the sorted values to ``percentile``, knowing only the ranks it will ask for."""

    def __init__(self, known: dict[int, float], n: int) -> None:
        self.known, self.n = known, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, rank: int) -> float:
        return self.known[rank]


SORT_AT_MOST = 262_144  # up to this many, sorting them all is quicker, and at most 8 MB
BUCKETS = 4_096


def order_statistics(values: Sequence[float], ranks: Sequence[int]) -> dict[int, float]:
    """The values at ``ranks`` (0-based) of ``values`` once sorted, exactly, without sorting
    them all: a million response times would become a million Python floats (32 MB).

    Bucket the values by the logarithm of their size (response times are > 0 and spread over
    many orders of magnitude, so every bucket holds a small share of them), find the bucket each
    rank falls in, and sort only the values in those buckets.
    """
    n = len(values)
    lo, hi = (min(values), max(values)) if n > SORT_AT_MOST else (0.0, 0.0)
    if n <= SORT_AT_MOST or lo <= 0 or lo == hi:
        ordered = sorted(values)
        return {rank: ordered[rank] for rank in ranks}
    log_lo = math.log(lo)
    scale = (BUCKETS - 1) / (math.log(hi) - log_lo)
    log = math.log

    def bucket(value: float) -> int:
        return int((log(value) - log_lo) * scale)

    counts = [0] * BUCKETS
    for value in values:
        counts[bucket(value)] += 1
    where: dict[int, tuple[int, int]] = {}  # rank -> (bucket, rank within the bucket)
    below = 0
    pending = sorted(ranks)
    for index, count in enumerate(counts):
        while pending and pending[0] < below + count:
            where[pending[0]] = (index, pending[0] - below)
            pending.pop(0)
        below += count
    chosen = {index for index, _ in where.values()}
    members: dict[int, list[float]] = {index: [] for index in chosen}
    for value in values:
        index = bucket(value)
        if index in members:
            members[index].append(value)
    for collected in members.values():
        collected.sort()
    return {rank: members[index][offset] for rank, (index, offset) in where.items()}


@dataclass(frozen=True)
class QueueTrace:
    """Queue length of every instance (waiting + in service), sampled at regular times."""

    times: list[float] = field(default_factory=list)
    lengths: list[list[int]] = field(default_factory=list)  # lengths[k][i]: instance i at times[k]

    def of_instance(self, index: int) -> list[int]:
        """The sampled queue lengths of one instance, in time order."""
        return [row[index] for row in self.lengths]
