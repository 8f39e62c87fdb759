"""Replications: run a scenario R times with independent seeds, and say how sure the mean is.

One simulation run of a busy queue is one draw from a noisy process: at 90% load, the mean
response time of 10,000 requests can miss the true mean by 10% or more, and a longer run only
shrinks the error slowly. The honest answer gives the uncertainty with the number: run R
*independent replications* (each with its own random streams), average them, and give a 95%
confidence interval for each average, mean ± t · s / √R (Student's t with R − 1 degrees of
freedom, s the sample standard deviation of the R results). The runs' first requests, made while
the queues fill up from empty, bias a short run low: ``--warmup W`` leaves them out.

Replication i of R takes its seed from ``numpy.random.SeedSequence(seed).spawn(R)[i]``: streams
that do not overlap, and the same seeds for the first replications whatever R is.

    replicate(run, scenario, 10)  # run(scenario) -> dict, as a command module's run

returns one dict like a single run's, where counts (whole numbers) are summed, other numbers
averaged (floats rounded to 6 decimals, as in a run's JSON; a ``None``, nothing measured in that
run, is left out of the average), and ``"interval"`` holds
``{key: [lo, hi], ..., "replications": R, "warmup": W, "method": ...}``: the 95% interval of
every average that varied between replications.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulations import knobs
from simulations.engine.metrics import rounded
from simulations.engine.workload import seed_sequence

MAX_REPLICATIONS = 100
CONFIDENCE = 0.95
METHOD = "95% Student t interval over independent replications (mean ± t·s/√R)"


@dataclass(frozen=True)
class ReplicationSettings:
    """How many independent runs: the ``--replications`` option of the commands that allow it."""

    replications: int = knobs.count(
        1,
        "independent runs, each with its own seed derived from --seed; with 2 or more, whole "
        "numbers are summed, others averaged, and the JSON gives 95% intervals",
        high=MAX_REPLICATIONS,
        metavar="R",
    )

    def __post_init__(self) -> None:
        knobs.check(self)


def replication_seeds(seed: int, replications: int) -> list[int]:
    """The seed of each replication: independent streams derived from ``seed``."""
    return [
        int(child.generate_state(1, "uint64")[0])
        for child in seed_sequence(seed).spawn(replications)
    ]


def replicate(
    run: Callable[[Any], dict[str, Any]], scenario: Any, replications: int
) -> dict[str, Any]:
    """``run(scenario)`` ``replications`` times with independent seeds, merged (see the module
    docstring); with 1 replication, exactly ``run(scenario)``."""
    ReplicationSettings(replications)
    requests = getattr(scenario, "requests", None)
    if isinstance(requests, int):  # R runs are R times the work of one
        knobs.work_limit(
            "requests over all replications",
            replications * requests,
            knobs.MAX_REQUESTS,
            "replications or requests",
        )
    if replications == 1:
        return run(scenario)
    results = [
        run(dataclasses.replace(scenario, seed=seed))
        for seed in replication_seeds(scenario.seed, replications)
    ]
    settings = {field.name: getattr(scenario, field.name) for field in dataclasses.fields(scenario)}
    merged = merge(results, settings)
    merged = rounded(merged)
    merged["interval"] = {
        key: rounded(list(mean_interval(_measured(results, key))))
        for key, value in merged.items()
        if isinstance(value, float)
        and key not in settings
        and _varies(results, key)
        and len(_measured(results, key)) >= 2
    } | {
        "replications": replications,
        "warmup": getattr(scenario, "warmup", 0),
        "method": METHOD,
    }
    return merged


def merge(results: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """One dict from the replications' dicts: a setting (a scenario field echoed in the result)
    as the scenario has it, whole numbers (counts) summed, any other value all replications
    share as it is, other numbers averaged, lists element by element, dicts key by key."""
    keys = list(dict.fromkeys(key for result in results for key in result))
    merged = {}
    for key in keys:
        if key in settings and all(key in result for result in results):
            merged[key] = _json_value(settings[key], results[0][key])
            continue
        merged[key] = _combine(key, [result.get(key) for result in results])
    return merged


def _combine(key: str, values: list[Any]) -> Any:
    present = [value for value in values if value is not None]
    if len(present) == len(values) and all(knobs.is_whole(value) for value in values):
        return sum(values)  # a count: how many over all replications
    if all(value == values[0] for value in values):
        return values[0]
    if all(isinstance(value, str) for value in present):
        return present[0]  # a warning some replications gave: say it once
    if present and all(knobs.is_real(value) for value in present):
        # a number some runs could not measure (None: no request succeeded): over those that did
        return math.fsum(present) / len(present)
    if len(present) == len(values):
        if all(isinstance(value, list) for value in values) and _same_length(values):
            return [_combine(key, list(column)) for column in zip(*values, strict=True)]
        if all(isinstance(value, dict) for value in values):
            return merge(values, {})
    raise TypeError(f"cannot merge {key!r} across replications: {values[:3]!r}...")


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The ``confidence`` interval of the mean of ``values`` (at least 2 of them)."""
    n = len(values)
    if n < 2:
        raise ValueError("an interval needs at least 2 values")
    mean = math.fsum(values) / n
    half = student_t_quantile((1 + confidence) / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean - half, mean + half


def estimate(values: Sequence[float], shown: str = "{:.1f}", unit: str = "") -> str:
    """The mean of ``values`` (one per run) and its 95% interval, as text:
    ``"6.1 s (95% interval 5.0 to 7.2)"``."""
    low, high = mean_interval(values)
    mean = math.fsum(values) / len(values)
    return f"{shown.format(mean)}{unit} (95% interval {shown.format(low)} to {shown.format(high)})"


def interval_table(
    label: str,
    groups: Mapping[str, Sequence[Any]],
    measures: Sequence[tuple[str, Callable[[Any], float], str]],
    width: int,
) -> str:
    """One row per group of runs, one column per measure ``(name, of_run, shown)``: each cell
    the mean over the group's runs and its 95% interval, ``"mean (low–high)"``. Every group
    needs the same number of runs, at least 2."""
    runs = {len(results) for results in groups.values()}
    if len(runs) != 1 or min(runs) < 2:
        raise ValueError("every group needs the same number of runs, at least 2")
    header = f"{label:<18}" + "".join(f"{name:>{width}}" for name, _, _ in measures)
    rows = [f"mean (95% interval) over {runs.pop()} runs", header, "-" * len(header)]
    for name, results in groups.items():
        cells = []
        for _, measure, shown in measures:
            values = [measure(result) for result in results]
            low, high = mean_interval(values)
            mean = math.fsum(values) / len(values)
            cells.append(f"{shown.format(mean)} ({shown.format(low)}–{shown.format(high)})")
        rows.append(f"{name:<18}" + "".join(f"{cell:>{width}}" for cell in cells))
    return "\n".join(rows)


def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t distribution with ``df`` degrees of freedom (0.5 < p < 1),
    to about 1e-12: bisection on the distribution function."""
    if not 0.5 < p < 1 or df < 1:
        raise ValueError("need 0.5 < p < 1 and df >= 1")
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-13 * high:
            break
    return (low + high) / 2


def student_t_cdf(t: float, df: int) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom, through the regularized
    incomplete beta function: P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t²)."""
    tail = _incomplete_beta(df / 2, 0.5, df / (df + t * t)) / 2
    return 1 - tail if t >= 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's
    method), on the side of x where the fraction converges quickly."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return fraction


def _measured(results: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """The values of ``key`` in the runs that measured it (``None``: nothing to measure)."""
    return [result[key] for result in results if result.get(key) is not None]


def _varies(results: Sequence[dict[str, Any]], key: str) -> bool:
    return any(result[key] != results[0][key] for result in results)


def _same_length(lists: list[list[Any]]) -> bool:
    return all(len(items) == len(lists[0]) for items in lists)


def _json_value(setting: Any, echoed: Any) -> Any:
    """A setting as the runs echo it (a tuple field is a JSON list)."""
    return list(setting) if isinstance(setting, tuple) and isinstance(echoed, list) else setting
