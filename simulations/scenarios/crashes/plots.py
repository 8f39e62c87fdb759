"""Figures for lesson 04: the same users and crash under each session store and routing.

``plot_crash`` returns a figure without showing it (a notebook cell ends with ``plt.show()``);
``draw_sessions_over_time`` draws on given axes, so the explorer reuses it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import SETUP_COLORS
from simulations.scenarios.crashes.model import CrashResult


def _mark_crashes(ax: Axes, result: CrashResult) -> None:
    for event in result.events:
        if event.kind == "crash":
            ax.axvline(event.time, color="black", ls=":", lw=1)
        elif event.kind == "ready":
            ax.axvline(event.time, color="tab:green", ls=":", lw=1)


def draw_sessions_over_time(
    results: Mapping[str, CrashResult], sessions_ax: Axes, logins_ax: Axes
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


def plot_crash(results: Mapping[str, CrashResult]) -> Figure:
    """The same users and the same crash, one line per setup (store + routing)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    draw_sessions_over_time(results, left, right)
    return fig
