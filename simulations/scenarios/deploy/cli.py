"""``python -m simulations deploy``: a rolling deploy with maxSurge / maxUnavailable under load.

python -m simulations deploy --store memory --replicas 4 --max-surge 25% --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.deploy.model import DeployScenario, run_deploy

SCENARIO = DeployScenario
DESCRIPTION = (
    "Replace every instance with a new version, Kubernetes RollingUpdate style: "
    "surge rounds up, unavailable rounds down. Old instances drain unless --no-drain."
)


def run(scenario: DeployScenario) -> dict[str, Any]:
    return run_deploy(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    took = result["deploy_time"]
    return table(
        [
            ("sessions", f"{result['store']}, routing {result['policy']}"),
            (
                "deploy",
                "{replicas} replicas, maxSurge {max_surge} → {surge}, maxUnavailable "
                "{max_unavailable} → {unavailable}, boot {boot_time:g} s".format(**result),
            ),
            ("took", "unfinished" if took is None else f"{took:g} s"),
            (
                "instances",
                f"ready ≥ {result['min_ready']}, booting + ready ≤ {result['max_total']}",
            ),
            ("requests", f"{result['requests']} ({result['requests_completed']} completed)"),
            (
                "failed requests",
                f"{result['failed_requests']} ({'draining' if result['drain'] else 'no draining'})",
            ),
            (
                "sessions lost",
                f"{result['sessions_lost']} ({result['sessions_at_deploy']} "
                "sessions when the deploy began)",
            ),
            (
                "users forced to log in",
                f"{result['users_forced_to_login']} "
                f"({result['users_logged_out_twice']} of them twice or more)",
            ),
            ("seed", str(result["seed"])),
        ]
    )
