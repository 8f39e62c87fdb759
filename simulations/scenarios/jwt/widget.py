"""Lesson 07's explorer: change the token lifetime, the revocation strategy and the load.

Same pattern as every explorer (``simulations.explorer.Explorer``): the figure is drawn
once and updated in place (new data on the same artists, rendered to a PNG in an ``Image``
widget), so a redraw stays fast. In a notebook: ``jwt_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.jwt.model import JwtResult, JwtScenario, run_jwt

WIDGET_USERS = 500  # small enough to redraw in a blink; ~180 revocations in the hour
WIDGET_REQUEST_RATE = 0.01  # requests per second per user (and per thief)
WIDGET_DURATION = 3600.0


def run_explored_jwt(**settings: Any) -> JwtResult:
    """The run the explorer shows: ``JwtScenario`` fields (the scenario's defaults), with the
    explorer's smaller population and traffic; the delay counts only with a denylist."""
    settings = {
        "users": WIDGET_USERS,
        "request_rate": WIDGET_REQUEST_RATE,
        "duration": WIDGET_DURATION,
        **settings,
    }
    if settings.get("revocation", JwtScenario.revocation) != "denylist":
        settings["denylist_delay"] = 0.0
    return run_jwt(**settings)


def summary(result: JwtResult) -> str:
    """The numbers the lesson is about, in two lines."""
    mean = result.mean_exposure
    exposure = "no revocation in this run" if mean is None else f"{mean:.0f} s on average"
    return (
        f"{result.scenario.revocation}: a revoked token kept working {exposure} "
        f"(max {result.max_exposure or 0:.0f} s); {result.attacker_requests_accepted} stolen-token "
        f"requests served\n{result.denylist_lookups} denylist lookups for {result.requests} "
        f"requests; denylist peak {result.denylist_peak_entries} entries"
    )


class ExposureView:
    """Exposure per revocation (left) and denylist size (right), drawn once, then updated."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8, 3), dpi=80)
        self.left, self.right = self.figure.subplots(1, 2, width_ratios=(1.8, 1))
        self.dots = self.left.scatter([], [], s=10, alpha=0.7)
        self.mean = self.left.axhline(0, ls="--", lw=1, color="black")
        self.ttl = self.left.axhline(0, ls=":", lw=1, color="gray")
        (self.size,) = self.right.step([], [], where="post", color="tab:blue")
        self.left.set(xlabel="time of the revocation (s)", ylabel="exposure window (s)")
        self.right.set(xlabel="time (s)", ylabel="denylist entries")
        self.figure.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.88, wspace=0.3)

    def update(self, result: JwtResult) -> bytes:
        """Show ``result``; return the figure as PNG bytes."""
        s = result.scenario
        color = "tab:red" if s.revocation == "none" else "tab:blue"
        points = [(revocation.time, revocation.exposure) for revocation in result.revocations]
        self.dots.set_offsets(points or [(0.0, 0.0)])
        self.dots.set_visible(bool(points))
        self.dots.set_color(color)
        mean = result.mean_exposure or 0.0
        self.mean.set_ydata([mean, mean])
        self.ttl.set_ydata([s.token_ttl, s.token_ttl])
        self.left.set_xlim(0, s.duration)
        self.left.set_ylim(-0.04 * s.token_ttl, 1.08 * s.token_ttl)
        self.left.set_title(f"exposure windows (dashed: mean {mean:.0f} s)", fontsize=9)
        self.size.set_data(result.series_times, result.series_entries)
        self.right.set_xlim(0, s.duration)
        peak = result.denylist_peak_entries
        self.right.set_ylim(0, 1.2 * max(s.revocation_rate * s.token_ttl, peak, 1))
        self.right.set_title(f"denylist size (peak {result.denylist_peak_entries})", fontsize=9)
        return png_bytes(self.figure)


class JwtExplorer(Explorer[JwtResult]):
    """Token TTL, revocation strategy, denylist delay and revocation rate → exposure and cost."""

    scenario = JwtScenario

    def __init__(self, users: int = WIDGET_USERS, seed: int = 42) -> None:
        self.users, self.seed = users, seed
        names = ("revocation", "token_ttl", "denylist_delay", "revocation_rate")
        controls = {name: control(JwtScenario, name) for name in names}
        super().__init__(controls, ExposureView())

    def run(self, settings: dict[str, Any]) -> JwtResult:
        """Run the model (``Explorer.grey_out`` disables the delay without a denylist)."""
        return run_explored_jwt(**settings, users=self.users, seed=self.seed)

    def describe(self, result: JwtResult) -> str:
        return summary(result)


def jwt_explorer(users: int = WIDGET_USERS, seed: int = 42) -> widgets.Widget:
    """Lesson 07's explorer, ready to display as a notebook cell's result."""
    return JwtExplorer(users, seed).widget


EXPLORER = JwtExplorer
