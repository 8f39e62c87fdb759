"""Lesson 05's deploy explorer: replace every instance and watch the bounds and the sessions.

Same pattern as every explorer (``simulations.explorer.Explorer``): controls made from the
scenario's knobs, one figure redrawn on every change (a stack plot cannot take new data in
place, so its axes are cleared and drawn again by ``plots.draw_deploy``). In a notebook:
``deploy_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.deploy.model import DeployResult, DeployScenario, run_deploy
from simulations.scenarios.deploy.plots import draw_deploy


class DeployView:
    """Instances by version and state during the deploy, within its two bounds."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=72)
        self.ax = self.figure.add_subplot()
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9)

    def update(self, result: DeployResult) -> bytes:
        self.ax.clear()
        draw_deploy(result, self.ax)
        took = result.deploy_time
        self.ax.set_title(
            f"{result.scenario.store} sessions: surge {result.surge}, unavailable "
            f"{result.unavailable}, " + ("unfinished" if took is None else f"took {took:.0f} s"),
            fontsize=10,
            y=1.0,
        )
        return png_bytes(self.figure)


class DeployExplorer(Explorer[DeployResult]):
    """Store, routing, replicas, boot time, draining → the deploy's course and its damage."""

    scenario = DeployScenario

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        names = ("store", "policy", "replicas", "boot_time", "drain")
        controls = {name: control(DeployScenario, name) for name in names}
        super().__init__(controls, DeployView())

    def run(self, settings: dict[str, Any]) -> DeployResult:
        return run_deploy(**settings, seed=self.seed)

    def describe(self, result: DeployResult) -> str:
        return (
            f"sessions lost {result.sessions_lost} ({result.sessions_at_deploy} in place when the "
            f"deploy began); users forced to log in {result.users_forced_to_login} "
            f"({result.users_logged_out_twice} of them twice); failed requests "
            f"{result.failed_requests}"
        )


def deploy_explorer(seed: int = 0) -> widgets.Widget:
    """Lesson 05's deploy explorer, ready to display as a notebook cell's result."""
    return DeployExplorer(seed).widget


EXPLORER = DeployExplorer
