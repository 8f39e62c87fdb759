"""Lesson 12's coldstart explorer: move the burstiness, the instances kept warm, the idle
timeout, the cold start and the rate.

Each redraw runs the model once and shows, over the run, the traffic (requests per second) and
the instances alive, each cold start marked; beside it, the share of requests that started cold
and the share that found their user's data in the instance's memory, against a shared store's.
Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn once and
updated in place. In a notebook: ``coldstart_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.coldstart.model import (
    ColdStartResult,
    ColdStartScenario,
    run_coldstart,
)

CONTROLS = ("burstiness", "keep_warm", "idle_timeout", "cold_start_ms", "rate")
SHARES = (  # the share, its label
    ("cold_share", "started\ncold"),
    ("memory_hit_share", "hit in\nmemory"),
    ("store_hit_share", "hit in a\nstore"),
)
SHARE_COLORS = ("tab:red", "tab:orange", "tab:blue")


class PlatformView:
    """Left, above: requests per second over the run; below: instances alive (kept warm dashed)
    and the cold starts (red ticks). Right: the shares, in %."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3.2), dpi=80)
        grid = self.figure.add_gridspec(2, 2, width_ratios=(3, 1), height_ratios=(1, 1.4))
        self.traffic = self.figure.add_subplot(grid[0, 0])
        self.fleet = self.figure.add_subplot(grid[1, 0], sharex=self.traffic)
        self.shares = self.figure.add_subplot(grid[:, 1])
        self.figure.subplots_adjust(
            left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.28, hspace=0.15
        )
        (self.rate,) = self.traffic.plot([], [], drawstyle="steps-post", color="tab:gray", lw=1)
        self.traffic.set_ylabel("req/s", fontsize=8)
        self.traffic.tick_params(labelbottom=False)
        (self.alive,) = self.fleet.plot(
            [], [], drawstyle="steps-post", color="tab:blue", lw=1.5, label="instances alive"
        )
        (self.kept,) = self.fleet.plot([], [], "--", color="black", lw=1, label="kept warm")
        (self.colds,) = self.fleet.plot(
            [], [], "|", color="tab:red", ms=8, mew=1.5, label="cold starts"
        )
        self.fleet.set(xlabel="time (s)", ylabel="instances")
        self.fleet.legend(fontsize=7, loc="upper right")
        places = list(range(len(SHARES)))
        self.bars = self.shares.bar(places, [0.0] * len(SHARES), color=SHARE_COLORS)
        self.shares.set_xticks(places, [label for _, label in SHARES], fontsize=8)
        self.shares.set_ylim(0, 105)
        self.shares.set_ylabel("% of requests", fontsize=8)

    def update(self, result: ColdStartResult) -> bytes:
        s = result.scenario
        line = result.timeline()
        times = [*line.times, s.duration]
        self.rate.set_data(times, [*line.rate, line.rate[-1]])
        self.alive.set_data(times, [*line.alive, line.alive[-1]])
        self.kept.set_data([0, s.duration], [s.keep_warm, s.keep_warm])
        started = [t for t, count in zip(line.times, line.cold_starts, strict=True) if count]
        self.colds.set_data(started, [0] * len(started))
        top = max(max(line.alive), s.keep_warm, 1)
        self.fleet.set(xlim=(0, s.duration), ylim=(-0.06 * top - 0.5, 1.1 * top + 0.5))
        self.traffic.set_ylim(0, 1.1 * max(max(line.rate), s.rate))
        self.traffic.set_title(
            f"burstiness {s.burstiness:g}, idle timeout {s.idle_timeout:g} s: "
            f"{result.cold_starts:,} cold starts, p99 {result.response.p99:.0f} ms",
            fontsize=9,
        )
        for bar, (key, _) in zip(self.bars, SHARES, strict=True):
            bar.set_height(100 * getattr(result, key))
        return png_bytes(self.figure)


class ColdStartExplorer(Explorer[ColdStartResult]):
    """Burstiness, keep-warm, idle timeout, cold start and rate → the fleet over time, the cold
    share and the memory hits."""

    scenario = ColdStartScenario
    per_row = 3

    def __init__(self, seed: int = 0, **start: Any) -> None:
        self.seed = seed
        controls = {
            name: control(
                ColdStartScenario, name, **({"value": start[name]} if name in start else {})
            )
            for name in CONTROLS
        }
        super().__init__(controls, PlatformView())

    def run(self, settings: dict[str, Any]) -> ColdStartResult:
        return run_coldstart(**settings, seed=self.seed)

    def describe(self, result: ColdStartResult) -> str:
        return result.summary()


def coldstart_explorer(seed: int = 0, **start: Any) -> widgets.Widget:
    """Lesson 12's explorer, ready to display as a notebook cell's result; ``start`` sets the
    controls' first values (``keep_warm=5``)."""
    return ColdStartExplorer(seed, **start).widget


EXPLORER = ColdStartExplorer
