"""``python -m simulations session-miss``: how often a request misses its session (lesson 01).

python -m simulations session-miss --instances 4 --policy random --requests 2000 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.session_miss.model import SessionMissScenario, session_miss_rate

SCENARIO = SessionMissScenario
REPLICABLE = True  # --replications R: counts summed, means averaged, 95% intervals
DESCRIPTION = (
    "Users log in once, then click at random; every request goes through a balancer to one of "
    "N instances. Sessions in instance memory are missed by every request that lands "
    "elsewhere (theory: 1 − 1/N for round robin and random); a shared store never misses."
)


def run(scenario: SessionMissScenario) -> dict[str, Any]:
    return session_miss_rate(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    return table(
        [
            ("routing", f"{result['policy']}, {result['instances']} instances"),
            ("sessions", result["store"]),
            ("requests", f"{result['requests']} from {result['users']} users"),
            (
                "session misses",
                f"{result['misses']} ({result['miss_rate']:.1%}; theory "
                f"{result['expected_miss_rate']:.1%})",
            ),
            ("per instance", " ".join(map(str, result["requests_per_instance"]))),
            ("seed", str(result["seed"])),
        ]
    )
