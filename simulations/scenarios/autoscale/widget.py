"""Lesson 05's explorer: spike the traffic and watch the autoscaler, the boot delay and scale-in.

Same pattern as every explorer (``simulations.explorer.Explorer``): controls made from the
scenario's knobs, one figure updated in place. In a notebook: ``autoscale_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.autoscale.model import AutoscaleResult, AutoscaleScenario, run_autoscale

ONE_RUN = "one run: another seed moves these numbers (lesson 05 shows the spread over ten)"
AUTOSCALE_KEY = (
    "top: requests/s (gray), what the ready instances serve at the target (blue); "
    "bottom: ready instances (blue), ready + booting (orange); shaded: the spike"
)


class AutoscaleView:
    """Load against capacity (top) and instances (bottom), drawn once, then given new data."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3.6), dpi=80)
        self.load_ax, self.replicas_ax = self.figure.subplots(2, 1, sharex=True)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.92, hspace=0.1)
        (self.load,) = self.load_ax.plot([], [], color="tab:gray", lw=1, label="requests/s")
        (self.capacity,) = self.load_ax.plot(
            [], [], color="tab:blue", lw=1.6, drawstyle="steps-post", label="ready × μ × target"
        )
        (self.running,) = self.replicas_ax.plot(
            [], [], color="tab:orange", lw=1.2, drawstyle="steps-post", label="ready + booting"
        )
        (self.ready,) = self.replicas_ax.plot(
            [], [], color="tab:blue", lw=1.6, drawstyle="steps-post", label="ready"
        )
        self.spikes = [ax.axvspan(0, 1, color="tab:red", alpha=0.08) for ax in self.axes]
        # No legends (they cost a fifth of a redraw): the axis labels name the lines.
        self.load_ax.set(ylabel="req/s · capacity")
        self.replicas_ax.set(xlabel="time (s)", ylabel="ready · +booting")

    @property
    def axes(self) -> tuple:
        return (self.load_ax, self.replicas_ax)

    def update(self, result: AutoscaleResult) -> bytes:
        s, t = result.scenario, result.timeline
        running = [r + b for r, b in zip(t.ready, t.booting, strict=True)]
        self.load.set_data(t.times, t.arrival_rate)
        self.capacity.set_data(t.times, [r * s.service_rate * s.target for r in t.ready])
        self.running.set_data(t.times, running)
        self.ready.set_data(t.times, t.ready)
        for span in self.spikes:
            span.set_x(s.spike_at)
            span.set_width(s.spike_duration)
        self.load_ax.set(xlim=(0, s.duration), ylim=(0, max(t.arrival_rate) * 1.1))
        self.replicas_ax.set(ylim=(0, max(running) + 1))
        self.load_ax.set_title(
            f"replicas {result.initial_replicas} → {result.peak_replicas} → "
            f"{result.final_replicas}, p99 in the spike {result.spike_response.p99:.0f} s",
            fontsize=10,
        )
        return png_bytes(self.figure)


class AutoscaleExplorer(Explorer[AutoscaleResult]):
    """Store, routing, spike, boot time, stabilization window, draining → replicas over time."""

    scenario = AutoscaleScenario

    def __init__(self, seed: int = AutoscaleScenario.seed) -> None:
        self.seed = seed
        names = ("store", "policy", "spike_factor", "boot_time", "stabilization_window", "drain")
        controls = {name: control(AutoscaleScenario, name) for name in names}
        super().__init__(controls, AutoscaleView())

    def run(self, settings: dict[str, Any]) -> AutoscaleResult:
        return run_autoscale(**settings, seed=self.seed)

    def describe(self, result: AutoscaleResult) -> str:
        return f"{result.summary()}\n{ONE_RUN}\n{AUTOSCALE_KEY}"


def autoscale_explorer(seed: int = AutoscaleScenario.seed) -> widgets.Widget:
    """Lesson 05's explorer, ready to display as a notebook cell's result."""
    return AutoscaleExplorer(seed).widget


EXPLORER = AutoscaleExplorer
