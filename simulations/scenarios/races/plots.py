"""Figures for lesson 08: how often a process-wide "current user" is read back by the wrong request.

Functions take results from ``simulations.scenarios.races.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import error_bars
from simulations.scenarios.races.model import RaceResult, theory_mixup_share

THREAD_COLORS = ("tab:green", "tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown")


def unlimited_threads_share(load: float, handler: str = "exponential") -> float:
    """The share with threads enough (T → ∞): λw/(1 + λw) (exponential), 1 − e^(−λw) (fixed)."""
    return load / (1 + load) if handler == "exponential" else -math.expm1(-load)


def theory_curve(
    threads: int, arrival_rate: float, waits: Sequence[float], handler: str
) -> list[float]:
    """The theory at each wait, NaN where the model knows none (a pool that fills up)."""
    values = [theory_mixup_share(threads, arrival_rate, wait, handler) for wait in waits]
    return [math.nan if value is None else value for value in values]


def draw_mixups(ax: Axes, runs: Mapping[int, Sequence[dict[str, Any]]]) -> Axes:
    """Simulated shares (``mixups_by_wait``: ``{T: [replicated runs]}``) against λw, each with
    its 95% interval; theory dashed in the same colour; threads enough dotted grey."""
    first = next(iter(runs.values()))[0]
    rate, handler = first["arrival_rate"], first["handler"]
    loads = sorted({run["offered_load"] for series in runs.values() for run in series})
    top = loads[-1] if loads else 1.0
    fine_waits = [top / rate * k / 120 for k in range(1, 121)]
    fine_loads = [rate * wait for wait in fine_waits]
    ax.plot(
        fine_loads,
        [unlimited_threads_share(load, handler) for load in fine_loads],
        ":",
        color="gray",
        lw=1.2,
        label="threads enough",
    )
    for index, (threads, series) in enumerate(runs.items()):
        color = THREAD_COLORS[index % len(THREAD_COLORS)]
        ax.plot(
            fine_loads, theory_curve(threads, rate, fine_waits, handler), "--", color=color, lw=1
        )
        shares = [run["share"] for run in series]
        bounds = [run.get("interval", {}).get("share") for run in series]
        ax.errorbar(
            [run["offered_load"] for run in series],
            shares,
            yerr=error_bars(shares, bounds) if all(b is not None for b in bounds) else None,
            fmt="o",
            ms=4,
            capsize=3,
            color=color,
            label=f"T = {threads}",
        )
    ax.set(
        xlabel="λ·w: requests waiting on I/O at once (arrival rate × handler wait)",
        ylabel="requests that read another's user",
        ylim=(-0.03, 1.0),
    )
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    return ax


def plot_mixups(runs: Mapping[int, Sequence[dict[str, Any]]], title: str | None = None) -> Figure:
    """Lesson 08's figure: the mix-up share against λw for each thread count T (dots: simulated,
    95% intervals; dashed: theory; dotted: threads enough). T = 1 stays at 0."""
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    draw_mixups(ax, runs)
    first = next(iter(runs.values()))[0]
    replications = first.get("interval", {}).get("replications", 1)
    ax.set_title(
        title
        or f"A global 'current user': {first['handler']} handlers, λ = {first['arrival_rate']:g}"
        f" req/s, {replications} runs of {first['requests']:,} requests per point",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return fig


def draw_timeline(ax: Axes, result: RaceResult) -> Axes:
    """The first requests, one bar per request on its thread's row: red when it read another
    request's user back."""
    for handled in result.timeline:
        ax.plot(
            [handled.start, handled.end],
            [handled.thread, handled.thread],
            color="tab:red" if handled.mixed_up else "tab:gray",
            lw=5,
            solid_capstyle="butt",
        )
    ax.set(
        xlabel="time (s)",
        ylabel="thread",
        ylim=(result.scenario.threads - 0.5, -0.5),
    )
    return ax


def plot_timeline(result: RaceResult) -> Figure:
    """One run's first requests on their threads (red: mixed up)."""
    fig, ax = plt.subplots(figsize=(8, 2.6), layout="constrained")
    draw_timeline(ax, result)
    mixed = sum(handled.mixed_up for handled in result.timeline)
    ax.set_title(
        f"the first {len(result.timeline)} requests on {result.scenario.threads} thread(s): "
        f"{mixed} read another's user (red)",
        fontsize=10,
    )
    return fig
