"""``python -m simulations balance``: one load-balancing run, as a table or one JSON object.

    python -m simulations balance --policy random --instances 4 --arrival-rate 3.2 \\
        --service-rate 1 --requests 200000 --seed 1 --json
"""

from __future__ import annotations

import argparse
from typing import Any

from simulations.balance import run_balance
from simulations.cli_common import UsageError, integer, positive_float, positive_int
from simulations.policies import POLICY_NAMES
from simulations.workload import SERVICE_DISTRIBUTIONS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "balance",
        help="requests through a load balancer to n instances, compared with queueing theory",
        description="Simulate a load balancer in front of n single-server FIFO instances.",
    )
    parser.add_argument("--policy", choices=POLICY_NAMES, default="random")
    parser.add_argument("--instances", type=positive_int, default=4, metavar="N")
    parser.add_argument(
        "--arrival-rate",
        type=positive_float,
        default=3.2,
        metavar="L",
        help="requests per second, all users together (default 3.2)",
    )
    parser.add_argument(
        "--service-rate",
        type=positive_float,
        default=1.0,
        metavar="M",
        help="requests per second one instance can serve (default 1)",
    )
    parser.add_argument("--requests", type=positive_int, default=100_000, metavar="K")
    parser.add_argument("--seed", type=integer, default=0, metavar="S")
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
    if args.choices is not None and args.policy != "power_of_two":
        raise UsageError("--choices applies only to --policy power_of_two")
    if args.users is not None and args.policy != "sticky":
        raise UsageError("--users applies only to --policy sticky")
    choices = 2 if args.choices is None else args.choices
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


def _numbers(values: list[float], digits: int = 2) -> str:
    return " ".join(f"{value:.{digits}f}" for value in values)


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
        ("utilization", _numbers(result["utilization"])),
        ("mean queue length", _numbers(result["mean_queue_length"])),
        ("seed", str(result["seed"])),
    ]
    if "warning" in result:
        rows.append(("WARNING", result["warning"]))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
