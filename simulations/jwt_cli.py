"""``python -m simulations jwt``: the JWT revocation gap and what a denylist costs.

    python -m simulations jwt --token-ttl 900 --revocation none --users 1000 --duration 3600 \\
        --revocation-rate 0.05 --seed 42 --json
    python -m simulations jwt --token-ttl 900 --revocation denylist --denylist-delay 2 --json
"""

from __future__ import annotations

import argparse
from typing import Any

from simulations.cli_common import (
    add_seed,
    add_users,
    non_negative_float,
    only_for,
    positive_float,
    table,
)
from simulations.jwt_revocation import REVOCATION_MODES, JwtScenario, run_jwt

DEFAULTS = JwtScenario()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "jwt",
        help="JWT revocation: how long a revoked token keeps working; what a denylist costs",
        description=(
            "Users send requests with short-lived access tokens refreshed at expiry; at random "
            "moments a token is stolen and revoked. Without a denylist the thief keeps using it "
            "until it expires; with one, every request costs a store lookup."
        ),
    )
    parser.add_argument(
        "--token-ttl",
        type=positive_float,
        default=DEFAULTS.token_ttl,
        metavar="S",
        help="access-token lifetime in seconds (default %(default)g)",
    )
    parser.add_argument(
        "--revocation",
        choices=REVOCATION_MODES,
        default=DEFAULTS.revocation,
        help="none: tokens live until exp; denylist: logout writes the jti to a shared store",
    )
    add_users(parser, DEFAULTS.users)
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=DEFAULTS.duration,
        metavar="T",
        help="simulated seconds (default %(default)g)",
    )
    parser.add_argument(
        "--revocation-rate",
        type=positive_float,
        default=DEFAULTS.revocation_rate,
        metavar="R",
        help="stolen tokens revoked per second (default %(default)g)",
    )
    parser.add_argument(
        "--request-rate",
        type=positive_float,
        default=DEFAULTS.request_rate,
        metavar="Q",
        help="requests per second per user, and per thief (default %(default)g)",
    )
    parser.add_argument(
        "--denylist-delay",
        type=non_negative_float,
        default=None,
        metavar="D",
        help="denylist only: seconds before every instance sees a new entry (default 0)",
    )
    add_seed(parser, DEFAULTS.seed)
    return parser


def scenario_from(args: argparse.Namespace) -> JwtScenario:
    """The scenario the command line describes (a flag that does not apply is a usage error)."""
    denylist = args.revocation == "denylist"
    only_for(args.denylist_delay, "--denylist-delay", denylist, "--revocation denylist")
    return JwtScenario(
        token_ttl=args.token_ttl,
        revocation=args.revocation,
        users=args.users,
        duration=args.duration,
        revocation_rate=args.revocation_rate,
        request_rate=args.request_rate,
        denylist_delay=args.denylist_delay or 0.0,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    summary = run_jwt(scenario_from(args)).to_dict()
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
            f"{result['refreshes']} refreshes ({result['refreshes_per_second']:.2f}/s)",
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
