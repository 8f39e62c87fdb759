"""Figures for lesson 08: a rate limit counted in instance memory, multiplied by the instances.

Functions take results from ``simulations.scenarios.ratelimit.model`` and return matplotlib
figures without showing them; a notebook cell ends with ``plt.show()``. Figures stay within
9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import interval_points
from simulations.scenarios.ratelimit.model import RateLimitResult

COLORS = {"memory": "tab:red", "shared": "tab:blue"}
STYLES = {"memory": "-", "shared": "--"}  # so equal lines both show


def label(result: RateLimitResult) -> str:
    s = result.scenario
    scaled = ", autoscaled" if s.autoscale else ""
    where = "counter in memory" if s.state == "memory" else "shared counter"
    return f"{where}{scaled}"


def window_starts(result: RateLimitResult) -> list[float]:
    s = result.scenario
    return [k * s.window for k in range(s.windows)]


def draw_allowed(ax: Axes, results: Sequence[RateLimitResult]) -> Axes:
    """Requests let through in each window (steps), with the limit L and N·L for the starting
    and the largest N (dotted): what one client was promised and what it got."""
    first = results[0].scenario
    for result in results:
        starts = window_starts(result)
        values = result.allowed_per_window
        ax.step(
            [*starts, starts[-1] + first.window],
            [*values, values[-1]],
            where="post",
            color=COLORS[result.scenario.state],
            label=label(result),
        )
    ax.axhline(first.limit, color="black", lw=1, ls="--", label=f"the limit L = {first.limit}")
    counts = sorted({first.instances, *(max(r.instances_per_window) for r in results)})
    for n in counts:
        ax.axhline(n * first.limit, color="gray", lw=1, ls=":")
        ax.annotate(
            f"N·L, N = {n}",
            (0, n * first.limit),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=8,
            color="gray",
        )
    top = max(max(max(r.allowed_per_window) for r in results), counts[-1] * first.limit)
    ax.set(
        ylabel=f"allowed per {first.window:g} s window",
        ylim=(0, 1.15 * top),
        xlim=(0, first.duration),
    )
    return ax


def draw_instances(ax: Axes, results: Sequence[RateLimitResult]) -> Axes:
    """Ready instances over time, one step line per run."""
    for result in results:
        ax.step(
            result.series_times,
            result.series_instances,
            where="post",
            color=COLORS[result.scenario.state],
            ls=STYLES[result.scenario.state],
            label=label(result),
        )
    top = max(max(r.series_instances) for r in results)
    ax.set(
        xlabel="time (s)",
        ylabel="instances",
        ylim=(0, top + 1),
        xlim=(0, results[0].scenario.duration),
    )
    return ax


def plot_allowed(results: Sequence[RateLimitResult]) -> Figure:
    """Lesson 08's figure: allowed requests per window over time (top) and the instances (bottom),
    one line per run (e.g. the counter in memory and shared, both autoscaled)."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 4), layout="constrained", sharex=True, height_ratios=(2, 1)
    )
    draw_allowed(top, results)
    draw_instances(bottom, results)
    s = results[0].scenario
    top.set_title(
        f"one client at {s.attack_rate:g} req/s against a limit of {s.limit} per {s.window:g} s",
        fontsize=10,
    )
    top.legend(fontsize=8, loc="center right")
    return fig


def plot_limit_by_instances(runs: dict[str, Sequence[dict[str, Any]]]) -> Figure:
    """The effective limit against the instance count, one series per label (e.g. ``memory``
    and ``shared``, from ``limit_by_instances``), 95% intervals where they varied; the limit L
    and N·L dashed."""
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    counts = sorted({run["instances"] for series in runs.values() for run in series})
    first = next(iter(runs.values()))[0]
    ax.plot(counts, [n * first["limit"] for n in counts], "k--", lw=1, label="N·L")
    ax.axhline(first["limit"], color="gray", lw=1, ls=":", label="L")
    for name, series in runs.items():
        interval_points(
            ax,
            series,
            "instances",
            "effective_limit",
            color=COLORS.get(series[0]["state"]),
            label=name,
        )
    ax.set(
        xlabel="instances N",
        ylabel=f"allowed per {first['window']:g} s window",
        xticks=counts,
        title=f"the effective limit: one client at {first['attack_rate']:g} req/s, "
        f"L = {first['limit']}",
    )
    ax.legend(fontsize=8, loc="upper left")
    return fig
