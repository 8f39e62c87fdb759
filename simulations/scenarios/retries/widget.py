"""Lesson 10's retries explorer: move the load, the timeout, the burst and the retry policy.

It starts with the burst of ``goodput_by_load`` (``BURST``: +50% of capacity for 5 s at 20 s).

Each redraw runs the model once and shows, over time, what the clients offered, the attempts
the servers received and the answers that came back in time, beside the damage (attempts that
timed out, requests done twice, server time wasted). Same pattern as every explorer
(``simulations.explorer.Explorer``): the figure is drawn once and updated in place. In a
notebook: ``retries_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.retries.model import (
    BURST,
    RetriesResult,
    RetriesScenario,
    run_retries,
)

DAMAGE = (  # the share, its label: of attempts, of requests, of the servers' busy time
    ("timeout_share", "timed\nout"),
    ("duplicate_rate", "done\ntwice"),
    ("wasted_share", "work\nwasted"),
)


def summary(result: RetriesResult) -> str:
    """Two lines: what the clients got; what the servers did."""
    s = result.scenario
    policy = s.policy if s.policy == "none" else f"{s.policy} (≤ {s.max_retries} retries)"
    if s.policy != "none" and s.budget:
        policy += f" with a {s.budget_ratio:.0%} budget"
    return (
        f"{policy}: goodput {result.goodput:.1f}/s of {result.offered:.1f}/s offered "
        f"(capacity {s.capacity:g}/s), {result.final_goodput:.1f}/s in the last quarter\n"
        f"{result.attempts:,} attempts for {result.requests:,} requests "
        f"({result.amplification:.2f} each); {result.duplicates:,} requests done twice or more; "
        f"servers {result.utilization:.0%} busy, {result.wasted_share:.0%} of it wasted"
    )


class StormView:
    """Left: requests offered, attempts and answers in time per second, over the run; the
    capacity dashed, the burst shaded. Right: the damage, in %."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.series, self.damage = self.figure.subplots(1, 2, width_ratios=(3, 1))
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.22, top=0.88, wspace=0.3)
        (self.offered,) = self.series.plot([], [], color="tab:gray", lw=1, label="requests")
        (self.attempts,) = self.series.plot([], [], color="tab:red", lw=1.2, label="attempts")
        (self.answers,) = self.series.plot(
            [], [], color="tab:blue", lw=1.5, label="answered in time"
        )
        self.capacity = self.series.axhline(0, color="black", lw=1, ls="--")
        self.burst = self.series.axvspan(0, 0, color="tab:orange", alpha=0.2, lw=0)
        self.series.set(xlabel="time (s)", ylabel="per second")
        self.series.legend(fontsize=8, loc="upper left")
        places = range(len(DAMAGE))
        self.bars = self.damage.bar(list(places), [0.0] * len(DAMAGE), color="tab:red")
        self.damage.set_xticks(list(places), [label for _, label in DAMAGE], fontsize=8)
        self.damage.set_ylim(0, 105)
        self.damage.set_ylabel("% of attempts, requests, busy time", fontsize=8)

    def update(self, result: RetriesResult) -> bytes:
        s = result.scenario
        times = result.series_times
        attempts = result.per_second(result.attempts_per_bin)
        answers = result.per_second(result.answers_per_bin)
        self.offered.set_data(times, result.per_second(result.requests_per_bin))
        self.attempts.set_data(times, attempts)
        self.answers.set_data(times, answers)
        self.capacity.set_ydata([s.capacity, s.capacity])
        start, stop = (s.spike_at, s.spike_at + s.spike_duration) if s.spike else (0.0, 0.0)
        self.burst.set_x(start)
        self.burst.set_width(max(0.0, min(stop, s.duration) - start))
        self.series.set_xlim(0, s.duration)
        self.series.set_ylim(0, 1.1 * max(*attempts, s.capacity))
        self.series.set_title(
            f"{s.policy}{' + budget' if s.budget and s.policy != 'none' else ''}: load "
            f"{s.load:g}, timeout {s.timeout:g} s (dashed: capacity)",
            fontsize=9,
        )
        for bar, (key, _) in zip(self.bars, DAMAGE, strict=True):
            bar.set_height(100 * getattr(result, key))
        return png_bytes(self.figure)


def starts(name: str) -> dict[str, Any]:
    """The explorer starts with the burst that triggers a storm (``BURST``)."""
    return {"value": BURST[name]} if name in BURST else {}


class RetriesExplorer(Explorer[RetriesResult]):
    """Policy, budget, load, timeout, burst and retries → goodput over time and the damage."""

    scenario = RetriesScenario
    per_row = 3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        names = ("policy", "budget", "max_retries", "load", "timeout", "spike")
        controls = {name: control(RetriesScenario, name, **starts(name)) for name in names}
        super().__init__(controls, StormView())

    def run(self, settings: dict[str, Any]) -> RetriesResult:
        return run_retries(**settings, seed=self.seed)

    def describe(self, result: RetriesResult) -> str:
        return summary(result)


def retries_explorer(seed: int = 0) -> widgets.Widget:
    """Lesson 10's retries explorer, ready to display as a notebook cell's result."""
    return RetriesExplorer(seed).widget


EXPLORER = RetriesExplorer
