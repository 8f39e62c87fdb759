"""``python -m simulations health``: liveness and readiness probes, a Redis outage, a hang.

python -m simulations health --liveness dependency --outage 5 --json
python -m simulations health --hang-at 40 --outage 0 --replications 10
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.health.model import HealthScenario, run_health

SCENARIO = HealthScenario
REPLICABLE = True  # --replications R: counts summed, times averaged, 95% intervals
DESCRIPTION = (
    "N instances behind a round-robin balancer, probed the Kubernetes way: a liveness probe "
    "(restart after --liveness-threshold failures) and a readiness probe (out of the pool after "
    "--readiness-threshold failures, back at one success). Redis goes down for --outage seconds; "
    "instance 0 may hang (--hang-at). A liveness probe that checks Redis restarts the whole "
    "fleet during a blip (a crash loop if it lasts, with CrashLoopBackOff); a readiness probe on "
    "Redis only takes instances out of the pool. Reports requests failed and why, restarts, the "
    "hang's detection time, the outage the users saw and the time to recover."
)


def run(scenario: HealthScenario) -> dict[str, Any]:
    return run_health(scenario).to_dict()


def _seconds(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:.2f} s"


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    readiness = (
        f"on Redis every {result['readiness_period']:g} s, out after "
        f"{result['readiness_threshold']} failures"
        if result["readiness"] == "dependency"
        else "none (always ready once booted)"
    )
    trouble = (
        f"Redis down {result['outage']:g} s from {result['outage_at']:g} s"
        if result["outage"]
        else "Redis never down"
    )
    if result["hang_at"] is not None:
        trouble += f"; instance 0 hangs at {result['hang_at']:g} s"
    requests = max(result["requests"], 1)
    backoff = "CrashLoopBackOff" if result["crash_backoff"] else "no backoff"
    checks = "on the process" if result["liveness"] == "process" else "on Redis"
    rows = [
        ("fleet", f"{result['instances']} instances, round robin, {result['rate']:g} requests/s"),
        (
            "liveness",
            f"{checks}, every {result['liveness_period']:g} s, restart after "
            f"{result['liveness_threshold']} failures; boot {result['boot']:g} s, probes from "
            f"{result['initial_delay']:g} s after it; {backoff}",
        ),
        ("readiness", readiness),
        ("trouble", trouble),
        (
            "requests",
            f"{result['requests']}{over}: {result['failed']} failed "
            f"({result['failed'] / requests:.1%}): Redis down {result['failed_dependency']}, "
            f"no ready instance {result['failed_no_instance']}, hung {result['failed_hung']}",
        ),
        (
            "restarts",
            f"{result['restarts']} ({result['instances_restarted']} instances), "
            f"{result['cold_starts']} cold starts; at most {result['max_unready'] / runs:g} out "
            "of the pool" + (" (mean per run)" if runs > 1 else ""),
        ),
        ("outage seen", f"{result['outage_seen']:.2f} s with no request able to succeed"),
        ("hang detected", _seconds(result["detection_time"], "no hang detected")),
        ("time to recover", _seconds(result["time_to_recover"], "none (nothing or not yet)")),
        ("seed", str(result["seed"])),
    ]
    return table(rows)
