"""Figures for lesson 06: the hot spot over time, and policies side by side.

Functions take ``StickyResult`` objects and return matplotlib figures without showing them;
a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 inches.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.scenarios.sticky.model import StickyResult


def plot_utilization_over_time(result: StickyResult, ax: Axes) -> Axes:
    """Each instance's busy fraction per time window; dotted lines mark a scale-out or a crash."""
    width = result.horizon / len(result.window_starts)
    middles = [start + width / 2 for start in result.window_starts]
    hottest = max(range(len(result.load)), key=result.load.__getitem__)
    for index, row in enumerate(result.window_utilization):
        label = f"instance {index}"
        style = {"lw": 2.2} if index == hottest else {"lw": 1.0, "alpha": 0.8}
        if index == result.new_instance:
            label += " (new)"
            style = {"lw": 1.6, "ls": "--"}
        if index == result.hottest_instance:
            label += " (crashed)"
        ax.plot(middles, row, marker=".", label=label, **style)
    scenario = result.scenario
    if result.new_instance is not None and scenario.scale_out_at is not None:
        ax.axvline(scenario.scale_out_at, color="gray", ls=":", lw=1)
        ax.annotate("scale-out", (scenario.scale_out_at, 1.02), fontsize=8, ha="center")
    if result.hottest_instance is not None and scenario.crash_hottest_at is not None:
        ax.axvline(scenario.crash_hottest_at, color="tab:red", ls=":", lw=1)
        ax.annotate(
            "crash", (scenario.crash_hottest_at, 1.02), fontsize=8, ha="center", color="tab:red"
        )
    ax.set(
        xlabel="time (s)",
        ylabel="busy fraction",
        ylim=(0, 1.1),
        title=f"{result.policy}: busy fraction per instance",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=7)
    return ax


def plot_hotspot(result: StickyResult) -> Figure:
    """One run: utilization over time (left) and the work each instance was sent (right)."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained", width_ratios=(2.2, 1)
    )
    plot_utilization_over_time(result, left)
    indices = list(range(len(result.load)))
    colors = ["tab:red" if value == max(result.load) else "tab:blue" for value in result.load]
    right.bar(indices, result.load, color=colors)
    mean_load = sum(result.load) / len(result.load)
    right.axhline(mean_load, color="black", ls="--", lw=1)
    right.annotate(
        f"mean {mean_load:.2f}",
        (1.0, mean_load),
        xycoords=("axes fraction", "data"),
        xytext=(2, 0),
        textcoords="offset points",
        fontsize=8,
        va="center",
    )
    right.set(
        xlabel="instance",
        ylabel="offered load (work / time up)",
        xticks=indices,
        title=f"imbalance {result.imbalance:.2f} · p99 {result.p99_response:.1f} s",
    )
    return fig


def plot_policy_comparison(results: Mapping[str, StickyResult]) -> Figure:
    """Imbalance (max / mean load) and p99 response time of each policy on the same requests."""
    names = list(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    imbalance = [results[name].imbalance for name in names]
    p99 = [results[name].p99_response for name in names]
    positions = list(range(len(names)))
    left.barh(positions, imbalance, color="tab:orange")
    left.axvline(1.0, color="black", lw=1, ls="--")
    left.set(
        yticks=positions,
        yticklabels=names,
        xlabel="imbalance (max / mean load)",
        title="How uneven is the work?",
    )
    left.invert_yaxis()
    right.barh(positions, p99, color="tab:purple")
    spread = max(p99) / max(min(p99), 1e-9)
    right.set(
        yticks=positions,
        yticklabels=[""] * len(names),
        xlabel="p99 response time (s)" + (", log scale" if spread > 20 else ""),
        xscale="log" if spread > 20 else "linear",
        title="How slow is the slowest 1%?",
    )
    right.invert_yaxis()
    for position, value in zip(positions, p99, strict=True):
        right.annotate(
            f"{value:.1f}",
            (value, position),
            fontsize=8,
            va="center",
            xytext=(3, 0),
            textcoords="offset points",
        )
    return fig
