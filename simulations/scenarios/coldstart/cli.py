"""``python -m simulations coldstart``: a serverless platform's cold starts, idle timeout and
keep-warm, and the state an instance keeps in memory.

python -m simulations coldstart --burstiness 1 --json
python -m simulations coldstart --keep-warm 5 --replications 10
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.coldstart.model import ColdStartScenario, run_coldstart

SCENARIO = ColdStartScenario
REPLICABLE = True  # --replications R: counts summed, shares and times averaged, 95% intervals
DESCRIPTION = (
    "A serverless platform (the AWS Lambda model): each instance serves one request at a time; "
    "a request takes a warm idle instance (the most recently used), else a new one starts cold "
    "(--cold-start-ms); an instance idle for --idle-timeout seconds is reclaimed; --keep-warm "
    "instances are provisioned and never cold. Traffic is on/off Poisson at a mean --rate, in "
    "bursts --burstiness times the mean. Reports the cold share, the response times, the "
    "instances alive on average (the cost) and how often an instance's memory already held the "
    "user's data, against a shared store."
)


def run(scenario: ColdStartScenario) -> dict[str, Any]:
    return run_coldstart(scenario).to_dict()


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value:.0f} ms"  # None: no request in the run


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    limit = result["max_instances"]
    theory = result["theory_cold_share"]
    rows = [
        (
            "traffic",
            f"{result['rate']:g} req/s on average, burstiness {result['burstiness']:g}"
            + (
                f" (bursts of {result['burst_seconds']:g} s on average)"
                if result["burstiness"] > 1
                else " (Poisson)"
            )
            + f", {result['users']} users, {result['duration']:g} s",
        ),
        (
            "platform",
            f"cold start {result['cold_start_ms']:g} ms, service {result['service_ms']:g} ms, "
            f"idle timeout {result['idle_timeout']:g} s, {result['keep_warm']} kept warm"
            + ("" if limit is None else f", at most {limit} instances"),
        ),
        (
            "requests",
            f"{result['requests']}{over}: {result['cold_starts']} cold "
            f"({result['cold_share']:.2%})"
            + ("" if theory is None else f"; one instance, Poisson: {theory:.2%}")
            + (f"; {result['waited']} queued at the limit" if limit is not None else ""),
        ),
        (
            "response",
            f"mean {_ms(result['mean_response_ms'])}, p50 {_ms(result['p50_response_ms'])}, "
            f"p95 {_ms(result['p95_response_ms'])}, p99 {_ms(result['p99_response_ms'])}",
        ),
        (
            "instances",
            f"{result['instances_started']} started, {result['reclaimed']} reclaimed; at most "
            f"{result['peak_concurrency'] / runs:g} busy at once"
            + (" (mean over runs)" if runs > 1 else "")
            + f", {result['mean_warm_instances']:.1f} alive on average",
        ),
        (
            "memory",
            f"{result['memory_hit_share']:.1%} of requests found their user's data in the "
            f"instance; a shared store: {result['store_hit_share']:.1%}",
        ),
        ("seed", str(result["seed"])),
    ]
    return table(rows)
