"""``python -m simulations balance``: one load-balancing run, as a table or one JSON object.

    python -m simulations balance --policy random --instances 4 --arrival-rate 3.2 \\
        --service-rate 1 --requests 200000 --seed 1 --json
"""

from __future__ import annotations

import argparse
from typing import Any

from simulations.balance import run_balance
from simulations.cli_common import (
    UsageError,
    add_instances,
    add_requests,
    add_seed,
    format_numbers,
    only_for,
    positive_float,
    positive_int,
    table,
)
from simulations.policies import POLICY_NAMES
from simulations.workload import SERVICE_DISTRIBUTIONS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "balance",
        help="requests through a load balancer to n instances, compared with queueing theory",
        description="Simulate a load balancer in front of n single-server FIFO instances.",
    )
    parser.add_argument("--policy", choices=POLICY_NAMES, default="random")
    add_instances(parser, default=4)
    parser.add_argument(
        "--arrival-rate",
        type=positive_float,
        default=3.2,
        metavar="L",
        help="requests per second, all users together (default %(default)g)",
    )
    parser.add_argument(
        "--service-rate",
        type=positive_float,
        default=1.0,
        metavar="M",
        help="requests per second one instance can serve (default %(default)g)",
    )
    add_requests(parser, default=100_000)
    add_seed(parser, default=0)
    parser.add_argument("--service-dist", choices=SERVICE_DISTRIBUTIONS, default="exponential")
    parser.add_argument(
        "--choices",
        type=positive_int,
        default=None,
        metavar="D",
        help="power_of_two only: how many instances to ask (default 2)",
    )
    parser.add_argument(
        "--users",
        type=positive_int,
        default=None,
        metavar="U",
        help="sticky only: equally active users, each pinned (default 100)",
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    only_for(args.choices, "--choices", args.policy == "power_of_two", "--policy power_of_two")
    only_for(args.users, "--users", args.policy == "sticky", "--policy sticky")
    choices = min(2, args.instances) if args.choices is None else args.choices
    if choices > args.instances:
        raise UsageError(f"--choices {choices} is more than the {args.instances} instances")
    result = run_balance(
        policy=args.policy,
        instances=args.instances,
        arrival_rate=args.arrival_rate,
        service_rate=args.service_rate,
        requests=args.requests,
        seed=args.seed,
        service_dist=args.service_dist,
        choices=choices,
        users=100 if args.users is None else args.users,
    )
    return result.to_dict()


def _theory_mean(result: dict[str, Any]) -> str:
    theory = result["theory"]
    if theory["mean_response"] is not None:
        error = result["mean_response"] / theory["mean_response"] - 1
        return f"{theory['mean_response']:.3f} s   (simulated is {error:+.1%})"
    if theory["lower_bound"] is not None:
        bounds = f"≥ {theory['lower_bound']:.3f} s"
        if theory["upper_bound"] is not None:
            bounds += f" and ≤ {theory['upper_bound']:.3f} s (round robin)"
        return bounds
    return "∞ (unstable)" if "warning" in result else "— (no closed form)"


def format_table(result: dict[str, Any]) -> str:
    policy = result["policy"]
    if "choices" in result:
        policy += f" (d = {result['choices']})"
    if "users" in result:
        policy += f" ({result['users']} users)"
    load = f"{result['arrival_rate']:g}/s   (load per instance {result['load']:.1%})"
    counts = f"{result['requests_completed']} completed, {result['requests_failed']} failed"
    times = "mean {mean_response:.3f}   p50 {p50_response:.3f}   p95 {p95_response:.3f}   "
    times += "p99 {p99_response:.3f}"
    rows = [
        ("policy", policy),
        ("instances", str(result["instances"])),
        ("arrival rate", load),
        ("service", f"{result['service_dist']}, rate {result['service_rate']:g}/s"),
        ("requests", counts),
        ("response time (s)", times.format(**result)),
        ("theory", result["theory"]["model"]),
        ("theory mean", _theory_mean(result)),
    ]
    if result["theory"]["p99_response"] is not None:
        rows.append(("theory p99", f"{result['theory']['p99_response']:.3f} s"))
    rows += [
        ("utilization", format_numbers(result["utilization"])),
        ("mean queue length", format_numbers(result["mean_queue_length"])),
        ("seed", str(result["seed"])),
    ]
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    return table(rows)
