"""``python -m simulations jwt``: the JWT revocation gap and what a denylist costs.

    python -m simulations jwt --token-ttl 900 --revocation none --users 1000 --duration 3600 \\
        --revocation-rate 0.05 --seed 42 --json
    python -m simulations jwt --token-ttl 900 --revocation denylist --denylist-delay 2 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.jwt.model import JwtScenario, run_jwt

SCENARIO = JwtScenario
DESCRIPTION = (
    "Users send requests with short-lived access tokens, refreshed by the first request "
    "after they expire (idle users refresh nothing); at random "
    "moments a token is stolen and revoked. Without a denylist the thief keeps using it "
    "until it expires; with one, every request costs a store lookup."
)


def run(scenario: JwtScenario) -> dict[str, Any]:
    summary = run_jwt(scenario).to_dict()
    if summary["revocations"] == 0:
        summary["warning"] = (
            "no token was revoked in this run: raise --revocation-rate or --duration"
        )
    return summary


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def format_table(result: dict[str, Any]) -> str:
    mode = result["revocation"]
    if mode == "denylist":
        mode += f" (entries visible after {result['denylist_delay']:g} s)"
    rows = [
        ("revocation", mode),
        ("token TTL", f"{result['token_ttl']:g} s"),
        (
            "traffic",
            f"{result['users']} users × {result['request_rate']:g} req/s for "
            f"{result['duration']:g} s: {result['user_requests']} requests, "
            f"{result['refreshes']} refreshes ({result['refreshes_per_second']:.2f}/s, "
            f"theory {result['theory_refreshes_per_second']:.2f}/s)",
        ),
        (
            "revocations",
            f"{result['revocations']} ({result['revocation_rate']:g}/s), each followed by a login",
        ),
        (
            "exposure window",
            f"mean {_seconds(result['mean_exposure_seconds'])} "
            f"(theory {_seconds(result['theory_mean_exposure_seconds'])}), "
            f"p95 {_seconds(result['p95_exposure_seconds'])}, "
            f"max {_seconds(result['max_exposure_seconds'])}",
        ),
        (
            "stolen-token replays",
            f"{result['attacker_requests_accepted']} accepted of {result['attacker_requests']}",
        ),
        (
            "denylist lookups",
            f"{result['denylist_lookups']} ({result['lookups_per_request']:g} per request)",
        ),
        (
            "denylist entries",
            f"peak {result['denylist_peak_entries']}, mean {result['denylist_mean_entries']:.1f} "
            f"(Little's law: {result['theory_mean_denylist_entries']:.1f})",
        ),
        ("seed", str(result["seed"])),
    ]
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    return table(rows)
