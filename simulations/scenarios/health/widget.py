"""Lesson 11's explorer: choose what the probes check, how long Redis is down, whether an
instance hangs, and watch the fleet over time.

Each redraw runs the model once and shows the instances in the balancer's pool, those whose
process answers and those that are useful (both, with Redis up), step by step, with Redis'
outage shaded and each restart marked; beside it, the requests by outcome. Same pattern as
every explorer (``simulations.explorer.Explorer``): the figure is drawn once and updated in
place. In a notebook: ``health_explorer()``. A hang at 0 s means no hang here.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.health.model import HealthResult, HealthScenario, run_health
from simulations.scenarios.health.plots import OUTCOMES

CONTROLS = (
    "liveness",
    "readiness",
    "instances",
    "outage",
    "hang_at",
    "boot",
    "liveness_period",
    "liveness_threshold",
)


def run_explored_health(hang_at: float | None = 0.0, **settings: Any) -> HealthResult:
    """One run as the explorer sets it: ``hang_at`` 0 (or ``None``) means no hang; the other
    ``settings`` are ``HealthScenario`` fields."""
    return run_health(hang_at=hang_at or None, **settings)


class FleetView:
    """Left: the fleet over time (steps), Redis' outage shaded, restarts marked. Right: the
    requests by outcome, in %."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3), dpi=80)
        self.fleet, self.outcomes = self.figure.subplots(1, 2, width_ratios=(3, 1))
        self.figure.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.88, wspace=0.25)
        self.outage = self.fleet.axvspan(0, 0, color="tab:orange", alpha=0.2, lw=0)
        lines = (
            ("in the pool", "tab:blue", 2.4),
            ("process answers", "tab:gray", 1.4),
            ("useful (Redis up)", "tab:green", 1.8),
        )
        self.steps = [
            self.fleet.plot([], [], drawstyle="steps-post", color=color, lw=width, label=label)[0]
            for label, color, width in lines
        ]
        (self.hang,) = self.fleet.plot([], [], ":", color="tab:purple", lw=1.2)
        (self.restarts,) = self.fleet.plot([], [], "v", color="tab:red", ms=6, label="restart")
        self.fleet.set(xlabel="time (s)", ylabel="instances")
        self.fleet.legend(fontsize=7, loc="lower left")
        places = list(range(len(OUTCOMES)))
        self.bars = self.outcomes.bar(
            places, [0.0] * len(OUTCOMES), color=[c for *_, c in OUTCOMES]
        )
        self.outcomes.set_xticks(places, [label for _, label, _ in OUTCOMES], fontsize=8)
        self.outcomes.set_ylim(0, 105)
        self.outcomes.set_ylabel("% of requests", fontsize=8)

    def update(self, result: HealthResult) -> bytes:
        s, t = result.scenario, result.timeline
        for line, values in zip(self.steps, (t.ready, t.serving, t.useful), strict=True):
            line.set_data(t.times, [*values, values[-1]])
        self.outage.set_x(s.outage_at)
        self.outage.set_width(s.outage)
        top = s.instances + 0.3
        self.restarts.set_data(result.restart_times, [top] * len(result.restart_times))
        hang = [] if s.hang_at is None else [s.hang_at, s.hang_at]
        self.hang.set_data(hang, [-0.2, s.instances + 0.8] if hang else [])
        self.fleet.set(xlim=(0, s.duration), ylim=(-0.2, s.instances + 0.8))
        readiness = "on Redis" if s.readiness == "dependency" else "always ready"
        liveness = "on the process" if s.liveness == "process" else "on Redis"
        self.fleet.set_title(
            f"liveness {liveness}, readiness {readiness}: {result.restarts} restarts",
            fontsize=9,
        )
        total = max(result.requests, 1)
        for bar, (key, _, _) in zip(self.bars, OUTCOMES, strict=True):
            bar.set_height(100 * getattr(result, key) / total)
        return png_bytes(self.figure)


class HealthExplorer(Explorer[HealthResult]):
    """Liveness and readiness designs, Redis' outage, a hang, boot and the liveness probe →
    the fleet over time and the requests' outcomes."""

    scenario = HealthScenario
    per_row = 3

    def __init__(self, seed: int = 0, **start: Any) -> None:
        self.seed = seed
        values = {"hang_at": 0.0, **start}  # 0: no hang
        controls = {
            name: control(
                HealthScenario, name, **({"value": values[name]} if name in values else {})
            )
            for name in CONTROLS
        }
        super().__init__(controls, FleetView())

    def run(self, settings: dict[str, Any]) -> HealthResult:
        return run_explored_health(**settings, seed=self.seed)

    def describe(self, result: HealthResult) -> str:
        return result.summary()


def health_explorer(seed: int = 0, **start: Any) -> widgets.Widget:
    """Lesson 11's explorer, ready to display as a notebook cell's result; ``start`` sets the
    controls' first values (``liveness="dependency"``)."""
    return HealthExplorer(seed, **start).widget


EXPLORER = HealthExplorer
