"""Lesson 09's jobs explorer: crash the workers, move the visibility timeout, see both designs.

Each redraw runs the same settings twice, with the queue in memory and with a broker, and shows
side by side what happened to the jobs (lost, redelivered, duplicated, dead-lettered, as % of
those submitted) and their latency. Same pattern as every explorer
(``simulations.explorer.Explorer``): the figure is drawn once and updated in place. In a
notebook: ``jobs_explorer()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.jobs.model import QUEUES, JobsResult, JobsScenario, run_jobs

COLORS = {"memory": "tab:red", "broker": "tab:blue"}
OUTCOMES = ("lost", "redelivered", "duplicated", "dead_lettered")


@dataclass(frozen=True)
class BothDesigns:
    """One redraw: the same settings with the queue in memory and with a broker."""

    memory: JobsResult
    broker: JobsResult

    def of(self, queue: str) -> JobsResult:
        return self.memory if queue == "memory" else self.broker


def summary(both: BothDesigns) -> str:
    """Two lines, one per design: what happened to the jobs, and their latency."""
    m, b = both.memory, both.broker
    s = b.scenario
    return (
        f"queue in memory: {m.lost:,} of {m.submitted:,} jobs lost in {m.crashes} crashes "
        f"(theory {m.expected_lost:.1f}), mean latency {m.mean_latency:.2f} s\n"
        f"broker (V = {s.visibility_timeout:g} s): nothing lost; {b.redelivered:,} redeliveries, "
        f"{b.duplicated:,} jobs ran twice or more, {b.dead_lettered:,} dead-lettered; mean "
        f"latency {b.mean_latency:.2f} s"
        + (
            f", {b.mean_redelivered_latency:.1f} s for the redelivered"
            if b.redelivered_latencies
            else ""
        )
    )


class OutcomesView:
    """Left: outcomes as % of the jobs, memory and broker bars side by side. Right: latency
    (mean and p95) of both designs."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.outcomes, self.latency = self.figure.subplots(1, 2, width_ratios=(2, 1))
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.88, wspace=0.3)
        places = range(len(OUTCOMES))
        self.bars = {
            queue: self.outcomes.bar(
                [p + (k - 0.5) * 0.38 for p in places],
                [0.0] * len(OUTCOMES),
                width=0.38,
                color=COLORS[queue],
                label="queue in memory" if queue == "memory" else "broker",
            )
            for k, queue in enumerate(QUEUES)
        }
        self.outcomes.set_xticks(list(places), [name.replace("_", "-") for name in OUTCOMES])
        self.outcomes.set_ylabel("% of jobs submitted")
        self.outcomes.legend(fontsize=8, loc="upper right")
        self.latency_bars = {
            queue: self.latency.bar(
                [k - 0.2, k + 0.2], [0.0, 0.0], width=0.38, color=COLORS[queue], alpha=a
            )
            for k, (queue, a) in enumerate(zip(QUEUES, (1.0, 1.0), strict=True))
        }
        self.latency.set_xticks([-0.2, 0.2, 0.8, 1.2], ["mean", "p95", "mean", "p95"])
        self.latency.set_ylabel("submit → first completion (s)")
        self.latency.set_title("latency")

    def update(self, both: BothDesigns) -> bytes:
        top = 1.0
        for queue, bars in self.bars.items():
            result = both.of(queue)
            for bar, name in zip(bars, OUTCOMES, strict=True):
                height = 100 * result.share(getattr(result, name))
                bar.set_height(height)
                top = max(top, height)
        self.outcomes.set_ylim(0, 1.2 * top)
        self.outcomes.set_title(
            f"{both.broker.submitted:,} jobs, {both.memory.crashes} and {both.broker.crashes} "
            "crashes",
            fontsize=9,
        )
        highest = 1.0
        for queue, bars in self.latency_bars.items():
            result = both.of(queue)
            for bar, value in zip(bars, (result.mean_latency, result.p95_latency), strict=True):
                value = value if value == value else 0.0  # NaN: nothing completed
                bar.set_height(value)
                highest = max(highest, value)
        self.latency.set_ylim(0, 1.15 * highest)
        return png_bytes(self.figure)


class JobsExplorer(Explorer[BothDesigns]):
    """Workers, crash rate, job time and the visibility timeout → both designs' outcomes."""

    scenario = JobsScenario
    per_row = 3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        names = ("workers", "crash_rate", "service_time", "visibility_timeout", "service")
        controls = {name: control(JobsScenario, name) for name in names}
        super().__init__(controls, OutcomesView())

    def run(self, settings: dict[str, Any]) -> BothDesigns:
        return BothDesigns(*(run_jobs(queue=queue, **settings, seed=self.seed) for queue in QUEUES))

    def describe(self, result: BothDesigns) -> str:
        return summary(result)


def jobs_explorer(seed: int = 0) -> widgets.Widget:
    """Lesson 09's jobs explorer, ready to display as a notebook cell's result."""
    return JobsExplorer(seed).widget


EXPLORER = JobsExplorer
