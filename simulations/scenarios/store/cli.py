"""``python -m simulations store``: N instances and one shared store (lesson 02).

python -m simulations store --instances 8 --calls 3 --replications 10 --json
python -m simulations store --incident slow --incident-for 2 --slow-factor 10
python -m simulations store --instances 16 --calls 3 --read-replicas 2 --shards 2 --cache-hit 0.5
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.store.model import StoreScenario, simulate

SCENARIO = StoreScenario
REPLICABLE = True  # --replications R: counts summed, means averaged, 95% intervals
DESCRIPTION = (
    "N instances each serve their own queue; with sessions in a shared store every request "
    "also makes store calls, and the store serves the calls of all N instances one at a time. "
    "Theory (one call, no incident): app/(1 − ρ_app) + rtt + store/(1 − ρ_store). An incident "
    "slows the store down or takes it away for a while: calls time out and requests fail. "
    "Read replicas, shards and a cache in the instance (lesson 12) spread or spare its load."
)


def run(scenario: StoreScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    shared = result["store"] == "shared"
    expected = result["expected_ms"]
    rows = [
        ("instances", f"{result['instances']} × {result['rate']:g} req/s"),
        ("sessions", result["store"]),
        (
            "mean response",
            f"{result['mean_ms']:.2f} ms"
            + (f" (theory {expected:.2f} ms)" if expected is not None else ""),
        ),
        ("p99 response", f"{result['p99_ms']:.2f} ms"),
        ("served / failed", f"{result['served']} / {result['failed']} (503: store timed out)"),
        ("instance busy", f"{result['app_utilization']:.1%}"),
    ]
    if shared:
        rows += [
            ("store calls", f"{result['calls']} per request, {result['store_share_ms']:.2f} ms"),
            ("store busy", f"{result['store_utilization']:.1%} (load {result['store_load']:.2f})"),
        ]
        rows += _scaling_rows(result)
    if shared and result["incident"] != "none":
        rows.append(
            (
                "incident",
                f"{result['incident']} from {result['incident_at']:g} s "
                f"for {result['incident_for']:g} s",
            )
        )
    rows.append(("seed", str(result["seed"])))
    return table(rows)


def _scaling_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The lesson 12 knobs, when any is set: where the calls went, and each queue's load."""
    replicas, shards, cache = result["read_replicas"], result["shards"], result["cache_hit"]
    if not replicas and shards == 1 and not cache:
        return []
    layout = f"{shards} shard(s) × (1 primary + {replicas} read replica(s))"
    rows = [("store layout", layout)]
    if replicas or cache:
        rows.append(
            ("reads", f"{result['read_share']:.0%} of the calls, {cache:.0%} of them cached")
        )
    rows.append(
        (
            "primary busy",
            f"{result['primary_utilization']:.1%} (load {result['primary_load']:.2f})",
        )
    )
    if replicas:
        rows.append(
            (
                "replica busy",
                f"{result['replica_utilization']:.1%} (load {result['replica_load']:.2f})",
            )
        )
    return rows
