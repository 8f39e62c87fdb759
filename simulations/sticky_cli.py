"""``python -m simulations sticky``: heavy users, sticky routing, hot spots, as a table or JSON.

    python -m simulations sticky --policy sticky --instances 4 --users 1000 --zipf-s 1 \\
        --arrival-rate 2.4 --requests 20000 --scale-out-at 5000 --seed 42 --json
"""

from __future__ import annotations

import argparse
from typing import Any

from simulations.cli_common import (
    add_instances,
    add_requests,
    add_seed,
    add_users,
    format_numbers,
    non_negative_float,
    only_for,
    positive_float,
    positive_int,
    table,
)
from simulations.heavy_tail import ACTIVITY_MODELS
from simulations.sticky import SESSION_STORES, STICKY_POLICIES, StickyScenario, run_sticky

DEFAULTS = StickyScenario()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sticky",
        help="sticky sessions with heavy-tailed users: hot spots, scale-out, crash of the hot one",
        description=(
            "Heavy-tailed users (a few send most requests) through a balancer that pins users "
            "(sticky cookie, hash, consistent hash) or not (round robin, least connections), "
            "or caps the pinning (consistent hashing with bounded loads)."
        ),
    )
    parser.add_argument("--policy", choices=STICKY_POLICIES, default=DEFAULTS.policy)
    add_instances(parser, DEFAULTS.instances)
    add_users(parser, DEFAULTS.users)
    parser.add_argument(
        "--activity",
        choices=ACTIVITY_MODELS,
        default=DEFAULTS.activity,
        help="how activity is spread over users (default %(default)s)",
    )
    parser.add_argument(
        "--zipf-s",
        type=non_negative_float,
        default=None,
        metavar="S",
        help=f"zipf only: user i sends a share ∝ 1/i^S (default {DEFAULTS.zipf_s:g})",
    )
    parser.add_argument(
        "--pareto-alpha",
        type=positive_float,
        default=None,
        metavar="A",
        help=f"pareto only: shape of the users' rates (default {DEFAULTS.pareto_alpha:g})",
    )
    parser.add_argument(
        "--arrival-rate",
        type=positive_float,
        default=DEFAULTS.arrival_rate,
        metavar="L",
        help="requests per second, all users together",
    )
    parser.add_argument(
        "--service-rate",
        type=positive_float,
        default=DEFAULTS.service_rate,
        metavar="M",
        help="requests per second one instance can serve",
    )
    add_requests(parser, DEFAULTS.requests)
    parser.add_argument(
        "--scale-out-at",
        type=positive_float,
        default=None,
        metavar="T",
        help="add one instance at time T",
    )
    parser.add_argument(
        "--crash-hottest-at",
        type=positive_float,
        default=None,
        metavar="T",
        help="at time T, crash the instance given the most work so far",
    )
    parser.add_argument(
        "--epsilon",
        type=non_negative_float,
        default=None,
        metavar="E",
        help=f"bounded_load only: capacity ⌈(1+E)·average⌉ (default {DEFAULTS.epsilon:g})",
    )
    parser.add_argument(
        "--vnodes",
        type=positive_int,
        default=None,
        metavar="V",
        help=f"consistent_hash/bounded_load only: ring points per instance "
        f"(default {DEFAULTS.vnodes})",
    )
    parser.add_argument(
        "--sessions",
        choices=SESSION_STORES,
        default=DEFAULTS.sessions,
        help="where sessions live (auto: memory for pinning policies, else shared)",
    )
    parser.add_argument(
        "--windows",
        type=positive_int,
        default=DEFAULTS.windows,
        metavar="W",
        help="utilization is reported in W equal time windows",
    )
    add_seed(parser, DEFAULTS.seed)
    return parser


