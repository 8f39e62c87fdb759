"""Lesson 03's explorer: move a control, the balance model runs again, the figure redraws.

An *explorer* (a ``simulations.explorer.Explorer``) is a small class with ipywidgets controls, a
``redraw()`` that runs the model with the controls' values and updates the picture, and a
``widget`` to display. Its figure is drawn once and then updated in place (new data on the same
axes, rendered to a PNG shown in an ``Image`` widget), which keeps a redraw fast. In a notebook:
``balance_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.replications import mean_interval, replication_seeds
from simulations.scenarios.balance.model import BalanceResult, BalanceScenario, run_balance
from simulations.scenarios.balance.plots import MAX_LINES

WIDGET_REQUESTS = 5_000  # small enough to redraw in well under 150 ms, big enough to show a tail
RUNS = 3  # the drawn run and independent ones like it: the summary's 95% interval


def run_explored_balance(
    policy: str = BalanceScenario.policy,
    load: float = 0.8,
    requests: int = WIDGET_REQUESTS,
    **settings: Any,
) -> BalanceResult:
    """The run the balance explorer shows: μ = 1 per instance, arrival rate = load × instances;
    ``settings`` are other ``BalanceScenario`` fields (their defaults are the scenario's)."""
    instances = settings.pop("instances", BalanceScenario.instances)
    return run_balance(
        policy=policy,
        instances=instances,
        arrival_rate=load * instances,
        service_rate=1.0,
        requests=requests,
        **settings,
    )


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

    scenario = BalanceScenario

    def __init__(self, requests: int = WIDGET_REQUESTS, seed: int = 0) -> None:
        self.requests, self.seed = requests, seed
        controls = {
            name: control(BalanceScenario, name) for name in ("policy", "service_dist", "instances")
        }
        # ρ = λ / (n μ): the explorer's own knob, not a scenario field
        controls["load"] = widgets.FloatSlider(
            0.8, min=0.1, max=0.98, step=0.02, description="load ρ", continuous_update=False
        )  # rows: policy | service, instances | load
        super().__init__(controls, QueueLengthView())

    def run(self, settings: dict[str, Any]) -> BalanceResult:
        """The run to draw; ``RUNS - 1`` more with independent seeds give the summary's
        interval (``means``)."""
        shown = run_explored_balance(**settings, requests=self.requests, seed=self.seed)
        others = [
            run_explored_balance(**settings, requests=self.requests, seed=seed)
            for seed in replication_seeds(self.seed, RUNS - 1)
        ]
        self.means = [run.mean_response for run in (shown, *others)]
        return shown

    def describe(self, result: BalanceResult) -> str:
        mean = sum(self.means) / len(self.means)
        low, high = mean_interval(self.means)
        return (
            f"{result.summary()}\nthis run and {RUNS - 1} more like it: mean {mean:.2f} s, 95% "
            f"interval {low:.2f} … {high:.2f} s (short runs are noisy: lesson 03, section 5)"
        )


def balance_explorer(requests: int = WIDGET_REQUESTS, seed: int = 0) -> widgets.Widget:
    """The load-balancing explorer, ready to display as a notebook cell's result."""
    return BalanceExplorer(requests, seed).widget


EXPLORER = BalanceExplorer
