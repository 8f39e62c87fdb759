"""Lesson 06's explorer: change the policy, the skew, ε or the load, and watch the hot spot.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn
once and updated in place (new data on the same lines, rendered to a PNG in an ``Image``
widget), so a redraw stays fast. In a notebook: ``sticky_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.knobs import declared
from simulations.scenarios.sticky.model import StickyResult, StickyScenario, run_sticky

WIDGET_REQUESTS = 3_000  # ~1500 s of traffic at the default load: enough for a hot spot to show
MAX_INSTANCES = int(declared(StickyScenario)["instances"][1].slider[1])  # the slider's end


def run_explored_sticky(
    load: float = 0.5, scale_out: bool = False, requests: int = WIDGET_REQUESTS, **settings: Any
) -> StickyResult:
    """Lesson 06's scenario with μ = 1 and λ = load × instances; ``scale_out`` adds an
    instance halfway through the arrivals. ``settings`` are other ``StickyScenario`` fields."""
    arrival_rate = load * settings.get("instances", StickyScenario.instances)
    scale_out_at = requests / arrival_rate / 2 if scale_out else None
    return run_sticky(
        arrival_rate=arrival_rate, requests=requests, scale_out_at=scale_out_at, **settings
    )


def summary(result: StickyResult) -> str:
    """The numbers the lesson is about, in one or two lines."""
    text = (
        f"{result.policy}: imbalance {result.imbalance:.2f} (max / mean load), "
        f"p99 {result.p99_response:.1f} s; the heaviest user "
        f"({result.heaviest_user_share:.0%} of requests) was served by "
        f"{result.heaviest_user_instances} instance(s)"
    )
    if result.new_instance_share is not None and result.fair_share is not None:
        text += (
            f"\nthe new instance got {result.new_instance_share:.1%} of later requests "
            f"(fair share {result.fair_share:.0%})"
        )
    return text


class UtilizationView:
    """Utilization-per-window lines, one per instance, drawn once and then given new data."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.ax = self.figure.add_subplot()
        self.lines = [self.ax.plot([], [], lw=1.0)[0] for _ in range(MAX_INSTANCES + 1)]
        self.marker = self.ax.axvline(0.0, color="gray", ls=":", lw=1)
        self.ax.set(xlabel="time (s)", ylabel="busy fraction", ylim=(0, 1.05))
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88)

    def update(self, result: StickyResult) -> bytes:
        """Show ``result``'s utilization over time; return the figure as PNG bytes."""
        width = result.horizon / len(result.window_starts)
        middles = [start + width / 2 for start in result.window_starts]
        hottest = max(range(len(result.load)), key=result.load.__getitem__)
        rows = result.window_utilization
        for index, line in enumerate(self.lines):
            line.set_visible(index < len(rows))
            if index < len(rows):
                line.set_data(middles, rows[index])
                line.set_linewidth(2.4 if index == hottest else 1.0)
                line.set_linestyle("--" if index == result.new_instance else "-")
        at = result.scenario.scale_out_at
        self.marker.set_visible(at is not None)
        if at is not None:
            self.marker.set_xdata([at, at])
        self.ax.set_xlim(0, result.horizon)
        self.ax.set_title(
            f"{result.policy}: busy fraction per instance (thick: the hottest; dashed: new)",
            fontsize=9,
        )
        return png_bytes(self.figure)


class StickyExplorer(Explorer[StickyResult]):
    """Policy, Zipf skew, instances, load, ε and a scale-out → utilization over time."""

    scenario = StickyScenario

    def __init__(self, requests: int = WIDGET_REQUESTS, seed: int = 42) -> None:
        self.requests, self.seed = requests, seed
        # Named after their knobs (``StickyScenario``), so a knob's ``applies`` rule can tell
        # whether it matters now: ε only under bounded_load, Zipf s only with Zipf activity.
        controls = {
            "policy": control(StickyScenario, "policy"),
            "epsilon": control(StickyScenario, "epsilon"),
            "activity": control(StickyScenario, "activity"),
            "zipf_s": control(StickyScenario, "zipf_s"),
            "instances": control(StickyScenario, "instances"),
            # ρ: the explorer's own knob (arrival rate = ρ × instances × μ), not a field
            "load": widgets.FloatSlider(
                0.5, min=0.1, max=0.9, step=0.05, description="load ρ", continuous_update=False
            ),
            "scale_out": widgets.Checkbox(False, description="add an instance halfway"),
        }
        super().__init__(controls, UtilizationView())

    def run(self, settings: dict[str, Any]) -> StickyResult:
        return run_explored_sticky(**settings, requests=self.requests, seed=self.seed)

    def describe(self, result: StickyResult) -> str:
        return summary(result)


def sticky_explorer(requests: int = WIDGET_REQUESTS, seed: int = 42) -> widgets.Widget:
    """Lesson 06's explorer, ready to display as a notebook cell's result."""
    return StickyExplorer(requests, seed).widget


EXPLORER = StickyExplorer
