"""``python -m simulations sessions | autoscale | deploy``: instances that die, scale and redeploy.

    python -m simulations sessions --store memory --policy sticky --instances 4 --users 1000 \\
        --crash-at 50 --json
    python -m simulations autoscale --store shared --policy least_connections --no-drain --json
    python -m simulations deploy --store memory --replicas 4 --max-surge 25% --json

Each subcommand is a class with the scenario-module interface of ``simulations.cli``
(``add_parser``, ``run``, ``format_table``); ``SUBCOMMANDS`` lists them. Options that only make
sense with another one (``--restart-after`` without ``--crash-at``) are refused, not ignored.
"""

from __future__ import annotations

import argparse
from typing import Any

from simulations.autoscale import AutoscaleScenario, run_autoscale
from simulations.cli_common import (
    UsageError,
    add_instances,
    add_seed,
    add_users,
    non_negative_float,
    positive_float,
    positive_int,
    table,
)
from simulations.deploy import DeployScenario, run_deploy
from simulations.policies import POLICY_NAMES
from simulations.sessions import STORES, SessionsScenario, run_sessions


def _common(parser: argparse.ArgumentParser, store: str, policy: str) -> None:
    parser.add_argument(
        "--store", choices=STORES, default=store, help="where sessions live (default %(default)s)"
    )
    parser.add_argument(
        "--policy",
        choices=POLICY_NAMES,
        default=policy,
        help="load-balancing policy (default %(default)s)",
    )


class SessionsCommand:
    """``sessions``: users with sessions, a crash schedule; who is logged out?"""

    defaults = SessionsScenario()

    @staticmethod
    def add_parser(subparsers: Any) -> argparse.ArgumentParser:
        d = SessionsCommand.defaults
        parser = subparsers.add_parser(
            "sessions",
            help="instances crash: sessions lost, users forced to log in again, failed requests",
            description=(
                "Users log in within the first 10 s, then send requests at random. Instances "
                "crash at the given times; sessions kept in instance memory die with them, "
                "sessions in a shared store survive."
            ),
        )
        _common(parser, d.store, d.policy)
        add_instances(parser, d.instances)
        add_users(parser, d.users)
        parser.add_argument(
            "--duration",
            type=positive_float,
            default=d.duration,
            metavar="D",
            help="seconds of traffic (default %(default)g)",
        )
        parser.add_argument(
            "--login-window",
            type=positive_float,
            default=d.login_window,
            metavar="W",
            help="every user logs in within the first W seconds (default %(default)g)",
        )
        parser.add_argument(
            "--think-time",
            type=positive_float,
            default=d.think_time,
            metavar="S",
            help="mean seconds between a user's requests (default %(default)g)",
        )
        parser.add_argument(
            "--service-rate",
            type=positive_float,
            default=d.service_rate,
            metavar="M",
            help="requests per second one instance serves (default %(default)g)",
        )
        parser.add_argument(
            "--crash-at",
            type=positive_float,
            nargs="+",
            default=None,
            metavar="T",
            help="crash times (default: nothing crashes)",
        )
        parser.add_argument(
            "--crashes",
            type=positive_int,
            default=None,
            metavar="K",
            help="instances that die at each crash time (default 1)",
        )
        parser.add_argument(
            "--restart-after",
            type=non_negative_float,
            default=None,
            metavar="R",
            help="a crashed instance restarts R seconds later, empty",
        )
        parser.add_argument(
            "--boot-time",
            type=non_negative_float,
            default=None,
            metavar="B",
            help="a restarted instance serves B seconds after it starts",
        )
        parser.add_argument(
            "--retry-queued",
            action="store_true",
            help="the balancer resends a crashed instance's queued requests",
        )
        add_seed(parser, d.seed)
        return parser

    @staticmethod
    def run(args: argparse.Namespace) -> dict[str, Any]:
        crashing = args.crash_at is not None
        for flag, given in (
            ("--crashes", args.crashes is not None),
            ("--restart-after", args.restart_after is not None),
            ("--retry-queued", args.retry_queued),
        ):
            if given and not crashing:
                raise UsageError(f"{flag} needs --crash-at (nothing crashes without it)")
        if args.boot_time is not None and args.restart_after is None:
            raise UsageError("--boot-time applies to restarted instances: give --restart-after")
        result = run_sessions(
            store=args.store,
            policy=args.policy,
            instances=args.instances,
            users=args.users,
            duration=args.duration,
            login_window=args.login_window,
            think_time=args.think_time,
            service_rate=args.service_rate,
            crash_at=tuple(args.crash_at or ()),
            crashes=1 if args.crashes is None else args.crashes,
            restart_after=args.restart_after,
            boot_time=0.0 if args.boot_time is None else args.boot_time,
            retry_queued=args.retry_queued,
            seed=args.seed,
        )
        return result.to_dict()

    @staticmethod
    def format_table(result: dict[str, Any]) -> str:
        crash = "none"
        if result["crash_at"]:
            times = ", ".join(f"{t:g}" for t in result["crash_at"])
            crash = f"{result['crashes']} of {result['instances']} instances at {times} s"
            if result["restart_after"] is not None:
                crash += (
                    f", back after {result['restart_after']:g} s + {result['boot_time']:g} s boot"
                )
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


