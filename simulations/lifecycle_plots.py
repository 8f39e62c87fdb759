"""Figures for lessons 04 and 05: crashes and sessions, the autoscaler, a rolling deploy.

Functions take results from ``simulations.sessions``, ``simulations.autoscale`` and
``simulations.deploy`` and return matplotlib figures without showing them (a notebook cell ends
with ``plt.show()``); the ``draw_*`` functions draw on given axes, so the widgets reuse them.
Figures stay within 9 × 4 inches.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.autoscale import AutoscaleResult
from simulations.deploy import DeployResult
from simulations.sessions import SessionsResult

SETUP_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple")


def _mark_crashes(ax: Axes, result: SessionsResult) -> None:
    for event in result.events:
        if event.kind == "crash":
            ax.axvline(event.time, color="black", ls=":", lw=1)
        elif event.kind == "ready":
            ax.axvline(event.time, color="tab:green", ls=":", lw=1)


def draw_sessions_over_time(
    results: Mapping[str, SessionsResult], sessions_ax: Axes, logins_ax: Axes
) -> None:
    """Left: users who have a session; right: re-logins so far. Dotted: crashes (black),
    an instance back (green)."""
    for (name, result), color in zip(results.items(), SETUP_COLORS, strict=False):
        t = result.timeline
        sessions_ax.plot(t.times, t.sessions, color=color, lw=1.6, label=name)
        logins_ax.plot(t.times, t.forced_logins, color=color, lw=1.6, label=name)
    first = next(iter(results.values()))
    for ax in (sessions_ax, logins_ax):
        _mark_crashes(ax, first)
        ax.set_xlabel("time (s)")
        ax.set_ylim(bottom=0)
    sessions_ax.set(ylabel="users with a session", title="Sessions in place")
    logins_ax.set(ylabel="forced re-logins so far", title="Users sent back to the login page")
    logins_ax.set_yscale("symlog", linthresh=100)
    sessions_ax.legend(fontsize=8, loc="lower left")


def plot_crash(results: Mapping[str, SessionsResult]) -> Figure:
    """The same users and the same crash, one line per setup (store + routing)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    draw_sessions_over_time(results, left, right)
    return fig


def draw_autoscale(result: AutoscaleResult, load_ax: Axes, replicas_ax: Axes) -> None:
    """Top: requests per second against what the ready instances can serve at the target;
    bottom: instances ready and booting, with the spike shaded."""
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
    load_ax.legend(fontsize=8, loc="upper right")
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
    replicas_ax.legend(fontsize=8, loc="upper right")
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


def plot_damage(results: Mapping[str, AutoscaleResult | DeployResult | SessionsResult]) -> Figure:
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


def draw_deploy(result: DeployResult, ax: Axes) -> None:
    """Instances by version and state during the deploy, within its two bounds."""
    s = result.scenario
    t = result.timeline
    ax.stackplot(
        t.times,
        t.old_ready,
        t.new_ready,
        t.booting,
        t.draining,
        labels=("old, ready", "new, ready", "new, booting", "old, draining"),
        colors=("tab:gray", "tab:green", "tab:orange", "tab:red"),
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
        ylim=(0, s.replicas + result.surge + 2),
        xlabel="time (s)",
        ylabel="instances",
    )
    ax.legend(fontsize=7, loc="upper right", ncol=2)


def plot_deploy(result: DeployResult) -> Figure:
    """One rolling deploy: which instances exist, and in what state, as it goes."""
    fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
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
