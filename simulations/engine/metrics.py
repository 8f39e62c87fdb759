"""Metrics: what the simulation measured, as plain numbers.

While the model runs, measuring only *appends*: each instance notes the response time of every
request it serves, ``Metrics`` counts failed requests and those still to come, and, every so
often, takes a snapshot of each instance's queue length. All the statistics (mean, percentiles)
are computed once at the end, so measuring costs almost nothing while simulating. Response times
are kept as 8-byte doubles in an ``array('d')`` per instance (a Python float in a list costs 32
bytes), read together as one ``Samples`` sequence without copying, and the percentiles are found
exactly without sorting them all (``order_statistics``): a million requests cost 8 MB, not 40.

Response time = time in the system = waiting in the queue + being served.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import Any

import numpy as np
import simpy

from simulations.engine.workload import Request


class Metrics:
    """Collects completions and failures; fires ``done`` once every request is accounted for."""

    def __init__(self, env: simpy.Environment, expected: int) -> None:
        self.pending = expected  # requests neither served nor failed yet: done fires at 0
        self.recorded: list[array[float]] = []  # every instance's response times
        self.failed = 0
        self.done = env.event()
        self.queue_times: list[float] = []
        self.queue_lengths: list[list[int]] = []

    def register(self) -> array[float]:
        """A new instance's record of response times, counted in ``response_times``."""
        record: array[float] = array("d")
        self.recorded.append(record)
        return record

    @property
    def response_times(self) -> Samples:
        """Every served request's response time, instance after instance (not copied)."""
        return Samples(self.recorded)

    def completed(self, request: Request, now: float) -> None:
        """A request left the system after being served (its instance noted its response time;
        the engine's ``Instance.serve`` does this without the call)."""
        self._settled()

    def failure(self, request: Request) -> None:
        """A request could not be served (for example: no instance was alive to take it)."""
        self.failed += 1
        self._settled()

    def _settled(self) -> None:
        self.pending -= 1
        if not self.pending:
            self.done.succeed()


class Samples(Sequence[float]):
    """Several arrays of numbers read as one sequence, in order, without copying them."""

    def __init__(self, parts: Iterable[Sequence[float]]) -> None:
        self.parts = [part for part in parts if len(part)]
        self._ends = list(accumulate(len(part) for part in self.parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __iter__(self) -> Iterator[float]:
        return chain.from_iterable(self.parts)

    def __getitem__(self, index: int) -> float:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("Samples take a whole-number index (use list(samples) to slice)")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("sample index out of range")
        part = bisect_right(self._ends, index)
        return self.parts[part][index - (self._ends[part - 1] if part else 0)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Samples({len(self)} values in {len(self.parts)} parts)"


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


SORT_AT_MOST = 262_144  # up to this many, copy them into one numpy array (at most 2 MB)
CHUNK = 16_384  # beyond, read them this many at a time (temporaries of ~0.5 MB)
BUCKETS = 4_096


def order_statistics(values: Sequence[float], ranks: Sequence[int]) -> dict[int, float]:
    """The values at ``ranks`` (0-based) of ``values`` once sorted, exactly, without copying or
    sorting them all: ``values`` may be a million response times in several arrays.

    A few values are copied into one numpy array and partitioned around the ranks. Many are read
    a chunk at a time: bucket them by the logarithm of their size (response times are > 0 and
    spread over many orders of magnitude, so every bucket holds a small share of them), find the
    bucket each rank falls in, then sort only the values of those buckets.
    """
    ranks = sorted(set(ranks))
    if len(values) <= SORT_AT_MOST:
        everything = np.concatenate([np.asarray(part, dtype=float) for part in _parts(values)])
        chosen = np.partition(everything, ranks)[ranks]
        return dict(zip(ranks, chosen.tolist(), strict=True))
    lo = min(float(chunk.min()) for chunk in _chunks(values))
    hi = max(float(chunk.max()) for chunk in _chunks(values))
    if lo <= 0 or lo == hi:  # not for the logarithm: count by value instead of log-value
        return _bucketed(values, ranks, lo, hi, np.asarray)
    return _bucketed(values, ranks, math.log(lo), math.log(hi), np.log)


def _bucketed(
    values: Sequence[float], ranks: list[int], lo: float, hi: float, scale: Callable[..., Any]
) -> dict[int, float]:
    width = (hi - lo) / (BUCKETS - 1) or 1.0

    def buckets(chunk: np.ndarray) -> np.ndarray:
        return np.clip(((scale(chunk) - lo) / width).astype(np.int64), 0, BUCKETS - 1)

    counts = sum(np.bincount(buckets(chunk), minlength=BUCKETS) for chunk in _chunks(values))
    below = np.concatenate(([0], np.cumsum(counts)))  # below[b]: values in buckets < b
    where = {rank: int(np.searchsorted(below, rank, side="right")) - 1 for rank in ranks}
    wanted = np.array(sorted(set(where.values())))
    members = np.sort(
        np.concatenate([chunk[np.isin(buckets(chunk), wanted)] for chunk in _chunks(values)])
    )
    # members holds the wanted buckets' values in bucket order (a bucket's values are all
    # below the next bucket's), so a rank's place in it is its place among those buckets
    offsets = np.cumsum([0, *counts[wanted]])[:-1]
    start = dict(zip(wanted.tolist(), offsets.tolist(), strict=True))
    return {
        rank: float(members[start[bucket] + rank - below[bucket]]) for rank, bucket in where.items()
    }


def _parts(values: Sequence[float]) -> list[Sequence[float]]:
    return values.parts if isinstance(values, Samples) else [values]


def _chunks(values: Sequence[float]) -> Iterator[np.ndarray]:
    """``values`` as numpy arrays of at most ``CHUNK`` values (views where they can be)."""
    for part in _parts(values):
        whole = np.asarray(part, dtype=float)
        for start in range(0, len(whole), CHUNK):
            yield whole[start : start + CHUNK]


@dataclass(frozen=True)
class QueueTrace:
    """Queue length of every instance (waiting + in service), sampled at regular times."""

    times: list[float] = field(default_factory=list)
    lengths: list[list[int]] = field(default_factory=list)  # lengths[k][i]: instance i at times[k]

    def of_instance(self, index: int) -> list[int]:
        """The sampled queue lengths of one instance, in time order."""
        return [row[index] for row in self.lengths]


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` (the first is the header) as aligned text columns: the first left-aligned, the
    others right-aligned, two spaces apart: how results print themselves in a lesson."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
