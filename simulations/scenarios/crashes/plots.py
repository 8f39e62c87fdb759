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


# Lines that lie on top of each other stay visible: the first is wide and solid, the later
# ones narrower and broken, so the one beneath shows through (and the lines end in a marker).
LINE_STYLES = (
    {"lw": 3.2, "ls": "-", "marker": "o"},
    {"lw": 1.8, "ls": (0, (5, 2)), "marker": "s"},
    {"lw": 1.4, "ls": (0, (1, 1.5)), "marker": "^"},
)


def draw_sessions_over_time(
    results: Mapping[str, CrashResult], sessions_ax: Axes, misses_ax: Axes
) -> None:
    """Left: users who have a session; right: session misses so far (requests that found no
    session and sent their user to the login page), each line labelled with the run's total.
    Dotted: crashes (black), an instance back (green)."""
    styles = zip(SETUP_COLORS, LINE_STYLES, strict=False)
    for (name, result), (color, style) in zip(results.items(), styles, strict=False):
        t = result.timeline
        for ax, values in ((sessions_ax, t.sessions), (misses_ax, t.session_misses)):
            ax.plot(t.times, values, color=color, label=name, markevery=[-1], **style)
        misses_ax.annotate(  # the run's total, as the table prints it
            f"{result.session_misses:,}",
            (t.times[-1], t.session_misses[-1]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            color=color,
            fontsize=8,
        )
    first = next(iter(results.values()))
    for ax in (sessions_ax, misses_ax):
        _mark_crashes(ax, first)
        ax.set_xlabel("time (s)")
    sessions_ax.set_ylim(bottom=0)
    sessions_ax.set(ylabel="users with a session", title="Sessions in place")
    misses_ax.set(
        ylabel="session misses so far", title="Session misses: requests sent to the login page"
    )
    misses_ax.set_yscale("symlog", linthresh=100)
    most = max(result.session_misses for result in results.values())
    misses_ax.set_ylim(-8, max(most, 100) * 2)  # a line at 0 sits above the axis, not under it
    duration = first.scenario.duration
    misses_ax.set_xlim(right=duration * 1.2)  # room for the totals
    misses_ax.set_xticks([tick for tick in sessions_ax.get_xticks() if 0 <= tick <= duration])
    sessions_ax.legend(fontsize=8, loc="lower left")


def plot_crash(results: Mapping[str, CrashResult]) -> Figure:
    """The same users and the same crash, one line per setup (store + routing)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    draw_sessions_over_time(results, left, right)
    return fig
