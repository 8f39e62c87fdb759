"""Figures for lessons 01 and 02: the session-miss rate against the number of instances.

Functions take ``SessionMissResult`` lists and return matplotlib figures without showing them;
a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 inches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import error_bars


def draw_miss_rates(
    ax: Axes, runs: Mapping[str, Sequence[dict[str, Any]]], theory: bool = True
) -> Axes:
    """One series of simulated miss rates per label, each point with its 95% interval
    (``replicate_miss_rates``); the theory 1 − 1/N dashed behind them."""
    counts = sorted({run["instances"] for series in runs.values() for run in series})
    if theory and counts:
        fine = [counts[0] + (counts[-1] - counts[0]) * k / 100 for k in range(101)]
        ax.plot(
            fine,
            [1 - 1 / n for n in fine],
            "k--",
            lw=1,
            label="theory, sessions in memory: 1 − 1/N",
        )
    for index, (label, series) in enumerate(runs.items()):
        dodge = (index - (len(runs) - 1) / 2) * 0.15  # side by side: equal rates stay visible
        rates = [run["miss_rate"] for run in series]
        bounds = [run["interval"].get("miss_rate", [run["miss_rate"]] * 2) for run in series]
        ax.errorbar(
            [run["instances"] + dodge for run in series],
            rates,
            yerr=error_bars(rates, bounds),  # no spread over the runs (N = 1): no bar
            fmt="o",
            ms=4,
            capsize=3,
            label=f"{label} (95% interval)",
        )
    ax.set(xlabel="instances N", ylabel="requests that find no session", ylim=(-0.03, 1.03))
    ax.set_xticks(counts)
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.legend(fontsize=8, loc="center right")  # between the misses (top) and sticky (0%)
    return ax


def plot_miss_rates(
    runs: Mapping[str, Sequence[dict[str, Any]]], title: str | None = None
) -> Figure:
    """Miss rate vs number of instances, one series per label (e.g. per policy), each point the
    mean of replications with its 95% interval (``replicate_miss_rates``)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.88)
    draw_miss_rates(ax, runs)
    first = next(iter(runs.values()))[0]
    ax.set_title(
        title
        or f"Session misses: {first['users']} users, {first['interval']['replications']} runs "
        f"of {first['requests']:,} requests per point",
        fontsize=10,
    )
    return fig