def scenario_from(args: argparse.Namespace) -> StickyScenario:
    """The scenario the command line describes (flags that do not apply are usage errors)."""
    only_for(args.zipf_s, "--zipf-s", args.activity == "zipf", "--activity zipf")
    only_for(args.pareto_alpha, "--pareto-alpha", args.activity == "pareto", "--activity pareto")
    only_for(args.epsilon, "--epsilon", args.policy == "bounded_load", "--policy bounded_load")
    hashed = args.policy in ("consistent_hash", "bounded_load")
    only_for(args.vnodes, "--vnodes", hashed, "--policy consistent_hash or bounded_load")
    return StickyScenario(
        policy=args.policy,
        instances=args.instances,
        users=args.users,
        activity=args.activity,
        zipf_s=DEFAULTS.zipf_s if args.zipf_s is None else args.zipf_s,
        pareto_alpha=DEFAULTS.pareto_alpha if args.pareto_alpha is None else args.pareto_alpha,
        arrival_rate=args.arrival_rate,
        service_rate=args.service_rate,
        requests=args.requests,
        scale_out_at=args.scale_out_at,
        crash_hottest_at=args.crash_hottest_at,
        epsilon=DEFAULTS.epsilon if args.epsilon is None else args.epsilon,
        vnodes=DEFAULTS.vnodes if args.vnodes is None else args.vnodes,
        sessions=args.sessions,
        windows=args.windows,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    scenario = scenario_from(args)
    result = run_sticky(scenario)
    summary = result.to_dict()
    if scenario.scale_out_at is not None and result.new_instance is None:
        summary["warning"] = "--scale-out-at is after the last request arrived: nothing was added"
    if scenario.crash_hottest_at is not None and result.hottest_instance is None:
        summary["warning"] = "--crash-hottest-at is after the last request arrived: no crash"
    return summary


def _maybe(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(result: dict[str, Any]) -> str:
    policy = result["policy"]
    if result["epsilon"] is not None:
        policy += f" (ε = {result['epsilon']:g})"
    if result["vnodes"] is not None:
        policy += f", {result['vnodes']} vnodes"
    skew = (
        f"zipf s = {result['zipf_s']:g}"
        if result["activity"] == "zipf"
        else f"pareto α = {result['pareto_alpha']:g}"
    )
    rows = [
        ("policy", policy),
        ("instances", str(result["instances"])),
        (
            "users",
            f"{result['users']} ({skew}); the heaviest sends "
            f"{result['heaviest_user_share']:.1%} and was served by "
            f"{result['heaviest_user_instances']} instance(s)",
        ),
        (
            "arrival rate",
            f"{result['arrival_rate']:g}/s, service rate {result['service_rate']:g}/s",
        ),
        (
            "requests",
            f"{result['requests_completed']} completed, {result['requests_failed']} failed",
        ),
        (
            "response time (s)",
            "mean {mean_response:.3f}   p50 {p50_response:.3f}   p95 {p95_response:.3f}   "
            "p99 {p99_response:.3f}".format(**result),
        ),
        ("load per instance", format_numbers(result["load"])),
        ("imbalance", f"{result['imbalance']:.2f} (max / mean load; 1 = even)"),
        (
            "sessions",
            f"{result['sessions']}: {result['session_misses']} session misses, "
            f"affinity {result['affinity']:.1%}",
        ),
    ]
    if result["scale_out_at"] is not None:
        rows.append(
            (
                "scale-out",
                f"instance {result['new_instance']} at t = "
                f"{result['scale_out_at']:g}: got {_maybe(result['new_instance_share'], '.1%')}"
                f" of later requests (fair share {_maybe(result['fair_share'], '.1%')})",
            )
        )
    if result["crash_hottest_at"] is not None:
        rows.append(
            (
                "crash",
                f"hottest instance {result['hottest_instance']} at t = "
                f"{result['crash_hottest_at']:g}: {result['sessions_lost']} sessions lost",
            )
        )
    if result["policy"] == "bounded_load":
        rows.append(("spilled", f"{result['spilled']} requests past their user's own instance"))
    rows.append(("seed", str(result["seed"])))
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    return table(rows)
