"""Figures more than one scenario draws: the damage bars of lessons 04 and 05, shared colours,
error bars from 95% intervals.

``plot_damage`` takes any results with the ``Outcome`` counts (``simulations.engine.sessions``):
crashes, autoscaling and deploys alike. Scenario figures live in each scenario's ``plots.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from simulations.engine.sessions import Outcome

SETUP_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple")


def error_bars(
    means: Sequence[float | None], intervals: Sequence[Sequence[float] | None]
) -> list[list[float]] | None:
    """matplotlib's ``yerr`` (below, above) from 95% intervals ``(low, high)``, one per mean;
    ``None`` when a mean or an interval is missing."""
    pairs = list(zip(means, intervals, strict=True))
    if any(mean is None or interval is None for mean, interval in pairs):
        return None
    return [
        [mean - interval[0] for mean, interval in pairs],  # type: ignore[operator, index]
        [interval[1] - mean for mean, interval in pairs],  # type: ignore[operator, index]
    ]


def with_bars(series: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], Any]:
    """The values of ``key`` and matplotlib's ``yerr`` from their 95% intervals (a value that did
    not vary has none: its bar is empty); ``None`` values (nothing measured) become NaN."""
    values = [run[key] if run[key] is not None else float("nan") for run in series]
    bounds = [
        run.get("interval", {}).get(key, [value, value])
        for run, value in zip(series, values, strict=True)
    ]
    return values, error_bars(values, bounds)


def interval_points(
    ax: Any, series: Sequence[Mapping[str, Any]], x: str, y: str, scale: float = 1.0, **style: Any
) -> Any:
    """Draw ``y`` (times ``scale``) against ``x`` for replicated runs, each point with its 95%
    interval as an error bar; ``style`` goes to ``ax.errorbar`` (default: dots, caps)."""
    values, bars = with_bars(series, y)
    return ax.errorbar(
        [run[x] for run in series],
        [value * scale for value in values],
        yerr=None if bars is None else [[bar * scale for bar in side] for side in bars],
        **{"fmt": "o", "ms": 5, "capsize": 3, **style},
    )


def plot_damage(results: Mapping[str, Outcome]) -> Figure:
    """Sessions lost, users forced to log in again and failed requests, setup by setup."""
    names = list(results)
    metrics = (
        ("sessions_lost", "sessions lost"),
        ("users_forced_to_login", "users forced to log in"),
        ("failed_requests", "failed requests"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), layout="constrained", sharey=True)
    positions = list(range(len(names)))
    for ax, (key, label) in zip(axes, metrics, strict=True):
        values = [getattr(results[name], key) for name in names]
        ax.barh(positions, values, color=SETUP_COLORS[: len(names)])
        ax.set(title=label, yticks=positions, yticklabels=names)
        ax.invert_yaxis()
        for position, value in zip(positions, values, strict=True):
            ax.annotate(
                str(value),
                (value, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, max([*values, 1]) * 1.3)
    return fig
