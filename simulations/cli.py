"""Command line for the simulations: ``python -m simulations SUBCOMMAND [options] [--json]``.

Each subcommand is a *scenario module* listed in ``SCENARIOS``. A scenario module exposes:

* ``add_parser(subparsers) -> argparse.ArgumentParser``: add its subcommand and its options
  (use the shared types from ``simulations.cli_common``, e.g. ``type=positive_float``, so bad
  numbers are rejected alike everywhere, and its ``add_seed``, ``add_users``... for the options
  every subcommand spells the same);
* ``run(args) -> dict``: run the model and return a JSON-ready dict (counts as ints; raise
  ``UsageError`` for options that make no sense together, e.g. a flag the chosen policy ignores:
  ``cli_common.only_for`` says so);
* ``format_table(result) -> str``: the readable text printed when ``--json`` is not given
  (``cli_common.table`` aligns label/value rows).

To add a subcommand, write such a module and append it to ``SCENARIOS``: this module adds
``--json`` to every subcommand, prints the result, and turns every usage problem (unknown
choice, non-number, negative rate, ``UsageError``, ``ValueError`` from the model) into one line
on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from types import ModuleType

from simulations import balance_cli, bench, jwt_cli, lifecycle_cli, sticky_cli
from simulations.cli_common import (
    OneLineErrorParser,
    UsageError,
    integer,
    positive_float,
    positive_int,
)

__all__ = ["SCENARIOS", "UsageError", "integer", "main", "positive_float", "positive_int"]

SCENARIOS: list[ModuleType] = [balance_cli, bench, sticky_cli, *lifecycle_cli.SUBCOMMANDS, jwt_cli]  # type: ignore[list-item]
PROG = "python -m simulations"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=PROG, description="Stateless by Design: simulations.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for module in SCENARIOS:
        sub = module.add_parser(subparsers)
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.set_defaults(scenario=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the subcommand, print its table or JSON; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error already printed (2)
        return stop.code if isinstance(stop.code, int) else 2
    try:
        result = args.scenario.run(args)
    except (UsageError, ValueError) as problem:
        print(f"{PROG} {args.command}: error: {problem}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(args.scenario.format_table(result))
    return 0
