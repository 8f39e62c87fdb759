"""Figures for lesson 05: a rolling deploy, instance by instance.

``plot_deploy`` returns a figure without showing it; ``draw_deploy`` draws on given axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.scenarios.deploy.model import DeployResult


def draw_deploy(result: DeployResult, ax: Axes) -> None:
    """Instances by version and state during the deploy, within its two bounds. The bounds
    count what Kubernetes counts: draining (terminating) instances are stacked on top, hatched,
    outside both counts. The legend sits to the right of the axes, off the data."""
    s = result.scenario
    t = result.timeline
    ax.stackplot(
        t.times,
        t.old_ready,
        t.new_ready,
        t.booting,
        t.draining,
        labels=("old, ready", "new, ready", "new, booting", "draining (not counted)"),
        colors=("tab:gray", "tab:green", "tab:orange", "white"),
        edgecolor=("none", "none", "none", "tab:red"),
        hatch=(None, None, None, "////"),
        alpha=0.7,
        step="post",
    )
    ax.axhline(
        s.replicas + result.surge,
        color="black",
        ls="--",
        lw=1,
        label=f"replicas + maxSurge = {s.replicas + result.surge}",
    )
    ax.axhline(
        s.replicas - result.unavailable,
        color="black",
        ls=":",
        lw=1,
        label=f"replicas − maxUnavailable = {s.replicas - result.unavailable}",
    )
    start = s.deploy_at - 10
    end = (result.deploy_finished or s.duration) + 10
    ax.set(
        xlim=(start, end),
        ylim=(0, result.max_present + 1),
        xlabel="time (s)",
        ylabel="instances",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def plot_deploy(result: DeployResult) -> Figure:
    """One rolling deploy: which instances exist, and in what state, as it goes."""
    fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
    draw_deploy(result, ax)
    took = result.deploy_time
    ax.set_title(
        f"Rolling deploy of {result.scenario.replicas} replicas: surge {result.surge}, "
        f"unavailable {result.unavailable}, took {took:.0f} s"
        if took is not None
        else "Rolling deploy (unfinished)",
        fontsize=10,
    )
    return fig
