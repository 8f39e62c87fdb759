"""Figures for lesson 05: a traffic spike against the autoscaler.

``plot_autoscale`` returns a figure without showing it; ``draw_autoscale`` draws on given axes,
so the explorer reuses it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.scenarios.autoscale.model import AutoscaleResult


def draw_autoscale(result: AutoscaleResult, load_ax: Axes, replicas_ax: Axes) -> None:
    """Top: requests per second against what the ready instances can serve at the target;
    bottom: instances ready and booting, with the spike shaded. Legends sit to the right of
    the axes, off the data."""
    s = result.scenario
    t = result.timeline
    capacity = [ready * s.service_rate * s.target for ready in t.ready]
    load_ax.plot(t.times, t.arrival_rate, color="tab:gray", lw=1, label="requests/s")
    load_ax.step(
        t.times,
        capacity,
        where="post",
        color="tab:blue",
        lw=1.6,
        label=f"ready × μ × target ({s.target:g})",
    )
    load_ax.set(ylabel="requests / s")
    load_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    running = [r + b for r, b in zip(t.ready, t.booting, strict=True)]
    replicas_ax.fill_between(
        t.times,
        t.ready,
        running,
        step="post",
        color="tab:orange",
        alpha=0.5,
        label=f"booting ({s.boot_time:g} s)",
    )
    replicas_ax.step(t.times, t.ready, where="post", color="tab:blue", lw=1.6, label="ready")
    replicas_ax.set(xlabel="time (s)", ylabel="instances", ylim=(0, max(running) + 1))
    replicas_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for ax in (load_ax, replicas_ax):
        ax.axvspan(s.spike_at, s.spike_at + s.spike_duration, color="tab:red", alpha=0.08)
    load_ax.set_title(
        f"Spike ×{s.spike_factor:g} (shaded): replicas {result.initial_replicas} → "
        f"{result.peak_replicas} → {result.final_replicas}, p99 in the spike "
        f"{result.spike_response.p99:.0f} s",
        fontsize=10,
    )


def plot_autoscale(result: AutoscaleResult) -> Figure:
    """Load against capacity, and the replicas the autoscaler keeps, over time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4), sharex=True, layout="constrained")
    draw_autoscale(result, top, bottom)
    return fig
