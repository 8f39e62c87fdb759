"""Lesson 02's explorer: N instances and one shared store; move the store's cost, or break it.

Each redraw runs ``REPLICATIONS`` short independent runs of ``WINDOW`` seconds (the incident,
if any, starts at ``INCIDENT_AT``), shows the first one's timeline, and gives the mean response
time with its 95% interval over the runs next to theory: a short run is noisy, and the summary
says how noisy. In a notebook: ``store_explorer()``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.replications import mean_interval, replication_seeds
from simulations.scenarios.store.model import BIN_SECONDS, StoreResult, StoreScenario, simulate

WINDOW = 6.0  # seconds of traffic per run
INCIDENT_AT = 2.0
REPLICATIONS = 3
WARMUP_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class StoreRuns:
    """The runs of one redraw: the first is drawn, all give the interval."""

    runs: tuple[StoreResult, ...]

    @property
    def first(self) -> StoreResult:
        return self.runs[0]

    @property
    def means(self) -> list[float]:
        return [run.response.mean for run in self.runs if run.served]


def summary(shown: StoreRuns) -> str:
    """Two lines: the mean with its interval next to theory, then what failed."""
    s = shown.first.scenario
    means = shown.means
    mean = sum(means) / len(means) if means else math.nan
    low, high = mean_interval(means) if len(means) > 1 else (math.nan, math.nan)
    expected = shown.first.expected_ms
    theory = (
        f"theory {expected:.2f} ms"
        if math.isfinite(expected)
        else (
            "theory: none (the store cannot keep up)"
            if expected == math.inf
            else "theory: none during an incident"
        )
    )
    failed = sum(run.failed for run in shown.runs)
    total = failed + sum(run.served for run in shown.runs)
    where = (
        "in each instance"
        if s.store == "memory"
        else (
            f"in a shared store ({s.calls} call(s) per request, store busy "
            f"{shown.first.store_utilization:.0%})"
        )
    )
    return (
        f"{s.instances} instance(s), sessions {where}: mean response {mean:.2f} ms, 95% interval "
        f"{low:.2f} … {high:.2f} ms over {len(shown.runs)} runs of {WINDOW:g} s ({theory})\n"
        f"failed (503): {failed:,} of {total:,} requests ({failed / total:.1%})"
    )


class TimelineView:
    """Throughput (served, failed) and mean response time over one run, the incident shaded.
    The artists are made once and updated in place (a redraw stays within its budget)."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3), dpi=80)
        self.served, self.latency = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
        starts = [k * BIN_SECONDS for k in range(round(WINDOW / BIN_SECONDS))]
        zeros = [0.0] * len(starts)
        self.ok = self.served.bar(
            starts, zeros, width=BIN_SECONDS, align="edge", color="tab:green", label="served"
        )
        self.bad = self.served.bar(
            starts, zeros, width=BIN_SECONDS, align="edge", color="tab:red", label="failed (503)"
        )
        (self.mean,) = self.latency.plot([], [], ".-", ms=3, lw=1, label="mean response")
        self.theory = self.latency.axhline(0, color="k", ls="--", lw=1, label="theory (mean)")
        self.spans = [
            ax.axvspan(INCIDENT_AT, INCIDENT_AT + 1, color="0.85", zorder=0, label="incident")
            for ax in (self.served, self.latency)
        ]
        for ax in (self.served, self.latency):
            ax.set_xlim(0, WINDOW)
            ax.set_xlabel("time (s)")
        self.served.set_ylabel("requests per second")
        self.latency.set_ylabel("mean response (ms)")
        self.served.set_title("one run: requests per second", fontsize=9)
        self.latency.set_title("its mean response time, per half second", fontsize=9)
        self.served.legend(fontsize=8, loc="upper left", ncol=3)
        self.latency.legend(fontsize=8, loc="upper right")

    def update(self, shown: StoreRuns) -> bytes:
        run = shown.first
        s = run.scenario
        rows = run.timeline[: len(self.ok)]
        rows += ((0.0, 0, 0, 0.0),) * (len(self.ok) - len(rows))
        for ok, bad, (_, served, failed, _) in zip(self.ok, self.bad, rows, strict=True):
            ok.set_height(served / BIN_SECONDS)
            bad.set_y(served / BIN_SECONDS)
            bad.set_height(failed / BIN_SECONDS)
        top = max([(row[1] + row[2]) / BIN_SECONDS for row in rows] + [1.0])
        self.served.set_ylim(0, 1.45 * top)
        points = [(row[0] + BIN_SECONDS / 2, row[3]) for row in rows if row[1]]
        self.mean.set_data(  # nothing served in a bin: no mean, the line breaks
            [row[0] + BIN_SECONDS / 2 for row in rows],
            [row[3] if row[1] else math.nan for row in rows],
        )
        expected = run.expected_ms
        self.theory.set_visible(math.isfinite(expected))
        if math.isfinite(expected):
            self.theory.set_ydata([expected, expected])
        highest = max([y for _, y in points] + [expected if math.isfinite(expected) else 1.0])
        self.latency.set_ylim(0, 1.3 * highest)
        incident = s.store == "shared" and s.incident != "none"
        for span in self.spans:
            span.set_visible(incident)
            span.set_x(s.incident_at)
            span.set_width(s.incident_for)
        return png_bytes(self.figure)


class StoreExplorer(Explorer[StoreRuns]):
    """Instances, sessions, store calls and time, round trip and an incident → what requests pay."""

    scenario = StoreScenario
    per_row = 3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        controls = {
            "instances": control(StoreScenario, "instances"),
            "store": control(StoreScenario, "store", picker=widgets.ToggleButtons),
            "calls": control(StoreScenario, "calls"),
            "store_ms": control(StoreScenario, "store_ms"),
            "rtt_ms": control(StoreScenario, "rtt_ms"),
            "incident": control(StoreScenario, "incident", picker=widgets.ToggleButtons),
            "slow_factor": control(StoreScenario, "slow_factor"),
            "incident_for": control(StoreScenario, "incident_for"),
        }
        super().__init__(controls, TimelineView())

    def run(self, settings: dict[str, Any]) -> StoreRuns:
        rate = StoreScenario.rate
        requests = max(10, round(settings["instances"] * rate * WINDOW))
        base = StoreScenario(
            **settings,
            incident_at=INCIDENT_AT,
            requests=requests,
            warmup=round(requests * WARMUP_SECONDS / WINDOW),
            seed=self.seed,
        )
        seeds = replication_seeds(self.seed, REPLICATIONS)
        return StoreRuns(tuple(simulate(dataclasses.replace(base, seed=s)) for s in seeds))

    def draw(self, result: StoreRuns) -> bytes:
        return self.view.update(result)

    def describe(self, result: StoreRuns) -> str:
        return summary(result)


def store_explorer(seed: int = 0) -> widgets.Widget:
    """The store explorer, ready to display as a notebook cell's result."""
    return StoreExplorer(seed).widget


EXPLORER = StoreExplorer
