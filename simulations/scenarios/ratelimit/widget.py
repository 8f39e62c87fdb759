"""Lesson 08's rate-limit explorer: change the instances, the attack and where the counter lives.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn once and
updated in place (new data on the same artists, rendered to a PNG in an ``Image`` widget), so a
redraw stays fast. In a notebook: ``ratelimit_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.ratelimit.model import (
    RateLimitResult,
    RateLimitScenario,
    run_ratelimit,
)

COLORS = {"memory": "tab:red", "shared": "tab:blue"}


def summary(result: RateLimitResult) -> str:
    """Two lines: what the client got against what it was promised; the instances."""
    s = result.scenario
    scaled = (
        f"the autoscaler launched {result.launched} instance(s), {result.final_instances} at "
        "the end"
        if s.autoscale
        else f"{s.instances} instance(s), no autoscaler"
    )
    return (
        f"counter in {s.state}: {result.effective_limit:.1f} requests per {s.window:g} s window "
        f"got through, {result.effective_limit / s.limit:.2f} × the limit of {s.limit} "
        f"(theory {result.theory_effective_limit:.1f})\n{scaled}; {result.allowed:,} of "
        f"{result.sent:,} attack requests allowed"
    )


class AllowedView:
    """Top: allowed per window, the limit L dashed, N·L dotted. Bottom: instances over time."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3.4), dpi=80)
        self.top, self.bottom = self.figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        (self.allowed,) = self.top.step([], [], where="post", lw=1.5)
        self.limit = self.top.axhline(0, color="black", lw=1, ls="--")
        self.start_limit = self.top.axhline(0, color="gray", lw=1, ls=":")
        self.end_limit = self.top.axhline(0, color="gray", lw=1, ls=":")
        (self.instances,) = self.bottom.step([], [], where="post", lw=1.5)
        self.top.set(ylabel="allowed / window")
        self.bottom.set(xlabel="time (s)", ylabel="instances")
        self.figure.subplots_adjust(left=0.09, right=0.98, bottom=0.14, top=0.9, hspace=0.15)

    def update(self, result: RateLimitResult) -> bytes:
        """Show ``result``; return the figure as PNG bytes."""
        s = result.scenario
        color = COLORS[s.state]
        starts = [k * s.window for k in range(s.windows)]
        values = result.allowed_per_window
        self.allowed.set_data([*starts, starts[-1] + s.window], [*values, values[-1]])
        self.allowed.set_color(color)
        self.limit.set_ydata([s.limit, s.limit])
        most = max(result.instances_per_window)
        self.start_limit.set_ydata([s.instances * s.limit] * 2)
        self.end_limit.set_ydata([most * s.limit] * 2)
        top = max(max(values), most * s.limit, 1)
        self.top.set_ylim(0, 1.15 * top)
        self.top.set_xlim(0, s.duration)
        self.top.set_title(
            f"counter in {s.state}: {result.effective_limit:.0f} per window "
            f"(L = {s.limit}; dotted: N·L)",
            fontsize=9,
        )
        self.instances.set_data(result.series_times, result.series_instances)
        self.instances.set_color(color)
        self.bottom.set_ylim(0, max(result.series_instances) + 1)
        return png_bytes(self.figure)


class RateLimitExplorer(Explorer[RateLimitResult]):
    """Instances, limit, attack rate, counter state and autoscaling → what the client gets."""

    scenario = RateLimitScenario
    per_row = 3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        names = ("instances", "limit", "attack_rate", "state", "autoscale", "max_instances")
        controls = {name: control(RateLimitScenario, name) for name in names}
        super().__init__(controls, AllowedView())

    def run(self, settings: dict[str, Any]) -> RateLimitResult:
        """Run the model (``Explorer.grey_out`` disables max instances without autoscaling);
        a maximum below the starting count is raised to it."""
        settings = dict(settings)
        settings["max_instances"] = max(settings["max_instances"], settings["instances"])
        return run_ratelimit(**settings, seed=self.seed)

    def describe(self, result: RateLimitResult) -> str:
        return summary(result)


def ratelimit_explorer(seed: int = 0) -> widgets.Widget:
    """Lesson 08's rate-limit explorer, ready to display as a notebook cell's result."""
    return RateLimitExplorer(seed).widget


EXPLORER = RateLimitExplorer