class AutoscaleCommand:
    """``autoscale``: a traffic spike against a Kubernetes-style autoscaler."""

    defaults = AutoscaleScenario()

    @staticmethod
    def add_parser(subparsers: Any) -> argparse.ArgumentParser:
        d = AutoscaleCommand.defaults
        parser = subparsers.add_parser(
            "autoscale",
            help="a traffic spike against an HPA-style autoscaler: boot delay, scale-in, sessions",
            description=(
                "Visits arrive; during the spike, spike-factor times as often. Every sync period "
                "the autoscaler applies desired = ceil(current × utilization / target) with a "
                "tolerance, a scale-down stabilization window and min/max replicas."
            ),
        )
        _common(parser, d.store, d.policy)
        number = {"type": positive_float, "metavar": "X"}
        zero_ok = {"type": non_negative_float, "metavar": "X"}
        parser.add_argument(
            "--users",
            type=positive_int,
            default=d.users,
            metavar="U",
            help="users visiting at any moment at the base load (%(default)s)",
        )
        parser.add_argument(
            "--think-time",
            default=d.think_time,
            **number,
            help="mean seconds between a user's requests (%(default)g)",
        )
        parser.add_argument(
            "--visit-length",
            default=d.visit_length,
            **number,
            help="mean seconds a visit lasts (%(default)g)",
        )
        parser.add_argument(
            "--spike-factor",
            default=d.spike_factor,
            **number,
            help="visits start this many times as often (%(default)g)",
        )
        parser.add_argument("--spike-at", default=d.spike_at, **zero_ok)
        parser.add_argument("--spike-duration", default=d.spike_duration, **number)
        parser.add_argument("--duration", default=d.duration, **number)
        parser.add_argument(
            "--service-rate",
            default=d.service_rate,
            **number,
            help="requests per second one instance serves (%(default)g)",
        )
        parser.add_argument(
            "--target",
            default=d.target,
            **number,
            help="target CPU utilization (default %(default)g)",
        )
        parser.add_argument(
            "--tolerance",
            default=d.tolerance,
            **zero_ok,
            help="no change while |utilization/target − 1| ≤ X (%(default)g)",
        )
        parser.add_argument(
            "--min-replicas", type=positive_int, default=d.min_replicas, metavar="N"
        )
        parser.add_argument(
            "--max-replicas", type=positive_int, default=d.max_replicas, metavar="N"
        )
        parser.add_argument("--sync-period", default=d.sync_period, **number)
        parser.add_argument(
            "--metric-window",
            default=d.metric_window,
            **number,
            help="utilization is averaged over X seconds (%(default)g)",
        )
        parser.add_argument(
            "--stabilization-window",
            default=d.stabilization_window,
            **zero_ok,
            help="scale-down stabilization, seconds (%(default)g)",
        )
        parser.add_argument("--boot-time", default=d.boot_time, **zero_ok)
        parser.add_argument(
            "--no-drain",
            action="store_true",
            help="scale-in stops instances at once (their requests fail)",
        )
        add_seed(parser, d.seed)
        return parser

    @staticmethod
    def run(args: argparse.Namespace) -> dict[str, Any]:
        names = (
            "store",
            "policy",
            "users",
            "think_time",
            "visit_length",
            "spike_factor",
            "spike_at",
            "spike_duration",
            "duration",
            "service_rate",
            "target",
            "tolerance",
            "min_replicas",
            "max_replicas",
            "sync_period",
            "metric_window",
            "stabilization_window",
            "boot_time",
            "seed",
        )
        result = run_autoscale(drain=not args.no_drain, **{n: getattr(args, n) for n in names})
        return result.to_dict()

    @staticmethod
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
                    f"asked at {result['first_scale_out']} s, serving at "
                    f"{result['first_new_ready']} s",
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


