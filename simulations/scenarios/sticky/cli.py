"""``python -m simulations sticky``: heavy users, sticky routing, hot spots, as a table or JSON.

    python -m simulations sticky --policy sticky --instances 4 --users 1000 --zipf-s 1 \\
        --arrival-rate 2.4 --requests 20000 --scale-out-at 5000 --seed 42 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import format_numbers, table
from simulations.scenarios.sticky.model import StickyScenario, run_sticky

SCENARIO = StickyScenario
DESCRIPTION = (
    "Heavy-tailed users (a few send most requests) through a balancer that pins users "
    "(sticky cookie, hash, consistent hash) or not (round robin, least connections), "
    "or caps the pinning (consistent hashing with bounded loads)."
)


def run(scenario: StickyScenario) -> dict[str, Any]:
    result = run_sticky(scenario)
    summary = result.to_dict()
    if scenario.scale_out_at is not None and result.new_instance is None:
        summary["warning"] = "--scale-out-at is after the last request arrived: nothing was added"
    if scenario.crash_hottest_at is not None and result.hottest_instance is None:
        summary["warning"] = "--crash-hottest-at is after the last request arrived: no crash"
    return summary


def _maybe(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(result: dict[str, Any]) -> str:
    policy = result["policy"]
    if result["epsilon"] is not None:
        policy += f" (ε = {result['epsilon']:g})"
    if result["vnodes"] is not None:
        policy += f", {result['vnodes']} vnodes"
    skew = (
        f"zipf s = {result['zipf_s']:g}"
        if result["activity"] == "zipf"
        else f"pareto α = {result['pareto_alpha']:g}"
    )
    rows = [
        ("policy", policy),
        ("instances", str(result["instances"])),
        (
            "users",
            f"{result['users']} ({skew}); the heaviest sends "
            f"{result['heaviest_user_share']:.1%} and was served by "
            f"{result['heaviest_user_instances']} instance(s)",
        ),
        (
            "arrival rate",
            f"{result['arrival_rate']:g}/s, service rate {result['service_rate']:g}/s",
        ),
        (
            "requests",
            f"{result['requests_completed']} completed, {result['requests_failed']} failed",
        ),
        (
            "response time (s)",
            "mean {mean_response:.3f}   p50 {p50_response:.3f}   p95 {p95_response:.3f}   "
            "p99 {p99_response:.3f}".format(**result),
        ),
        ("load per instance", format_numbers(result["load"])),
        ("imbalance", f"{result['imbalance']:.2f} (max / mean load; 1 = even)"),
        (
            "sessions",
            f"{result['sessions']}: {result['session_misses']} session misses, "
            f"affinity {result['affinity']:.1%}",
        ),
    ]
    if result["scale_out_at"] is not None:
        rows.append(
            (
                "scale-out",
                f"instance {result['new_instance']} at t = "
                f"{result['scale_out_at']:g}: got {_maybe(result['new_instance_share'], '.1%')}"
                f" of later requests (fair share {_maybe(result['fair_share'], '.1%')})",
            )
        )
    if result["crash_hottest_at"] is not None:
        rows.append(
            (
                "crash",
                f"hottest instance {result['hottest_instance']} at t = "
                f"{result['crash_hottest_at']:g}: {result['sessions_lost']} sessions lost, "
                f"{result['users_forced_to_login']} of those users came back and were sent "
                "to log in",
            )
        )
    if result["policy"] == "bounded_load":
        rows.append(("spilled", f"{result['spilled']} requests past their user's own instance"))
    rows.append(("seed", str(result["seed"])))
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    return table(rows)
