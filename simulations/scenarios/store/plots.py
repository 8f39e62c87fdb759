"""Figures for lessons 02 and 12: what a shared store costs per request, a store incident over
time, and where adding instances stops helping (one store, replicas, shards, a cache).

Functions take the model's results and return matplotlib figures without showing them; a
notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 inches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import cycle
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import error_bars
from simulations.scenarios.store.model import StoreResult, StoreScenario, expected_response_ms

COLORS = {"memory": "tab:blue", "shared": "tab:orange"}


def draw_cost(ax: Axes, runs: Mapping[str, Sequence[dict[str, Any]]]) -> Axes:
    """Mean response time against N, one series per label: each point a mean over
    replications with its 95% interval as an error bar, theory as a dashed line."""
    for label, series in runs.items():
        counts = [run["instances"] for run in series]
        means = [run["mean_ms"] for run in series]
        color = COLORS.get(series[0]["store"])
        ax.errorbar(
            counts,
            means,
            yerr=error_bars(means, [run["interval"]["mean_ms"] for run in series]),
            fmt="o",
            ms=4,
            capsize=3,
            color=color,
            label=f"{label}: simulated, 95% interval",
        )
        fine = [counts[0] + (counts[-1] - counts[0]) * k / 60 for k in range(61)]
        settings = {k: v for k, v in series[0].items() if k in StoreScenario.__dataclass_fields__}
        theory = [_theory(settings, n) for n in fine]
        ax.plot(fine, theory, "--", lw=1, color=color, label=f"{label}: theory")
    ax.set(xlabel="instances N (each with the same traffic)", ylabel="mean response time (ms)")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def _theory(settings: dict[str, Any], instances: float) -> float:
    """The theory line at a fractional N (the formula is smooth in N); ``nan`` past saturation."""
    mean = expected_response_ms(_scenario(settings), instances)
    return mean if math.isfinite(mean) else math.nan


def _scenario(settings: dict[str, Any]) -> StoreScenario:
    """The scenario a run's dict echoes (its knobs; the measurements left out), at N = 1."""
    fields = StoreScenario.__dataclass_fields__
    return StoreScenario(**{**{k: v for k, v in settings.items() if k in fields}, "instances": 1})


def saturation_point(settings: dict[str, Any]) -> float:
    """The N (fractional) at which theory puts the busiest store queue at ρ = 1: there the
    store stops keeping up (``inf`` if nothing loads it)."""
    per_instance = _scenario(settings).store_load  # ρ grows in proportion to N
    return 1 / per_instance if per_instance > 0 else math.inf


SCALING_COLORS = ("tab:orange", "tab:green", "tab:purple", "tab:blue", "tab:brown", "tab:gray")


def draw_scaling(
    ax: Axes, rows_by_variant: Mapping[str, Sequence[dict[str, Any]]], metric: str = "mean_ms"
) -> Axes:
    """One series per variant against N: each point a replicated ``metric`` with its 95%
    interval, the theory of the mean dashed (``metric="mean_ms"``), and a dotted line where
    theory says the variant's busiest store queue reaches ρ = 1. Log y: near saturation the
    response time grows without bound."""
    for color, (label, series) in zip(cycle(SCALING_COLORS), rows_by_variant.items()):
        counts = [run["instances"] for run in series]
        values = [run[metric] for run in series]
        intervals = [
            run.get("interval", {}).get(metric, [value, value])
            for run, value in zip(series, values, strict=True)
        ]
        ax.errorbar(
            counts,
            values,
            yerr=error_bars(values, intervals),
            fmt="o",
            ms=4,
            capsize=3,
            color=color,
            label=f"{label}: simulated, 95% interval",
        )
        saturates = saturation_point(series[0])
        if metric == "mean_ms":
            top = min(counts[-1], saturates)
            fine = [counts[0] + (top - counts[0]) * k / 120 for k in range(121)]
            ax.plot(fine, [_theory(series[0], n) for n in fine], "--", lw=1, color=color)
        if counts[0] <= saturates <= counts[-1]:
            ax.axvline(saturates, color=color, ls=":", lw=1.2)
            ax.annotate(
                f"ρ = 1 at N ≈ {saturates:.1f}",
                (saturates, 0.98),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=color,
            )
    ax.plot([], [], "k--", lw=1, label="theory (mean)")
    ax.plot([], [], "k:", lw=1.2, label="theory: the store saturates")
    ax.set_yscale("log")
    what = "mean" if metric == "mean_ms" else metric.removesuffix("_ms")
    ax.set(xlabel="instances N (each with the same traffic)", ylabel=f"{what} response time (ms)")
    ax.legend(fontsize=7, loc="upper left")
    return ax


