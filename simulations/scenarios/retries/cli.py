"""``python -m simulations retries``: client timeouts and retries, duplicates and retry storms.

python -m simulations retries --policy none --load 0.9 --json
python -m simulations retries --policy backoff --budget --spike 0.5 --replications 10
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.retries.model import RetriesScenario, run_retries

SCENARIO = RetriesScenario
REPLICABLE = True  # --replications R: counts summed, rates and shares averaged, 95% intervals
DESCRIPTION = (
    "Clients send Poisson requests to N servers sharing one FIFO queue (M/M/c) and wait a "
    "timeout T for each attempt; then they give up on it and, by --policy, retry (at once, or "
    "after capped exponential backoff with full jitter), within an optional retry budget. The "
    "servers never learn that a client gave up: abandoned attempts are still served (wasted "
    "work), and a request whose effect ran twice is a duplicate. A burst (--spike) near "
    "saturation starts a retry storm that outlives it unless the budget bounds the retries."
)


def run(scenario: RetriesScenario) -> dict[str, Any]:
    return run_retries(scenario).to_dict()


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f} s"


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    policy = result["policy"]
    if policy == "backoff":
        policy += (
            f" (full jitter, base {result['backoff_base']:g} s, cap {result['backoff_cap']:g} s)"
        )
    if policy != "none":
        policy += f", at most {result['max_retries']} retries"
        if result["budget"]:
            policy += f", budget {result['budget_ratio']:.0%} of recent requests"
    burst = (
        f"+{result['spike']:g} for {result['spike_duration']:g} s at {result['spike_at']:g} s"
        if result["spike"]
        else "none"
    )
    limit = result["queue_limit"]
    theory = result["theory_timeout_share"]
    rows = [
        (
            "pool",
            f"{result['servers']} servers, one queue"
            + (f" of at most {limit}" if limit is not None else "")
            + f", service {result['service_time']:g} s: capacity {result['capacity']:g}/s",
        ),
        ("clients", f"load {result['load']:g}, timeout {result['timeout']:g} s, burst {burst}"),
        ("retries", policy),
        (
            "requests",
            f"{result['requests']}{over}: {result['offered']:.1f}/s offered, "
            f"{result['attempts']} attempts ({result['amplification']:.2f} per request)",
        ),
        (
            "goodput",
            f"{result['goodput']:.1f}/s ({result['goodput_fraction']:.0%} of capacity); "
            f"last quarter {result['final_goodput']:.1f}/s "
            f"({result['final_goodput_fraction']:.0%})",
        ),
        (
            "outcomes",
            f"{result['succeeded']} answered in time, {result['failed']} given up; "
            f"{result['timed_out']} attempts timed out"
            + (f", {result['rejected']} refused" if limit is not None else "")
            + (f", {result['budget_denied']} retries denied" if result["budget"] else ""),
        ),
        (
            "duplicates",
            f"{result['duplicates']} requests ran twice or more ({result['duplicate_rate']:.2%}); "
            f"{result['failed_but_done']} given up yet done",
        ),
        (
            "servers",
            f"utilization {result['utilization']:.0%}, {result['wasted_share']:.0%} of it on "
            "answers nobody waited for",
        ),
        (
            "latency",
            f"mean {_seconds(result['mean_latency'])}, p99 {_seconds(result['p99_latency'])}",
        ),
        (
            "timeouts",
            f"{result['timeout_share']:.2%} of attempts"
            + ("" if theory is None else f" (M/M/c, no retries, no burst: {theory:.2%})"),
        ),
        ("seed", str(result["seed"])),
    ]
    return table(rows)
