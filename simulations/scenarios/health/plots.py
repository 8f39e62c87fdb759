"""Figures for lesson 11: a Redis blip amplified by a liveness probe on Redis, hang detection
against the probe's settings, and one run's fleet over time (the explorer's static twin).

Functions take results from ``simulations.scenarios.health.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
``draw_fleet`` and ``draw_outcomes`` draw on given axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import interval_points, with_bars
from simulations.scenarios.health.model import HealthResult

COLORS = {"process": "tab:blue", "dependency": "tab:red"}
MARKERS = {"process": "o-", "dependency": "s-"}
LABELS = {"process": "liveness on the process", "dependency": "liveness on Redis"}
# one run's outcomes, as the explorer's bars show them: (key, label, colour)
OUTCOMES = (
    ("succeeded", "served", "tab:green"),
    ("failed_dependency", "Redis\ndown", "tab:orange"),
    ("failed_no_instance", "no\ninstance", "tab:red"),
    ("failed_hung", "hung", "tab:purple"),
)


def _per_run(series: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """A count summed over each point's replications, per run."""
    return [run[key] / run.get("interval", {}).get("replications", 1) for run in series]


def plot_amplification(runs: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """Lesson 11's figure (``outage_by_blip``): left, the time no request could succeed against
    how long Redis was down, one line per liveness design with 95% intervals, the model's
    theory (``theory_outage``) thin beside each and its band shaded for liveness on Redis;
    dotted, the blip itself (D); dashed, D + B. Right, restarts per run."""
    fig, (seen, restarts) = plt.subplots(
        1, 2, figsize=(9, 3.6), layout="constrained", width_ratios=(3, 2)
    )
    first = next(iter(runs.values()))[0]
    blips = sorted({run["outage"] for series in runs.values() for run in series})
    seen.plot(blips, blips, ":", color="black", lw=1, label="D: the blip itself")
    boot = first["boot"]
    seen.plot(
        blips, [d + boot for d in blips], "--", color="gray", lw=1, label=f"D + B (B = {boot:g} s)"
    )
    for name, series in runs.items():
        color = COLORS.get(name, "tab:gray")
        x = [run["outage"] for run in series]
        style = {"fmt": MARKERS.get(name, "o-"), "ms": 4, "lw": 1.4, "color": color}
        interval_points(
            seen, series, "outage", "outage_seen", label=LABELS.get(name, name), **style
        )
        seen.plot(x, [run["theory_outage"] for run in series], "-", color=color, lw=0.7, alpha=0.7)
        if name == "dependency":
            seen.fill_between(
                x,
                [run["theory_outage_low"] for run in series],
                [run["theory_outage_high"] for run in series],
                color=color,
                alpha=0.12,
                lw=0,
                label="theory band, liveness on Redis",
            )
        restarts.plot(x, _per_run(series, "restarts"), MARKERS.get(name, "o-"), color=color, ms=4)
    seen.plot([], [], "-", color="black", lw=0.7, label="theory (mean)")
    seen.set(xlabel="Redis down for D (s)", ylabel="no request could succeed (s)")
    seen.set_title("outage seen by the users", fontsize=9)
    seen.set_xlim(left=0)
    seen.set_ylim(bottom=0)
    seen.legend(fontsize=7, loc="upper left")
    restarts.set(xlabel="Redis down for D (s)", ylabel="restarts per run")
    restarts.set_title("restarts (every instance's, in a crash loop)", fontsize=9)
    restarts.set_ylim(bottom=0)
    restarts.set_xlim(left=0)
    runs_count = first.get("interval", {}).get("replications", 1)
    backoff = "CrashLoopBackOff" if first["crash_backoff"] else "no backoff"
    fig.suptitle(
        f"{first['instances']} instances; liveness every {first['liveness_period']:g} s, "
        f"{first['liveness_threshold']} failures; readiness {_readiness(first)}; boot "
        f"{boot:g} s, {backoff}; {runs_count} runs per point",
        fontsize=9,
    )
    return fig


def _liveness(liveness: str) -> str:
    return "on the process" if liveness == "process" else "on Redis"


def _readiness(run: Mapping[str, Any]) -> str:
    if run["readiness"] == "none":
        return "always ready"
    return f"on Redis every {run['readiness_period']:g} s, {run['readiness_threshold']} failures"


def plot_detection(runs: Sequence[dict[str, Any]]) -> Figure:
    """Hang detection (``detection_by_probe``): the mean time from the hang to the restart for
    each liveness setting, with its 95% interval, against period × threshold; shaded, the
    theory's band [(k − 1) P, k P), crossed, its mean (k − ½) P. Two settings with the same
    period × threshold sit side by side."""
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    budgets = [run["probe_budget"] for run in runs]
    seen: dict[float, int] = {}
    offsets = []
    for budget in budgets:  # the second point at the same x moves right a little
        offsets.append(seen.get(budget, 0))
        seen[budget] = seen.get(budget, 0) + 1
    span = max(budgets) - min(budgets) or 1.0
    x = [b + 0.04 * span * k for b, k in zip(budgets, offsets, strict=True)]
    for xi, run in zip(x, runs, strict=True):
        band = [run["detection_low"], run["detection_high"]]
        ax.plot([xi, xi], band, color="tab:blue", lw=7, alpha=0.2, solid_capstyle="butt")
        ax.annotate(
            f"{run['liveness_period']:g} s × {run['liveness_threshold']}",
            (xi, run["detection_high"]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            rotation=90,
            fontsize=7,
        )
    values, bars = with_bars(runs, "detection_time")
    ax.errorbar(
        x,
        values,
        yerr=bars,
        fmt="o",
        ms=4,
        capsize=3,
        color="tab:blue",
        label="simulated (95% interval)",
    )
    ax.plot(
        x,
        [run["theory_detection"] for run in runs],
        "x",
        color="black",
        ms=6,
        label="theory: (k − ½) P",
    )
    ax.plot([], [], color="tab:blue", lw=7, alpha=0.2, label="band [(k − 1) P, k P)")
    right = max(budgets) * 1.1
    top = max(run["detection_high"] for run in runs) * 1.3  # room for the labels
    ax.plot([0, right], [0, right], ":", color="gray", lw=1, label="period × threshold")
    ax.set(xlabel="period P × threshold k (s)", ylabel="hang → restart (s)")
    runs_count = runs[0].get("interval", {}).get("replications", 1)
    ax.set_title(
        f"how long a hung instance waits for its restart ({runs_count} runs each)", fontsize=9
    )
    ax.set_xlim(0, right)
    ax.set_ylim(0, top)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def draw_fleet(ax: Axes, result: HealthResult) -> None:
    """One run's fleet over time: instances in the pool, able to answer, and useful (both, with
    Redis up), as steps; Redis' outage shaded, the hang and each restart marked."""
    t, s = result.timeline, result.scenario
    for values, label, color, width in (
        (t.ready, "in the pool", "tab:blue", 2.4),
        (t.serving, "process answers", "tab:gray", 1.4),
        (t.useful, "useful (Redis up)", "tab:green", 1.8),
    ):
        ax.step(t.times, [*values, values[-1]], where="post", label=label, color=color, lw=width)
    if s.outage:
        ax.axvspan(
            s.outage_at,
            s.outage_at + s.outage,
            color="tab:orange",
            alpha=0.2,
            lw=0,
            label="Redis down",
        )
    if s.hang_at is not None:
        ax.axvline(s.hang_at, color="tab:purple", ls=":", lw=1.2, label="instance 0 hangs")
    if result.restart_times:
        y = [s.instances + 0.3] * len(result.restart_times)
        ax.plot(result.restart_times, y, "v", color="tab:red", ms=6, label="restart")
    ax.set(
        xlabel="time (s)", ylabel="instances", xlim=(0, s.duration), ylim=(-0.2, s.instances + 0.8)
    )
    ax.legend(fontsize=7, loc="lower left")


def draw_outcomes(ax: Axes, result: HealthResult) -> None:
    """The run's requests by outcome, in % of all."""
    total = max(result.requests, 1)
    shares = [100 * getattr(result, key) / total for key, _, _ in OUTCOMES]
    ax.bar(range(len(OUTCOMES)), shares, color=[color for _, _, color in OUTCOMES])
    ax.set_xticks(range(len(OUTCOMES)), [label for _, label, _ in OUTCOMES], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of requests", fontsize=8)


def plot_fleet(result: HealthResult) -> Figure:
    """The explorer's picture of one run, as a static figure: the fleet over time and the
    requests' outcomes."""
    fig, (fleet, outcomes) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained", width_ratios=(3, 1)
    )
    draw_fleet(fleet, result)
    draw_outcomes(outcomes, result)
    s = result.scenario
    fleet.set_title(
        f"liveness {_liveness(s.liveness)}, readiness "
        f"{'on Redis' if s.readiness == 'dependency' else 'always ready'}: "
        f"{result.restarts} restarts, no request could succeed for {result.outage_seen:.1f} s",
        fontsize=9,
    )
    outcomes.set_title(f"{result.requests:,} requests", fontsize=9)
    return fig