def surge_amount(text: str) -> int | str:
    """argparse type: a whole number ≥ 0 or a percentage like 25%."""
    text = text.strip()
    digits = text[:-1] if text.endswith("%") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a whole number nor a percentage")
    return text if text.endswith("%") else int(text)


class DeployCommand:
    """``deploy``: a rolling deploy with maxSurge / maxUnavailable under load."""

    defaults = DeployScenario()

    @staticmethod
    def add_parser(subparsers: Any) -> argparse.ArgumentParser:
        d = DeployCommand.defaults
        parser = subparsers.add_parser(
            "deploy",
            help="a rolling deploy (maxSurge / maxUnavailable, boot delay) under load",
            description=(
                "Replace every instance with a new version, Kubernetes RollingUpdate style: "
                "surge rounds up, unavailable rounds down. Old instances drain unless "
                "--no-drain."
            ),
        )
        _common(parser, d.store, d.policy)
        parser.add_argument("--replicas", type=positive_int, default=d.replicas, metavar="N")
        parser.add_argument(
            "--max-surge",
            type=surge_amount,
            default=d.max_surge,
            metavar="S",
            help="a number or a percentage, rounded up (default %(default)s)",
        )
        parser.add_argument(
            "--max-unavailable",
            type=surge_amount,
            default=d.max_unavailable,
            metavar="U",
            help="a number or a percentage, rounded down (default %(default)s)",
        )
        parser.add_argument(
            "--boot-time", type=non_negative_float, default=d.boot_time, metavar="B"
        )
        parser.add_argument(
            "--no-drain",
            action="store_true",
            help="old instances stop at once (their requests fail)",
        )
        parser.add_argument("--deploy-at", type=positive_float, default=d.deploy_at, metavar="T")
        parser.add_argument("--duration", type=positive_float, default=d.duration, metavar="D")
        add_users(parser, d.users)
        parser.add_argument("--think-time", type=positive_float, default=d.think_time, metavar="S")
        parser.add_argument(
            "--service-rate", type=positive_float, default=d.service_rate, metavar="M"
        )
        add_seed(parser, d.seed)
        return parser

    @staticmethod
    def run(args: argparse.Namespace) -> dict[str, Any]:
        names = (
            "store",
            "policy",
            "replicas",
            "max_surge",
            "max_unavailable",
            "boot_time",
            "deploy_at",
            "duration",
            "users",
            "think_time",
            "service_rate",
            "seed",
        )
        result = run_deploy(drain=not args.no_drain, **{n: getattr(args, n) for n in names})
        return result.to_dict()

    @staticmethod
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
                    f"{result['failed_requests']} "
                    f"({'draining' if result['drain'] else 'no draining'})",
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


SUBCOMMANDS = [SessionsCommand, AutoscaleCommand, DeployCommand]
