"""``python -m simulations ratelimit``: a limit counted per instance lets N × the limit through.

python -m simulations ratelimit --instances 4 --state memory --json
python -m simulations ratelimit --autoscale --max-instances 10 --state shared
"""

from __future__ import annotations

from typing import Any

from simulations.cli import format_numbers, table
from simulations.scenarios.ratelimit.model import RateLimitScenario, run_ratelimit

SCENARIO = RateLimitScenario
REPLICABLE = True  # --replications R: counts summed, means averaged, 95% intervals
DESCRIPTION = (
    "One client sends Poisson requests through a balancer to N instances; each request is "
    "counted against a fixed-window limit L per window. With the counter in each instance's "
    "memory the client gets min(a·W, N·L) per window; with one shared counter, L. With "
    "--autoscale the attack itself adds instances, each with a fresh counter."
)


def run(scenario: RateLimitScenario) -> dict[str, Any]:
    return run_ratelimit(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    windows = result["allowed_per_window"]
    shown = windows if len(windows) <= 12 else [*windows[:12], "…"]
    rows = [
        (
            "setup",
            f"{result['instances']} instance(s), {result['balancer']}, counter in "
            f"{result['state']}"
            + (f", autoscaled up to {result['max_instances']}" if result["autoscale"] else ""),
        ),
        (
            "attack",
            f"{result['sent']} requests{over} at {result['attack_rate']:g} req/s for "
            f"{result['duration']:g} s",
        ),
        ("limit", f"{result['limit']} per {result['window']:g} s window"),
        (
            "effective limit",
            f"{result['effective_limit']:.1f} per window ({result['loosening']:.2f} × the limit; "
            f"theory {result['theory_effective_limit']:.1f})",
        ),
        ("allowed / refused", f"{result['allowed']} / {result['refused']}{over}"),
        (
            "per window" + (" (mean)" if runs > 1 else ""),
            " ".join(f"{n:g}" if isinstance(n, float) else n for n in shown),
        ),
    ]
    if result["autoscale"]:
        rows.append(
            (
                "instances",
                f"{result['launched']} launched{over}, {result['final_instances']:g} at the end "
                f"(mean {format_numbers([result['mean_instances']])})",
            )
        )
    rows.append(("seed", str(result["seed"])))
    return table(rows)
