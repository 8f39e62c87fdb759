"""Lesson 04's explorer: crash instances and watch the requests sent back to the login page.

Same pattern as every explorer (``simulations.explorer.Explorer``): controls made from the
scenario's knobs, a ``redraw()`` that runs the model and draws on one figure (rendered to a PNG
in an ``Image`` widget), and a ``widget`` to display. In a notebook: ``crashes_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.explorer import Explorer, control, png_bytes
from simulations.scenarios.crashes.model import CrashResult, CrashScenario, run_crashes

CRASH_USERS = 400  # fewer than the CLI's 1000: the same fractions, a faster redraw


def run_explored_crashes(
    crash_at: float = 50.0, restart_after: float = 0.0, users: int = CRASH_USERS, **settings: Any
) -> CrashResult:
    """Lesson 04's crash: one crash time; ``restart_after`` 0 means the crashed instances never
    come back; no more crash than instances. ``settings`` are other ``CrashScenario`` fields."""
    instances = settings.get("instances", CrashScenario.instances)
    settings["crashes"] = min(settings.get("crashes", CrashScenario.crashes), instances)
    return run_crashes(
        crash_at=crash_at, restart_after=restart_after or None, users=users, **settings
    )


class CrashView:
    """Sessions in place and forced re-logins over time, drawn once, then given new data."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3), dpi=80)
        self.sessions_ax, self.logins_ax = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
        (self.sessions,) = self.sessions_ax.plot([], [], color="tab:orange", lw=1.6)
        (self.logins,) = self.logins_ax.plot([], [], color="tab:red", lw=1.6)
        self.marks = [
            [ax.axvline(0, color="black", ls=":", lw=1) for ax in self.axes] for _ in range(3)
        ]
        self.sessions_ax.set(xlabel="time (s)", ylabel="users with a session")
        self.logins_ax.set(xlabel="time (s)", ylabel="session misses so far")

    @property
    def axes(self) -> tuple:
        return (self.sessions_ax, self.logins_ax)

    def update(self, result: CrashResult) -> bytes:
        t = result.timeline
        self.sessions.set_data(t.times, t.sessions)
        self.logins.set_data(t.times, t.session_misses)
        events = [e for e in result.events if e.kind in ("crash", "ready")]
        times = sorted({e.time for e in events})
        for k, pair in enumerate(self.marks):
            for line in pair:
                line.set_visible(k < len(times))
                if k < len(times):
                    line.set_xdata([times[k], times[k]])
        s = result.scenario
        self.sessions_ax.set(xlim=(0, s.duration), ylim=(0, s.users * 1.05))
        self.logins_ax.set(xlim=(0, s.duration), ylim=(0, max(t.session_misses[-1], 10) * 1.1))
        self.sessions_ax.set_title(f"{s.store} + {s.policy}: sessions in place", fontsize=10)
        self.logins_ax.set_title("session misses: requests sent to log in", fontsize=10)
        return png_bytes(self.figure)


class CrashesExplorer(Explorer[CrashResult]):
    """Store, routing, instances, how many crash and when, restart → sessions and re-logins."""

    scenario = CrashScenario

    def __init__(self, users: int = CRASH_USERS, seed: int = 0) -> None:
        self.users, self.seed = users, seed
        knob = {name: control(CrashScenario, name) for name in ("store", "policy", "instances")}
        controls = {
            **knob,
            "crashes": control(CrashScenario, "crashes"),
            "crash_at": control(CrashScenario, "crash_at", value=50.0),
            "restart_after": control(CrashScenario, "restart_after", value=0.0),  # 0: never
        }
        super().__init__(controls, CrashView())

    def run(self, settings: dict[str, Any]) -> CrashResult:
        return run_explored_crashes(**settings, users=self.users, seed=self.seed)

    def describe(self, result: CrashResult) -> str:
        return result.summary()


def crashes_explorer(users: int = CRASH_USERS, seed: int = 0) -> widgets.Widget:
    """Lesson 04's explorer, ready to display as a notebook cell's result."""
    return CrashesExplorer(users, seed).widget


EXPLORER = CrashesExplorer
