"""``python -m simulations crashes`` (alias ``sessions``): instances crash; who is logged out?

    python -m simulations crashes --store memory --policy sticky --instances 4 --users 1000 \\
        --crash-at 50 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.crashes.model import CrashScenario, run_crashes

SCENARIO = CrashScenario
DESCRIPTION = (
    "Users log in within the first 10 s, then send requests at random. Instances "
    "crash at the given times; sessions kept in instance memory die with them, "
    "sessions in a shared store survive."
)


def run(scenario: CrashScenario) -> dict[str, Any]:
    return run_crashes(scenario).to_dict()


def format_table(result: dict[str, Any]) -> str:
    crash = "none"
    if result["crash_at"]:
        times = ", ".join(f"{t:g}" for t in result["crash_at"])
        crash = f"{result['crashes']} of {result['instances']} instances at {times} s"
        if result["restart_after"] is not None:
            crash += f", back after {result['restart_after']:g} s + {result['boot_time']:g} s boot"
    return table(
        [
            ("sessions", f"{result['store']}, routing {result['policy']}"),
            ("users", f"{result['users']} (logged in within {result['login_window']:g} s)"),
            ("crashes", crash),
            ("requests", f"{result['requests']} ({result['requests_completed']} completed)"),
            (
                "failed requests",
                "{failed_requests} (in flight {failed_in_flight}, queued "
                "{failed_queued}, no instance {failed_no_instance})".format(**result),
            ),
            ("requests rerouted", str(result["requests_rerouted"])),
            ("sessions at crash", str(result["sessions_at_crash"])),
            ("sessions lost", str(result["sessions_lost"])),
            ("users forced to log in", str(result["users_forced_to_login"])),
            ("session misses", str(result["session_misses"])),
            ("seed", str(result["seed"])),
        ]
    )
