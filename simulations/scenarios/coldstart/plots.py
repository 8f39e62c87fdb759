"""Figures for lesson 12: cold starts against burstiness and against keep-warm.

Functions take the replicated rows of ``cold_by_burstiness`` and ``cold_by_keep_warm``
(``simulations.scenarios.coldstart.model``) and return matplotlib figures without showing them,
each point with its 95% interval as an error bar; a notebook cell ends with ``plt.show()``.
Figures stay within 9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from simulations.plotting import interval_points

STYLE = {"fmt": "o-", "ms": 4, "lw": 1.2}


def _settings(row: dict[str, Any], leave_out: str) -> str:
    """The settings every row shares, as a title."""
    parts = {
        "rate": f"{row['rate']:g} req/s",
        "burstiness": f"burstiness {row['burstiness']:g}",
        "keep_warm": f"keep warm {row['keep_warm']}",
        "idle_timeout": f"idle timeout {row['idle_timeout']:g} s",
        "cold_start_ms": f"cold start {row['cold_start_ms']:g} ms",
        "service_ms": f"service {row['service_ms']:g} ms",
    }
    return ", ".join(text for name, text in parts.items() if name != leave_out)


def _cold_and_p99(rows: Sequence[dict[str, Any]], x: str, xlabel: str, panels: int) -> Figure:
    fig, axes = plt.subplots(1, panels, figsize=(9, 3.2), layout="constrained")
    cold, p99 = axes[0], axes[1]
    interval_points(cold, rows, x, "cold_share", 100, color="tab:blue", **STYLE)
    cold.set(xlabel=xlabel, ylabel="% of requests started cold")
    cold.set_title("cold share", fontsize=9)
    cold.set_ylim(bottom=0)
    interval_points(p99, rows, x, "p99_response_ms", color="tab:red", **STYLE)
    p99.axhline(rows[0]["cold_start_ms"], color="black", ls=":", lw=1, label="cold start")
    p99.set(xlabel=xlabel, ylabel="p99 response (ms)")
    p99.set_title("the tail", fontsize=9)
    p99.set_ylim(bottom=0)
    p99.legend(fontsize=8, loc="lower right")
    fig.suptitle(_settings(rows[0], x), fontsize=9)
    return fig


def plot_cold_by_burstiness(rows: Sequence[dict[str, Any]]) -> Figure:
    """``cold_by_burstiness``: the cold share and the p99 response against burstiness, at the
    same mean rate (dotted: the cold start itself, what a p99 above it is made of)."""
    return _cold_and_p99(rows, "burstiness", "burstiness (peak rate / mean rate)", 2)


def plot_cold_by_keep_warm(rows: Sequence[dict[str, Any]]) -> Figure:
    """``cold_by_keep_warm``: the cold share and the p99 against the instances kept warm, and
    what they cost: instances alive on average (dashed: the kept-warm ones alone)."""
    fig = _cold_and_p99(rows, "keep_warm", "instances kept warm", 3)
    cost = fig.axes[2]
    interval_points(cost, rows, "keep_warm", "mean_warm_instances", color="tab:green", **STYLE)
    kept = [row["keep_warm"] for row in rows]
    cost.plot(kept, kept, "--", color="black", lw=1, label="kept warm")
    cost.set(xlabel="instances kept warm", ylabel="instances alive on average")
    cost.set_title("what it costs", fontsize=9)
    cost.set_ylim(bottom=0)
    cost.legend(fontsize=8, loc="upper left")
    return fig
