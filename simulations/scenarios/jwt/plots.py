"""Figures for lesson 07: the revocation gap, the denylist that closes it, the TTL trade-off.

Functions take results from ``simulations.scenarios.jwt.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulations.scenarios.jwt.model import JwtResult, TradeoffPoint

COLORS = {"none": "tab:red", "denylist": "tab:blue"}


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
    ax.annotate("token TTL", (0, ttl), xytext=(2, -10), textcoords="offset points", fontsize=8)
    ax.set(
        xlabel="time of the revocation (s)",
        ylabel="exposure window (s)",
        ylim=(-0.04 * ttl, 1.08 * ttl),
        title="how long a revoked token kept working (dashed: mean)",
    )
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_denylist_size(result: JwtResult, ax: Axes) -> Axes:
    """The denylist's size over time, with its Little's-law mean and the rate × TTL bound."""
    s = result.scenario
    ax.step(result.series_times, result.series_entries, where="post", color=COLORS["denylist"])
    ax.axhline(result.theory_mean_entries, color="black", lw=1, ls="--")
    ax.axhline(s.revocation_rate * s.token_ttl, color="gray", lw=1, ls=":")
    ax.annotate("mean (Little)", (0, result.theory_mean_entries), fontsize=8, va="bottom")
    ax.annotate("rate × TTL", (0, s.revocation_rate * s.token_ttl), fontsize=8, va="bottom")
    ax.set(
        xlabel="time (s)",
        ylabel="entries",
        ylim=(0, 1.2 * max(s.revocation_rate * s.token_ttl, result.denylist_peak_entries, 1)),
        title=f"denylist size (peak {result.denylist_peak_entries})",
    )
    return ax


def plot_revocation_gap(without: JwtResult, with_denylist: JwtResult) -> Figure:
    """Lesson 07's main figure: exposure windows without and with a denylist, and its size."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained", width_ratios=(1.8, 1)
    )
    plot_exposure_windows([without, with_denylist], left)
    plot_denylist_size(with_denylist, right)
    return fig


def plot_ttl_tradeoff(points: Sequence[TradeoffPoint]) -> Figure:
    """Short access tokens + refresh: less exposure, more refresh traffic, as the TTL shrinks."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    ttls = [point.token_ttl for point in points]
    left.plot(ttls, [p.theory_mean_exposure for p in points], color="gray", lw=1, label="theory")
    left.plot(
        ttls,
        [p.mean_exposure for p in points],
        "o",
        color=COLORS["none"],
        label="simulated (no denylist)",
    )
    left.set(
        xlabel="access-token TTL (s)",
        ylabel="mean exposure (s)",
        title="exposure ≈ TTL / 2",
    )
    left.legend(fontsize=8)
    right.plot(ttls, [p.refreshes_per_second for p in points], "o-", label="refresh requests")
    right.axhline(
        points[0].requests_per_second,
        color=COLORS["denylist"],
        ls="--",
        label="denylist lookups (one per request)",
    )
    right.set(
        xlabel="access-token TTL (s)",
        ylabel="store operations per second",
        yscale="log",
        title="what each strategy asks of the store",
    )
    right.legend(fontsize=8)
    return fig
