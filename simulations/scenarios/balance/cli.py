"""``python -m simulations balance``: one load-balancing run, as a table or one JSON object.

    python -m simulations balance --policy random --instances 4 --arrival-rate 3.2 \\
        --service-rate 1 --requests 200000 --seed 1 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import format_numbers, table
from simulations.scenarios.balance.model import BalanceScenario, run_balance

SCENARIO = BalanceScenario
REPLICABLE = True  # --replications R: counts summed, means averaged, 95% intervals
DESCRIPTION = "Simulate a load balancer in front of n single-server FIFO instances."


def run(scenario: BalanceScenario) -> dict[str, Any]:
    return run_balance(scenario).to_dict()


def _theory_mean(result: dict[str, Any]) -> str:
    theory = result["theory"]
    if theory["mean_response"] is not None:
        error = result["mean_response"] / theory["mean_response"] - 1
        return f"{theory['mean_response']:.3f} s   (simulated is {error:+.1%})"
    if theory["lower_bound"] is not None:
        bounds = f"≥ {theory['lower_bound']:.3f} s"
        if theory["upper_bound"] is not None:
            bounds += f" and ≤ {theory['upper_bound']:.3f} s (round robin)"
        return bounds
    return "∞ (unstable)" if "warning" in result else "— (no closed form)"


def format_table(result: dict[str, Any]) -> str:
    policy = result["policy"]
    if "choices" in result:
        policy += f" (d = {result['choices']})"
    if "users" in result:
        policy += f" ({result['users']} users)"
    load = f"{result['arrival_rate']:g}/s   (load per instance {result['load']:.1%})"
    counts = f"{result['requests_completed']} completed, {result['requests_failed']} failed"
    times = "mean {mean_response:.3f}   p50 {p50_response:.3f}   p95 {p95_response:.3f}   "
    times += "p99 {p99_response:.3f}"
    rows = [
        ("policy", policy),
        ("instances", str(result["instances"])),
        ("arrival rate", load),
        ("service", f"{result['service_dist']}, rate {result['service_rate']:g}/s"),
        ("requests", counts),
        ("response time (s)", times.format(**result)),
        ("theory", result["theory"]["model"]),
        ("theory mean", _theory_mean(result)),
    ]
    if result["theory"]["p99_response"] is not None:
        rows.append(("theory p99", f"{result['theory']['p99_response']:.3f} s"))
    rows += [
        ("utilization", format_numbers(result["utilization"])),
        ("mean queue length", format_numbers(result["mean_queue_length"])),
        ("seed", str(result["seed"])),
    ]
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    return table(rows)
