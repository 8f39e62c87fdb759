"""Figures for lesson 09: background jobs lost, redelivered and duplicated when workers crash.

Functions take results from ``simulations.scenarios.jobs.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import interval_points

COLORS = {"memory": "tab:red", "broker": "tab:blue"}
LABELS = {"memory": "queue in memory", "broker": "broker"}
PANELS = (
    ("lost_share", "lost", 100.0, "% of jobs"),
    ("redelivered_share", "redelivered", 100.0, "deliveries, % of jobs"),
    ("duplicated_share", "duplicated (ran twice)", 100.0, "% of jobs"),
    ("mean_redelivered_latency", "latency of redelivered jobs", 1.0, "s (mean)"),
)


def draw_panel(ax: Axes, runs: Mapping[str, Sequence[dict[str, Any]]], key: str, scale: float):
    for queue, series in runs.items():
        if key == "mean_redelivered_latency" and queue == "memory":
            continue  # nothing is redelivered from memory
        interval_points(
            ax,
            series,
            "visibility_timeout",
            key,
            scale,
            fmt="o-" if queue == "broker" else "s--",
            ms=4,
            lw=1,
            color=COLORS[queue],
            label=LABELS[queue],
        )
    return ax


def plot_by_visibility(runs: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """Lesson 09's figure: lost, redelivered and duplicated jobs (as % of the jobs submitted)
    and the redelivered jobs' latency against the visibility timeout, for both designs
    (``jobs_by_visibility``), with 95% intervals."""
    fig, axes = plt.subplots(1, 4, figsize=(9, 3), layout="constrained", sharex=True)
    for ax, (key, title, scale, unit) in zip(axes, PANELS, strict=True):
        draw_panel(ax, runs, key, scale)
        ax.set_title(title, fontsize=9)
        ax.set(xlabel="visibility timeout V (s)", ylabel=unit, xscale="log")
        ax.set_ylim(bottom=0)
    latency = axes[-1]
    timeouts = [run["visibility_timeout"] for run in runs["broker"]]
    latency.plot(timeouts, timeouts, ":", color="gray", lw=1, label="V")
    first = runs["broker"][0]
    fig.suptitle(
        f"{first['workers']} workers crashing {first['crash_rate']:g}/s each, jobs "
        f"{first['service']} {first['service_time']:g} s at {first['arrival_rate']:g}/s",
        fontsize=10,
    )
    axes[0].legend(fontsize=8, loc="upper right")
    latency.legend(fontsize=8, loc="upper left")
    return fig


def plot_by_crash_rate(runs: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """Lost jobs (memory) and redelivered deliveries (broker), % of the jobs, against the crash
    rate (``jobs_by_crash_rate``), with 95% intervals; theory for the memory queue dotted."""
    fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
    for queue, key in (("memory", "lost_share"), ("broker", "redelivered_share")):
        series = runs[queue]
        interval_points(
            ax,
            series,
            "crash_rate",
            key,
            100,
            fmt="o-",
            ms=4,
            lw=1,
            color=COLORS[queue],
            label=f"{LABELS[queue]}: {'lost' if queue == 'memory' else 'redelivered'}",
        )
    memory = runs["memory"]
    ax.plot(
        [run["crash_rate"] for run in memory],
        [100 * run["expected_lost_share"] for run in memory],
        ":",
        color="black",
        lw=1,
        label="theory (memory): crash rate × ∫ jobs held dt",
    )
    ax.set(xlabel="crashes per worker per second", ylabel="% of jobs")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    return fig
