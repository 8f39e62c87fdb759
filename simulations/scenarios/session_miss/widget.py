"""Lessons 01 and 02's explorer: change N, the policy or the store, watch the misses.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn
once and updated in place (rendered to a PNG in an ``Image`` widget), so a redraw stays fast.
The curve for a policy and a store is computed once and kept; moving the instances slider only
runs one simulation. In a notebook: ``session_miss_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.knobs import declared
from simulations.scenarios.session_miss.model import (
    SessionMissResult,
    SessionMissScenario,
    miss_rate_by_instances,
)

WIDGET_REQUESTS = 1_000
MAX_INSTANCES = int(declared(SessionMissScenario)["instances"][1].slider[1])  # the slider's end


def summary(result: SessionMissResult) -> str:
    """One line: the run and how it compares with theory."""
    return (
        f"{result.instances} instance(s), {result.policy}, sessions in {result.store}: "
        f"{result.misses:,} of {result.requests:,} requests found no session "
        f"({result.miss_rate:.1%}; theory {result.expected_miss_rate:.1%})"
    )


class MissRateView:
    """Miss rate against N for one policy and store, the chosen N circled, theory dashed."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.ax = self.figure.add_subplot()
        fine = [1 + (MAX_INSTANCES - 1) * k / 100 for k in range(101)]
        self.ax.plot(
            fine,
            [1 - 1 / n for n in fine],
            "k--",
            lw=1,
            label="theory, sessions in memory: 1 − 1/N",
        )
        (self.curve,) = self.ax.plot([], [], "o-", ms=4, label="simulated")
        (self.chosen,) = self.ax.plot([], [], "o", ms=12, mfc="none", mec="tab:red", mew=2)
        self.ax.set(xlabel="instances N", ylabel="requests that find no session")
        self.ax.set(xlim=(0.5, MAX_INSTANCES + 0.5), ylim=(-0.03, 1.03))
        self.ax.set_xticks(range(1, MAX_INSTANCES + 1))
        self.ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        self.ax.legend(fontsize=8, loc="center right")
        self.figure.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.9)

    def update(self, curve: list[SessionMissResult], result: SessionMissResult) -> bytes:
        """Show ``curve`` and circle ``result``; return the figure as PNG bytes."""
        self.curve.set_data([r.instances for r in curve], [r.miss_rate for r in curve])
        self.chosen.set_data([result.instances], [result.miss_rate])
        self.ax.set_title(f"{result.policy}, sessions in {result.store}", fontsize=9)
        return png_bytes(self.figure)


class SessionMissExplorer(Explorer[SessionMissResult]):
    """Instances, policy and store → the share of requests that find no session."""

    scenario = SessionMissScenario

    per_row = 3  # all three controls on one row

    def __init__(self, requests: int = WIDGET_REQUESTS, seed: int = 0) -> None:
        self.requests, self.seed = requests, seed
        self.curves: dict[tuple[str, str], list[SessionMissResult]] = {}
        controls = {
            "instances": control(SessionMissScenario, "instances", value=2),
            "policy": control(SessionMissScenario, "policy"),
            "store": control(SessionMissScenario, "store", picker=widgets.ToggleButtons),
        }
        super().__init__(controls, MissRateView())

    @property
    def text(self) -> widgets.HTML:
        """The summary line (the same widget as ``summary``)."""
        return self.summary

    def curve(self, policy: str, store: str) -> list[SessionMissResult]:
        """The runs for N = 1 ... MAX_INSTANCES (computed once per policy and store)."""
        if (policy, store) not in self.curves:
            self.curves[policy, store] = miss_rate_by_instances(
                range(1, MAX_INSTANCES + 1),
                requests=self.requests,
                policy=policy,
                store=store,
                seed=self.seed,
            )
        return self.curves[policy, store]

    def run(self, settings: dict[str, Any]) -> SessionMissResult:
        return self.curve(settings["policy"], settings["store"])[settings["instances"] - 1]

    def draw(self, result: SessionMissResult) -> bytes:
        return self.view.update(self.curve(result.policy, result.store), result)

    def describe(self, result: SessionMissResult) -> str:
        return summary(result)


def session_miss_explorer(requests: int = WIDGET_REQUESTS, seed: int = 0) -> widgets.Widget:
    """The session-miss explorer, ready to display as a notebook cell's result."""
    return SessionMissExplorer(requests, seed).widget


EXPLORER = SessionMissExplorer