def plot_scaling(
    rows_by_variant: Mapping[str, Sequence[dict[str, Any]]],
    metric: str = "mean_ms",
    title: str | None = None,
) -> Figure:
    """Where linear scaling stops, per way of spending on the store (``compare_scaling``)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.9)
    draw_scaling(ax, rows_by_variant, metric)
    first = next(iter(rows_by_variant.values()))[0]
    replications = first.get("interval", {}).get("replications", 1)
    ax.set_title(
        title
        or f"{first['calls']} store call(s) per request, {first['rate']:g} req/s per instance, "
        f"{replications} replications of {first['requests']:,} requests each",
        fontsize=10,
    )
    return fig


def plot_cost(runs: Mapping[str, Sequence[dict[str, Any]]], title: str | None = None) -> Figure:
    """What a request pays for its sessions, by number of instances (``by_instances`` runs)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.88)
    draw_cost(ax, runs)
    first = next(iter(runs.values()))[0]
    ax.set_title(
        title
        or f"{first['rate']:g} req/s per instance, {first['interval']['replications']} "
        f"replications of {first['requests']:,} requests each",
        fontsize=10,
    )
    return fig


def draw_timeline(served: Axes, latency: Axes, result: StoreResult, label: str = "") -> None:
    """Requests per second served and failed (left) and their mean response time (right), the
    incident shaded."""
    s = result.scenario
    starts = [row[0] for row in result.timeline]
    width = starts[1] - starts[0] if len(starts) > 1 else 0.5
    ok = [row[1] / width for row in result.timeline]
    bad = [row[2] / width for row in result.timeline]
    served.bar(starts, ok, width=width, align="edge", color="tab:green", label="served")
    served.bar(
        starts, bad, width=width, align="edge", bottom=ok, color="tab:red", label="failed (503)"
    )
    shown = [(row[0] + width / 2, row[3]) for row in result.timeline if row[1]]
    latency.plot(  # a bin where nothing was served has no mean: the line breaks there
        [row[0] + width / 2 for row in result.timeline],
        [row[3] if row[1] else math.nan for row in result.timeline],
        ".-",
        ms=3,
        lw=1,
        label=label or "mean response",
    )
    if s.store == "shared" and s.incident != "none":
        for ax in (served, latency):
            ax.axvspan(
                s.incident_at,
                s.incident_at + s.incident_for,
                color="0.85",
                zorder=0,
                label=f"store {s.incident}",
            )
    top = max([a + b for a, b in zip(ok, bad, strict=True)] + [1.0])
    served.set(xlabel="time (s)", ylabel="requests per second", ylim=(0, 1.45 * top))
    latency.set(xlabel="time (s)", ylabel="mean response (ms)")
    latency.set_ylim(0, 1.3 * max([y for _, y in shown] + [1.0]))
    served.legend(fontsize=8, loc="upper left", ncol=3)  # above the bars: room left for it
    latency.legend(fontsize=8, loc="upper right")


def plot_incident(result: StoreResult, title: str | None = None) -> Figure:
    """One run through a store incident: throughput and failures, then response times."""
    fig, (served, latency) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    draw_timeline(served, latency, result)
    s = result.scenario
    fig.suptitle(
        title
        or f"{s.instances} instances, store {s.incident} for {s.incident_for:g} s: "
        f"{result.failed:,} requests failed",
        fontsize=10,
    )
    return fig


def plot_incidents(results: Mapping[str, StoreResult]) -> Figure:
    """One row per labelled run through an incident: throughput and failures, response times."""
    fig, axes = plt.subplots(
        len(results), 2, figsize=(9, 2.6 * len(results)), layout="constrained", squeeze=False
    )
    for (served, latency), (label, result) in zip(axes, results.items(), strict=True):
        draw_timeline(served, latency, result)
        served.set_title(f"{label}: {result.failed:,} requests failed", fontsize=9)
        latency.set_title(f"{label}: mean response of the served ones", fontsize=9)
    return fig
