"""Figures for lesson 10: duplicate effects against the timeout, and the retry storm.

Functions take results from ``simulations.scenarios.retries.model`` and return matplotlib figures
without showing them; a notebook cell ends with ``plt.show()``. Figures stay within 9 × 4 in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from simulations.plotting import interval_points
from simulations.scenarios.retries.model import theory_timeout_share

COLORS = {
    "none": "tab:gray",
    "immediate": "tab:red",
    "backoff": "tab:orange",
    "backoff+budget": "tab:blue",
}
MARKERS = {"none": "s--", "immediate": "o-", "backoff": "^-", "backoff+budget": "D-"}
HOLLOW = {"immediate"}  # drawn as rings: backoff's points often fall right on them


def plot_goodput(runs: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """Lesson 10's figure (``goodput_by_load``): left, goodput after the burst (the last quarter
    of each run) as a share of capacity against the offered load, one line per design with 95%
    intervals, the ideal (every request answered, up to capacity) dotted; right, attempts per
    request, the load the servers see over the load offered."""
    fig, (good, amp) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained", width_ratios=(3, 2)
    )
    for name, series in runs.items():
        style = {"fmt": MARKERS.get(name, "o-"), "ms": 4, "lw": 1.2, "label": name}
        style["color"] = COLORS.get(name)
        if name in HOLLOW:
            style |= {"ms": 8, "mfc": "none", "lw": 2}
        interval_points(good, series, "load", "final_goodput_fraction", **style)
        interval_points(amp, series, "load", "amplification", **style)
    loads = sorted({run["load"] for series in runs.values() for run in series})
    good.plot(loads, [min(x, 1.0) for x in loads], ":", color="black", lw=1, label="ideal")
    good.set(xlabel="offered load (share of capacity)", ylabel="goodput / capacity")
    good.set_title("goodput after the burst (last quarter of the run)", fontsize=9)
    good.set_ylim(-0.03, 1.1)
    good.legend(fontsize=8, loc="center right")
    amp.set(xlabel="offered load (share of capacity)", ylabel="attempts per request")
    amp.set_title("amplification", fontsize=9)
    amp.set_ylim(bottom=0.9)
    first = next(iter(runs.values()))[0]
    burst = (
        f"a burst of +{first['spike']:g} for {first['spike_duration']:g} s at "
        f"{first['spike_at']:g} s"
        if first["spike"]
        else "no burst"
    )
    limit = first["queue_limit"]
    fig.suptitle(
        f"{first['servers']} servers, service {first['service_time']:g} s, timeout "
        f"{first['timeout']:g} s, up to {first['max_retries']} retries, {burst}, "
        + ("queue unbounded" if limit is None else f"queue limit {limit}"),
        fontsize=9,
    )
    return fig


def plot_duplicates(runs: Mapping[float, Sequence[dict[str, Any]]]) -> Figure:
    """Duplicate rate (% of requests whose effect ran twice or more) against the client's
    timeout, one line per load (``duplicates_by_timeout``), with 95% intervals; dotted, the
    share of responses slower than the timeout in M/M/c without retries, P(R > T)."""
    fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
    colors = plt.get_cmap("viridis")
    for k, (load, series) in enumerate(runs.items()):
        color = colors(k / max(len(runs) - 1, 1) * 0.85)
        interval_points(
            ax, series, "timeout", "duplicate_rate", 100, fmt="o-", ms=4, lw=1.2, color=color,
            label=f"load {load:g}",
        )  # fmt: skip
        timeouts = [run["timeout"] for run in series]
        first = series[0]
        theory = [
            theory_timeout_share(load, first["servers"], first["service_time"], t) for t in timeouts
        ]
        ax.plot(timeouts, [100 * p for p in theory], ":", color=color, lw=1)
    ax.plot([], [], ":", color="black", lw=1, label="P(R > T), M/M/c without retries")
    first = next(iter(runs.values()))[0]
    ax.set(xlabel="client timeout T (s)", ylabel="% of requests done twice or more")
    retries = "" if first["policy"] == "none" else f", up to {first['max_retries']} retries"
    ax.set_title(
        f"{first['servers']} servers, mean service {first['service_time']:g} s, "
        f"policy {first['policy']}{retries}",
        fontsize=9,
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper right")
    return fig
