"""Explorers for lessons 04 and 05: crash instances, or spike the traffic, and watch the users.

Same pattern as ``simulations.widgets`` (``simulations.explorer.Explorer``): controls, a
``redraw()`` that runs the model and draws on one figure (rendered to a PNG in an ``Image``
widget), and a ``widget`` to display. In a notebook: ``crash_explorer()`` and
``autoscale_explorer()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simulations.autoscale import AutoscaleResult, run_autoscale
from simulations.explorer import Explorer, png_bytes
from simulations.policies import POLICY_NAMES
from simulations.sessions import STORES, SessionsResult, run_sessions

AUTOSCALE_KEY = (
    "top: requests/s (gray), what the ready instances serve at the target (blue); "
    "bottom: ready instances (blue), ready + booting (orange); shaded: the spike"
)
CRASH_USERS = 400  # fewer than the CLI's 1000: the same fractions, a faster redraw


def run_explored_crash(
    store: str = "memory",
    policy: str = "sticky",
    instances: int = 4,
    crashes: int = 1,
    crash_at: float = 50.0,
    restart_after: float = 0.0,
    users: int = CRASH_USERS,
    seed: int = 0,
) -> SessionsResult:
    """Lesson 04's crash; ``restart_after`` 0 means the crashed instances never come back."""
    return run_sessions(
        store=store,
        policy=policy,
        instances=instances,
        crashes=min(crashes, instances),
        crash_at=crash_at,
        restart_after=restart_after or None,
        users=users,
        seed=seed,
    )


class CrashView:
    """Sessions in place and forced re-logins over time, drawn once, then given new data."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3), dpi=72)
        self.sessions_ax, self.logins_ax = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
        (self.sessions,) = self.sessions_ax.plot([], [], color="tab:orange", lw=1.6)
        (self.logins,) = self.logins_ax.plot([], [], color="tab:red", lw=1.6)
        self.marks = [
            [ax.axvline(0, color="black", ls=":", lw=1) for ax in self.axes] for _ in range(3)
        ]
        self.sessions_ax.set(xlabel="time (s)", ylabel="users with a session")
        self.logins_ax.set(xlabel="time (s)", ylabel="forced re-logins so far")

    @property
    def axes(self) -> tuple:
        return (self.sessions_ax, self.logins_ax)

    def update(self, result: SessionsResult) -> bytes:
        t = result.timeline
        self.sessions.set_data(t.times, t.sessions)
        self.logins.set_data(t.times, t.forced_logins)
        events = [e for e in result.events if e.kind in ("crash", "ready")]
        times = sorted({e.time for e in events})
        for k, pair in enumerate(self.marks):
            for line in pair:
                line.set_visible(k < len(times))
                if k < len(times):
                    line.set_xdata([times[k], times[k]])
        s = result.scenario
        self.sessions_ax.set(xlim=(0, s.duration), ylim=(0, s.users * 1.05))
        self.logins_ax.set(xlim=(0, s.duration), ylim=(0, max(t.forced_logins[-1], 10) * 1.1))
        self.sessions_ax.set_title(f"{s.store} + {s.policy}: sessions in place", fontsize=10)
        self.logins_ax.set_title("users sent back to the login page", fontsize=10)
        return png_bytes(self.figure)


class CrashExplorer(Explorer[SessionsResult]):
    """Store, routing, instances, how many crash and when, restart → sessions and re-logins."""

    def __init__(self, users: int = CRASH_USERS, seed: int = 0) -> None:
        self.users, self.seed = users, seed
        slider = {"continuous_update": False}
        controls = {
            "store": widgets.Dropdown(options=STORES, value="memory", description="sessions"),
            "policy": widgets.Dropdown(options=POLICY_NAMES, value="sticky", description="routing"),
            "instances": widgets.IntSlider(4, min=1, max=12, description="instances", **slider),
            "crashes": widgets.IntSlider(1, min=1, max=12, description="crash", **slider),
            "crash_at": widgets.FloatSlider(
                50, min=15, max=85, step=5, description="crash at", **slider
            ),
            "restart_after": widgets.FloatSlider(
                0, min=0, max=10, step=1, description="restart after", **slider
            ),
        }
        super().__init__(controls, CrashView())

    def run(self, settings: dict[str, Any]) -> SessionsResult:
        return run_explored_crash(**settings, users=self.users, seed=self.seed)

    def describe(self, result: SessionsResult) -> str:
        return result.summary()


def crash_explorer(users: int = CRASH_USERS, seed: int = 0) -> widgets.Widget:
    """Lesson 04's explorer, ready to display as a notebook cell's result."""
    return CrashExplorer(users, seed).widget


class AutoscaleView:
    """Load against capacity (top) and instances (bottom), drawn once, then given new data."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(8.5, 3.6), dpi=64)
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

    def __init__(self, seed: int = 3) -> None:
        self.seed = seed
        slider = {"continuous_update": False}
        controls = {
            "store": widgets.Dropdown(options=STORES, value="memory", description="sessions"),
            "policy": widgets.Dropdown(options=POLICY_NAMES, value="sticky", description="routing"),
            "spike_factor": widgets.FloatSlider(
                3, min=1.5, max=5, step=0.5, description="spike ×", **slider
            ),
            "boot_time": widgets.FloatSlider(
                30, min=0, max=180, step=10, description="boot (s)", **slider
            ),
            "stabilization_window": widgets.FloatSlider(
                300, min=0, max=600, step=30, description="window (s)", **slider
            ),
            "drain": widgets.Checkbox(True, description="drain on scale-in"),
        }
        super().__init__(controls, AutoscaleView())

    def run(self, settings: dict[str, Any]) -> AutoscaleResult:
        return run_autoscale(**settings, seed=self.seed)

    def describe(self, result: AutoscaleResult) -> str:
        return f"{result.summary()}\n{AUTOSCALE_KEY}"


def autoscale_explorer(seed: int = 3) -> widgets.Widget:
    """Lesson 05's explorer, ready to display as a notebook cell's result."""
    return AutoscaleExplorer(seed).widget
