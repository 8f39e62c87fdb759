"""``python -m simulations races``: a process-wide "current user" read back by the wrong request.

python -m simulations races --threads 4 --arrival-rate 20 --wait 0.05 --json
python -m simulations races --threads 1 --arrival-rate 40 --replications 10
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.races.model import RaceScenario, simulate

SCENARIO = RaceScenario
REPLICABLE = True  # --replications R: counts summed, means averaged, 95% intervals
DESCRIPTION = (
    "Requests reach one worker process with T threads (Poisson arrivals; beyond T they queue). "
    "Each sets a process-wide global to its user, waits for its I/O, and reads the global "
    "back: it is mixed up when another request started in between. Never with one thread; "
    "theory: λw/(1 + λw) with threads enough (exponential waits), 1 − e^(−λw) (fixed waits)."
)


def run(scenario: RaceScenario) -> dict[str, Any]:
    return simulate(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    theory = result["theory"]
    shown = "none (the pool fills up)" if theory is None else f"{theory:.1%}"
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    sent = f"{runs * result['requests']} requests" + (f" ({runs} runs)" if runs > 1 else "")
    return table(
        [
            ("process", f"{result['threads']} thread(s)"),
            (
                "traffic",
                f"{sent} at {result['arrival_rate']:g} req/s, "
                f"{result['handler']} waits of {result['wait']:g} s "
                f"(λw = {result['offered_load']:.2f}, thread use {result['utilization']:.0%})",
            ),
            (
                "mixed up",
                f"{result['mixups']} read another request's user ({result['share']:.1%}; "
                f"theory {shown})",
            ),
            (
                "queued",
                f"{result['queued']} waited for a thread (mean wait "
                f"{result['mean_queue_wait'] * 1000:.1f} ms); peak {result['peak_busy']:g} busy",
            ),
            ("seed", str(result["seed"])),
        ]
    )
