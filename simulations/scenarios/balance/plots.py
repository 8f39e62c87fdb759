"""Figures from simulation results: the model returns numbers, this module draws them.

Every function takes results (``BalanceResult`` objects) and returns a matplotlib ``Figure``
without showing it; a notebook cell ends with ``plt.show()``. Figures stay small (at most
9 × 4 inches) so stored lessons stay light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations import theory
from simulations.plotting import error_bars
from simulations.scenarios.balance.model import BalanceResult

MAX_LINES = 6  # instances drawn one by one in the queue-length plot; more would be spaghetti


def plot_queue_lengths(result: BalanceResult, ax: Axes) -> Axes:
    """Each instance's queue length (waiting + in service) over simulated time, one lane per
    instance (lines on top of each other would hide which instance is busy when)."""
    trace = result.queues
    shown = min(result.instances, MAX_LINES)
    lanes = [trace.of_instance(index) for index in range(shown)]
    height = max(1, *(max(lane, default=0) for lane in lanes))
    middles = []
    for index, lane in enumerate(lanes):
        base = (shown - 1 - index) * height * 1.2
        ax.fill_between(
            trace.times,
            base,
            [base + length for length in lane],
            step="post",
            lw=0,
            color=f"C{index % 10}",
            label=f"instance {index}",
        )
        middles.append(base + height / 2)
    ax.set_yticks(middles, [f"instance {index}" for index in range(shown)])
    ax.tick_params(axis="y", length=0)
    more = "" if shown == result.instances else f", first {shown} of {result.instances}"
    ax.set(xlabel="time (s)", title=f"Queue lengths (a lane's height: {height} requests{more})")
    return ax


def plot_response_times(result: BalanceResult, ax: Axes) -> Axes:
    """Histogram of response times with the simulated mean, p99 and the theory's mean."""
    times = result.response_times
    top = result.response.p99 * 2  # the p99 line mid-way: the legend fits in the tail beyond it
    ax.hist([t for t in times if t <= top], bins=40, color="tab:blue", alpha=0.6)
    ax.axvline(
        result.response.mean, color="black", lw=1.5, label=f"mean {result.response.mean:.2f} s"
    )
    ax.axvline(
        result.response.p99, color="tab:red", lw=1.5, label=f"p99 {result.response.p99:.2f} s"
    )
    expected = result.theory.mean_response
    if expected is not None and expected < top:
        ax.axvline(expected, color="black", ls="--", lw=1, label=f"theory mean {expected:.2f} s")
    ax.set(xlabel="response time (s)", ylabel="requests", title="Response times", xlim=(0, top))
    ax.legend(loc="upper right", fontsize=8)
    return ax


def first_runs(results: Mapping[str, Sequence[BalanceResult]]) -> Sequence[BalanceResult]:
    """The runs of the first policy in ``results`` (all policies share the same loads)."""
    return next(iter(results.values()))


def plot_run(result: BalanceResult) -> Figure:
    """One run at a glance: queue lengths over time, and the response-time distribution."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.84, wspace=0.22)
    plot_queue_lengths(result, left)
    plot_response_times(result, right)
    fig.suptitle(
        f"{result.policy} · {result.instances} instances · load {result.load:.0%} · "
        f"{result.service_dist} service",
        fontsize=10,
    )
    return fig


def plot_policy_comparison(
    results: Mapping[str, Sequence[dict[str, Any]]], metric: str = "p99"
) -> Figure:
    """Mean or p99 response time against load, one line per policy, each point with its 95%
    interval (theory dashed for the mean).

    ``results`` maps a policy name to its replicated runs at increasing load, as
    ``replicate_policies`` returns them (``replicate_balance`` dicts, with an ``interval``).
    """
    if metric not in ("mean", "p99"):
        raise ValueError("metric must be 'mean' or 'p99'")
    key = f"{metric}_response"
    fig, ax = plt.subplots(figsize=(8, 3.5))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9)
    for policy, runs in results.items():
        values = [run[key] for run in runs]
        ax.errorbar(
            [run["load"] for run in runs],
            values,
            yerr=error_bars(values, [run["interval"][key] for run in runs]),
            fmt="o-" if metric == "p99" else "o",  # means: the theory curves give the shape
            ms=4,
            capsize=3,
            label=policy,
        )
    first = next(iter(results.values()))
    n, mu = first[0]["instances"], first[0]["service_rate"]
    if metric == "mean" and first[0]["service_dist"] == "exponential":
        loads = [run["load"] for run in first]
        fine = [min(loads) + (max(loads) - min(loads)) * k / 50 for k in range(51)]
        curves = [
            ("--", "M/M/1 at λ/n (random)", lambda lam: theory.mm1_mean_response(lam / n, mu)),
            (
                "-.",
                f"E_{n}/M/1 (round robin)",
                lambda lam: theory.round_robin_mean_response(lam, mu, n),
            ),
            (":", f"M/M/{n} (one shared queue)", lambda lam: theory.mmc_mean_response(lam, mu, n)),
        ]
        for style, label, formula in curves:
            ax.plot(
                fine,
                [formula(rho * n * mu) for rho in fine],
                "k" + style,
                lw=0.8,
                label=f"theory: {label}",
            )
    replications = first[0]["interval"]["replications"]
    ax.set(
        xlabel="load per instance ρ",
        ylabel=f"{metric} response time (s)",
        title=f"{metric} response time vs load, {n} instances: mean of {replications} runs "
        "and its 95% interval",
    )
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left")
    return fig
