"""Lesson 09's reconnect explorer: crash one instance and watch its clients come back.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn once and
updated in place (new data on the same artists, rendered to a PNG). In a notebook:
``events_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.events.model import BUCKET, EventsResult, EventsScenario, run_events

COLORS = {"none": "tab:red", "fixed": "tab:orange", "jitter": "tab:green"}
SECONDS = 6.0  # shown after the crash


def summary(result: EventsResult) -> str:
    """Two lines: the storm, then what the gap cost."""
    s = result.scenario
    return (
        f"{result.dropped:,} clients dropped: {result.attempts:,} attempts, "
        f"{result.failed_attempts:,} failed; at most {result.peak_per_instance:,} on one survivor "
        f"in {BUCKET * 1000:g} ms (it accepts {result.capacity_per_bucket:g}); "
        f"all back after {result.reconnect_time:.2f} s\n"
        f"{result.missed:,} events missed during the gaps (mean gap {result.mean_gap:.2f} s); "
        f"delivered {result.delivered_fraction:.1%} of events × clients through {s.pubsub}"
    )


class StormView:
    """Left: attempts per 100 ms per survivor, the accept capacity dashed. Right: clients still
    disconnected."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.rate, self.away = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.9, wspace=0.25)
        (self.attempts,) = self.rate.step([], [], where="post", lw=1.5)
        self.capacity = self.rate.axhline(
            0, color="black", ls="--", lw=1, label="what a survivor accepts"
        )
        (self.still,) = self.away.step([], [], where="post", lw=1.5)
        for ax in (self.rate, self.away):
            ax.set_xlim(0, SECONDS)
            ax.set_xlabel("seconds since the crash")
        self.rate.set_ylabel(f"attempts / {BUCKET * 1000:g} ms / survivor")
        self.away.set_ylabel("clients disconnected")
        self.rate.set_title("reconnect attempts")
        self.away.set_title("clients still away")
        self.rate.legend(fontsize=8, loc="upper right")

    def update(self, result: EventsResult) -> bytes:
        s = result.scenario
        color = COLORS[s.backoff]
        kept = round(SECONDS / BUCKET)
        times = [k * BUCKET for k in range(min(kept, len(result.attempts_per_bucket)))]
        per_survivor = [n / s.survivors for n in result.attempts_per_bucket[: len(times)]]
        self.attempts.set_data([*times, len(times) * BUCKET], [*per_survivor, 0.0])
        self.attempts.set_color(color)
        self.capacity.set_ydata([result.capacity_per_bucket] * 2)
        self.rate.set_ylim(0, 1.15 * max([*per_survivor, result.capacity_per_bucket, 1.0]))
        away = result.disconnected_per_bucket[: len(times)]
        self.still.set_data([0.0, *[t + BUCKET for t in times]], [result.dropped, *away])
        self.still.set_color(color)
        self.away.set_ylim(0, 1.1 * max(result.dropped, 1))
        return png_bytes(self.figure)


class EventsExplorer(Explorer[EventsResult]):
    """Instances, clients, backoff and handshake time → the reconnect storm after a crash."""

    scenario = EventsScenario
    per_row = 3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        controls = {
            "instances": control(EventsScenario, "instances"),
            "clients": control(EventsScenario, "clients"),
            "handshake_ms": control(EventsScenario, "handshake_ms"),
            "backoff": control(EventsScenario, "backoff", picker=widgets.ToggleButtons),
            "base": control(EventsScenario, "base"),
            "pubsub": control(EventsScenario, "pubsub", picker=widgets.ToggleButtons),
        }
        super().__init__(controls, StormView())

    def run(self, settings: dict[str, Any]) -> EventsResult:
        return run_events(**settings, seed=self.seed)

    def describe(self, result: EventsResult) -> str:
        return summary(result)


def events_explorer(seed: int = 0) -> widgets.Widget:
    """Lesson 09's reconnect explorer, ready to display as a notebook cell's result."""
    return EventsExplorer(seed).widget


EXPLORER = EventsExplorer
