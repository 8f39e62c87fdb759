"""Figures for lesson 09: events over long-lived connections, and the reconnect storm after a crash.

Functions take results from ``simulations.scenarios.events.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from simulations.plotting import interval_points
from simulations.scenarios.events.model import BUCKET, EventsResult

COLORS = {"none": "tab:red", "fixed": "tab:orange", "jitter": "tab:green"}
PUBSUB_COLORS = {"memory": "tab:red", "broker": "tab:blue"}


def label(result: EventsResult) -> str:
    s = result.scenario
    if s.backoff == "none":
        return "retry at once"
    if s.backoff == "fixed":
        return f"retry after {s.base:g} s"
    return f"full jitter (base {s.base:g} s)"


def bucket_times(result: EventsResult) -> list[float]:
    """Seconds since the crash at the start of each bucket of the series."""
    return [k * BUCKET for k in range(len(result.attempts_per_bucket))]


def plot_reconnects(results: Sequence[EventsResult], seconds: float = 5.0) -> Figure:
    """Lesson 09's storm: reconnect attempts per 100 ms reaching one survivor (the mean over the
    survivors) over the first ``seconds`` after the crash, one line per run (e.g. without and
    with jitter), what a survivor can accept dashed (left); clients still disconnected (right)."""
    fig, (rate, away) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained", sharex=True)
    first = results[0]
    kept = round(seconds / BUCKET)
    for result in results:
        s = result.scenario
        times = bucket_times(result)[:kept]
        per_survivor = [n / s.survivors for n in result.attempts_per_bucket[:kept]]
        color = COLORS[s.backoff]
        rate.step(
            [*times, kept * BUCKET],
            [*per_survivor, 0],
            where="post",
            color=color,
            label=f"{label(result)}: {result.failed_attempts} failed",
        )
        away.step(
            [0.0, *[t + BUCKET for t in times]],
            [result.dropped, *result.disconnected_per_bucket[:kept]],
            where="post",
            color=color,
            label=f"{label(result)}: all back after {result.reconnect_time:.1f} s",
        )
    rate.axhline(
        first.capacity_per_bucket, color="black", ls="--", lw=1, label="what a survivor accepts"
    )
    rate.set(
        xlabel="seconds since the crash",
        ylabel=f"attempts per {BUCKET * 1000:g} ms, per survivor",
        xlim=(0, seconds),
        ylim=(0, None),
    )
    rate.set_title("reconnect attempts reaching a survivor", fontsize=9)
    away.set(xlabel="seconds since the crash", ylabel="clients disconnected", ylim=(0, None))
    away.set_title(f"{first.dropped} clients of the crashed instance", fontsize=9)
    rate.legend(fontsize=7, loc="upper right")
    away.legend(fontsize=7, loc="upper right")
    return fig


def plot_delivery(runs: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """The delivered share of events against the instance count (``delivery_by_instances``),
    one series per design, 95% intervals where they varied; 1/N dotted."""
    fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
    counts = sorted({run["instances"] for series in runs.values() for run in series})
    fine = [counts[0] + (counts[-1] - counts[0]) * k / 100 for k in range(101)]
    ax.plot(fine, [1 / n for n in fine], ":", color="gray", label="1/N")
    for pubsub, series in runs.items():
        interval_points(
            ax,
            series,
            "instances",
            "delivered_fraction",
            color=PUBSUB_COLORS[pubsub],
            label="pub/sub broker" if pubsub == "broker" else "each instance's own clients",
        )
    ax.set(xlabel="instances N", ylabel="events × clients delivered", xticks=counts, ylim=(0, 1.08))
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.legend(fontsize=8, loc="center right")
    return fig
