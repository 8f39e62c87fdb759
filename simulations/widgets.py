"""Interactive controls for the lessons: move a control, the model runs again, the figure redraws.

An *explorer* (a ``simulations.explorer.Explorer``) is a small class with ipywidgets controls, a
``redraw()`` that runs the model with the controls' values and updates the picture, and a
``widget`` to display. Its figure is drawn once and then updated in place (new data on the same
axes, rendered to a PNG shown in an ``Image`` widget), which keeps a redraw fast. ``EXPLORERS``
lists every explorer so ``python -m simulations bench`` can time its default redraw (budget:
median ≤ 150 ms); register new explorers there. In a notebook: ``balance_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.balance import BalanceResult, run_balance
from simulations.explorer import Explorer, png_bytes
from simulations.jwt_widgets import JwtExplorer
from simulations.lifecycle_widgets import AutoscaleExplorer, CrashExplorer
from simulations.plots import MAX_LINES
from simulations.policies import POLICY_NAMES
from simulations.session_miss_widgets import SessionMissExplorer
from simulations.sticky_widgets import StickyExplorer
from simulations.workload import SERVICE_DISTRIBUTIONS

WIDGET_REQUESTS = 5_000  # small enough to redraw in well under 150 ms, big enough to show a tail


def run_explored_balance(
    policy: str = "random",
    instances: int = 4,
    load: float = 0.8,
    service_dist: str = "exponential",
    requests: int = WIDGET_REQUESTS,
    seed: int = 0,
) -> BalanceResult:
    """The run the balance explorer shows: μ = 1 per instance, arrival rate = load × instances."""
    return run_balance(policy, instances, load * instances, 1.0, requests, seed, service_dist)


class QueueLengthView:
    """A queue-lengths-over-time figure drawn once, then given new data on every redraw."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.ax = self.figure.add_subplot()
        self.lines = [self.ax.step([], [], where="post", lw=0.8)[0] for _ in range(MAX_LINES)]
        self.ax.set(xlabel="time (s)", ylabel="requests at instance")
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88)

    def update(self, result: BalanceResult) -> bytes:
        """Show ``result``'s queue lengths; return the figure as PNG bytes."""
        trace = result.queues
        for index, line in enumerate(self.lines):
            line.set_visible(index < result.instances)
            if index < result.instances:
                line.set_data(trace.times, trace.of_instance(index))
        self.ax.relim(visible_only=True)
        self.ax.autoscale_view()
        shown = min(result.instances, MAX_LINES)
        self.ax.set_title(
            f"Queue length of each instance ({shown} of {result.instances} shown) · "
            f"mean {result.response.mean:.2f} s · p99 {result.response.p99:.2f} s",
            fontsize=9,
        )
        return png_bytes(self.figure)


class BalanceExplorer(Explorer[BalanceResult]):
    """Policy, instances, load and service distribution → queue lengths and response times."""

    def __init__(self, requests: int = WIDGET_REQUESTS, seed: int = 0) -> None:
        self.requests, self.seed = requests, seed
        controls = {
            "policy": widgets.Dropdown(options=POLICY_NAMES, value="random", description="policy"),
            "service_dist": widgets.Dropdown(
                options=SERVICE_DISTRIBUTIONS, value="exponential", description="service"
            ),
            "instances": widgets.IntSlider(
                4, min=1, max=16, description="instances", continuous_update=False
            ),
            "load": widgets.FloatSlider(
                0.8, min=0.1, max=0.98, step=0.02, description="load ρ", continuous_update=False
            ),
        }  # rows: policy | service, instances | load
        super().__init__(controls, QueueLengthView())

    def run(self, settings: dict[str, Any]) -> BalanceResult:
        return run_explored_balance(**settings, requests=self.requests, seed=self.seed)

    def describe(self, result: BalanceResult) -> str:
        return result.summary()


def balance_explorer(requests: int = WIDGET_REQUESTS, seed: int = 0) -> widgets.Widget:
    """The load-balancing explorer, ready to display as a notebook cell's result."""
    return BalanceExplorer(requests, seed).widget


EXPLORERS: dict[str, type] = {
    "balance_explorer": BalanceExplorer,
    "sticky_explorer": StickyExplorer,  # lesson 06, in simulations.sticky_widgets
    "crash_explorer": CrashExplorer,  # lesson 04, in simulations.lifecycle_widgets
    "autoscale_explorer": AutoscaleExplorer,  # lesson 05, in simulations.lifecycle_widgets
    "session_miss_explorer": SessionMissExplorer,  # lesson 01, in simulations.session_miss_widgets
    "jwt_explorer": JwtExplorer,  # lesson 07, in simulations.jwt_widgets
}
