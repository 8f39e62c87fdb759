"""Lesson 08's races explorer: change the threads, the load and the wait; watch the mix-ups.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn once and
updated in place (new data on the same artists, rendered to a PNG in an ``Image`` widget), so a
redraw stays fast. In a notebook: ``races_explorer()``.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.races.model import RaceResult, RaceScenario, run_races
from simulations.scenarios.races.plots import theory_curve, unlimited_threads_share

WIDGET_REQUESTS = 2_000
CURVE_POINTS = 60
MAX_LOAD = 6.0  # λw shown on the left panel's axis


def summary(result: RaceResult) -> str:
    """Two lines: the share and its theory; the queue."""
    s = result.scenario
    theory = result.theory
    shown = "none: the pool fills up" if theory is None else f"{theory:.1%}"
    return (
        f"{s.threads} thread(s), λw = {s.offered_load:.2f}: {result.mixups:,} of "
        f"{s.requests:,} requests read another request's user ({result.share:.1%}; theory "
        f"{shown})\n{result.queued:,} waited for a free thread; peak {result.peak_busy} busy"
    )


class RaceView:
    """Left: the share against λw (theory for this T dashed, threads enough dotted, this run
    circled). Right: the first requests on their threads, red when mixed up."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.left, self.right = self.figure.subplots(1, 2, width_ratios=(1, 1.3))
        (self.enough,) = self.left.plot([], [], ":", color="gray", lw=1.2, label="threads enough")
        (self.theory,) = self.left.plot(
            [], [], "--", color="tab:blue", lw=1, label="theory, this T"
        )
        (self.point,) = self.left.plot([], [], "o", ms=9, mfc="none", mec="tab:red", mew=2)
        self.left.set(xlim=(0, MAX_LOAD), ylim=(-0.03, 1.0), xlabel="λ·w", ylabel="mixed up")
        self.left.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        self.left.legend(fontsize=7, loc="lower right")
        self.bars = LineCollection([], lw=5, capstyle="butt")
        self.right.add_collection(self.bars)
        self.right.set(xlabel="time (s)", ylabel="thread")
        self.right.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=1))
        self.figure.subplots_adjust(left=0.09, right=0.98, bottom=0.17, top=0.88, wspace=0.25)

    def update(self, result: RaceResult) -> bytes:
        """Show ``result``; return the figure as PNG bytes."""
        s = result.scenario
        top = max(MAX_LOAD, s.offered_load)
        waits = [top / s.arrival_rate * k / CURVE_POINTS for k in range(1, CURVE_POINTS + 1)]
        loads = [s.arrival_rate * wait for wait in waits]
        self.enough.set_data(loads, [unlimited_threads_share(x, s.handler) for x in loads])
        self.theory.set_data(loads, theory_curve(s.threads, s.arrival_rate, waits, s.handler))
        self.point.set_data([s.offered_load], [result.share])
        self.left.set_xlim(0, top)
        self.left.set_title(f"{s.handler} waits, T = {s.threads}", fontsize=9)
        timeline = result.timeline
        self.bars.set_segments([[(h.start, h.thread), (h.end, h.thread)] for h in timeline])
        self.bars.set_color(["tab:red" if h.mixed_up else "tab:gray" for h in timeline])
        end = max((h.end for h in timeline), default=1.0)
        self.right.set_xlim(0, end * 1.02 if math.isfinite(end) and end > 0 else 1.0)
        self.right.set_ylim(s.threads - 0.5, -0.5)
        mixed = sum(h.mixed_up for h in timeline)
        self.right.set_title(
            f"the first {len(timeline)} requests: {mixed} mixed up (red)", fontsize=9
        )
        return png_bytes(self.figure)


class RacesExplorer(Explorer[RaceResult]):
    """Threads, arrival rate, handler wait and its distribution → the share of mix-ups."""

    scenario = RaceScenario

    def __init__(self, requests: int = WIDGET_REQUESTS, seed: int = 0) -> None:
        self.requests, self.seed = requests, seed
        names = ("threads", "arrival_rate", "wait", "handler")
        controls = {name: control(RaceScenario, name) for name in names}
        super().__init__(controls, RaceView())

    def run(self, settings: dict[str, Any]) -> RaceResult:
        return run_races(**settings, requests=self.requests, seed=self.seed)

    def describe(self, result: RaceResult) -> str:
        return summary(result)


def races_explorer(requests: int = WIDGET_REQUESTS, seed: int = 0) -> widgets.Widget:
    """Lesson 08's races explorer, ready to display as a notebook cell's result."""
    return RacesExplorer(requests, seed).widget


EXPLORER = RacesExplorer
