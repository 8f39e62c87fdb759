"""``python -m simulations autoscale``: a traffic spike against a Kubernetes-style autoscaler.

python -m simulations autoscale --store shared --policy least_connections --no-drain --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.autoscale.model import AutoscaleScenario, run_autoscale

SCENARIO = AutoscaleScenario
DESCRIPTION = (
    "Visits arrive; during the spike, spike-factor times as often. Every sync period "
    "the autoscaler applies desired = ceil(current × utilization / target) with a "
    "tolerance, a scale-down stabilization window and min/max replicas."
)


def run(scenario: AutoscaleScenario) -> dict[str, Any]:
    return run_autoscale(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    return table(
        [
            ("sessions", f"{result['store']}, routing {result['policy']}"),
            (
                "spike",
                "×{spike_factor:g} visits from {spike_at:g} s for {spike_duration:g} s".format(
                    **result
                ),
            ),
            (
                "autoscaler",
                "target {target:g}, tolerance {tolerance:g}, replicas {min_replicas}"
                "–{max_replicas}, stabilization {stabilization_window:g} s, "
                "boot {boot_time:g} s".format(**result),
            ),
            (
                "replicas",
                "{initial_replicas} → peak {peak_replicas} → {final_replicas}".format(**result),
            ),
            (
                "first scale-out",
                f"asked at {result['first_scale_out']} s, serving at {result['first_new_ready']} s",
            ),
            (
                "first scale-in",
                f"{result['first_scale_in']} s "
                f"({'draining' if result['drain'] else 'no draining'})",
            ),
            ("requests", f"{result['requests']} ({result['requests_completed']} completed)"),
            (
                "p99 response",
                f"{result['p99_response']:.2f} s overall, "
                f"{result['spike_p99_response']:.2f} s during the spike",
            ),
            ("failed requests", str(result["failed_requests"])),
            ("sessions lost", str(result["sessions_lost"])),
            ("users forced to log in", str(result["users_forced_to_login"])),
            ("seed", str(result["seed"])),
        ]
    )
