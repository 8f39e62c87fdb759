"""Figures for lesson 07: the revocation gap, the denylist that closes it, the TTL trade-off.

Functions take results from ``simulations.scenarios.jwt.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
Legends sit below their axes, never over the dots.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.plotting import error_bars
from simulations.scenarios.jwt.model import JwtResult, TradeoffPoint

COLORS = {"none": "tab:red", "denylist": "tab:blue"}


def _legend_below(ax: Axes, columns: int = 2) -> None:
    """The legend under the x label, outside the data (constrained layout makes room)."""
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=columns, fontsize=8, frameon=False
    )


def _label(result: JwtResult) -> str:
    s = result.scenario
    if s.revocation == "none":
        return "no denylist"
    return f"denylist (delay {s.denylist_delay:g} s)"


def plot_exposure_windows(results: Sequence[JwtResult], ax: Axes) -> Axes:
    """Each revocation as a dot: when it happened (x), how long the token still worked (y)."""
    ttl = results[0].scenario.token_ttl
    for result in results:
        color = COLORS[result.scenario.revocation]
        times = [revocation.time for revocation in result.revocations]
        ax.scatter(times, result.exposures, s=10, color=color, alpha=0.7, label=_label(result))
        if result.mean_exposure is not None:
            ax.axhline(result.mean_exposure, color=color, lw=1, ls="--")
    ax.axhline(ttl, color="gray", lw=1, ls=":")
    # above the dotted line: no exposure exceeds the TTL, so nothing is drawn there
    ax.annotate("token TTL", (0, ttl), xytext=(2, 1), textcoords="offset points", fontsize=8)
    ax.set(
        xlabel="time of the revocation (s)",
        ylabel="exposure window (s)",
        ylim=(-0.04 * ttl, 1.12 * ttl),
        title="how long a revoked token kept working (dashed: mean)",
    )
    _legend_below(ax)
    return ax


def plot_denylist_size(result: JwtResult, ax: Axes) -> Axes:
    """The denylist's size over time, its Little's-law mean, and its bound: the revocations of
    the last TTL (each entry lives at most one TTL), a random count whose mean is rate × TTL."""
    s = result.scenario
    recent = result.revocations_within(s.token_ttl, result.series_times)
    ax.step(result.series_times, result.series_entries, where="post", color=COLORS["denylist"])
    ax.step(
        result.series_times,
        recent,
        where="post",
        color="gray",
        lw=1,
        ls=":",
        label="revocations in the last TTL (bound)",
    )
    ax.axhline(
        result.theory_mean_entries, color="black", lw=1, ls="--", label="mean size (Little's law)"
    )
    _legend_below(ax, columns=1)
    ax.set(
        xlabel="time (s)",
        ylabel="entries",
        ylim=(0, 1.25 * max(max(recent, default=0), result.denylist_peak_entries, 1)),
        title=f"denylist size (peak {result.denylist_peak_entries})",
    )
    return ax


def plot_revocation_gap(without: JwtResult, with_denylist: JwtResult) -> Figure:
    """Lesson 07's main figure: exposure windows without and with a denylist, and its size."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 3.6), layout="constrained", width_ratios=(1.8, 1)
    )
    plot_exposure_windows([without, with_denylist], left)
    plot_denylist_size(with_denylist, right)
    return fig


def plot_ttl_tradeoff(points: Sequence[TradeoffPoint]) -> Figure:
    """Short access tokens + refresh: less exposure, more refresh traffic, as the TTL shrinks.
    Simulated points carry their 95% intervals (when the points were replicated)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    ttls = [point.token_ttl for point in points]
    exposures = [point.mean_exposure for point in points]
    left.plot(ttls, [p.theory_mean_exposure for p in points], color="gray", lw=1, label="theory")
    left.errorbar(
        ttls,
        exposures,
        yerr=error_bars(exposures, [p.exposure_interval for p in points]),
        fmt="o",
        capsize=3,
        color=COLORS["none"],
        label="simulated, 95% interval",
    )
    left.set(
        xlabel="access-token TTL (s)",
        ylabel="mean exposure (s)",
        xscale="log",
        yscale="log",
        title="how long a stolen token kept working",
    )
    _legend_below(left)
    refreshes = [p.refreshes_per_second for p in points]
    right.plot(
        ttls, [p.theory_refreshes_per_second for p in points], color="gray", lw=1, label="theory"
    )
    right.errorbar(
        ttls,
        refreshes,
        yerr=error_bars(refreshes, [p.refreshes_interval for p in points]),
        fmt="o",
        capsize=3,
        color="tab:green",
        label="refreshes (simulated)",
    )
    right.axhline(
        points[0].requests_per_second,
        color=COLORS["denylist"],
        ls="--",
        label="denylist: one lookup per request",
    )
    right.set(
        xlabel="access-token TTL (s)",
        ylabel="store operations per second",
        xscale="log",
        yscale="log",
        title="what each strategy asks of the store",
    )
    _legend_below(right, columns=2)
    return fig
