"""Command line for the simulations: ``python -m simulations SUBCOMMAND [options] [--json]``.

Every subcommand is made from a *command module*: each scenario's ``cli.py``
(``simulations/scenarios/<name>/cli.py``, listed in ``simulations.scenarios.SCENARIOS``) and
``simulations.bench``. A command module says only what is its own:

* ``SCENARIO``: the scenario dataclass; its fields (``simulations.knobs``) *are* the options:
  flag ``--field-name``, type, bounds, default and ``--help`` text all come from the field, and
  a flag given where its field's ``applies`` rule says it does not matter is refused;
* ``DESCRIPTION``, the paragraph of its ``--help`` (the one-line ``HELP`` the command list
  shows, and any ``ALIASES``, live in the scenario's package ``__init__``, so that listing the
  commands loads no model);
* ``run(scenario) -> dict``: run the model and return a JSON-ready dict (counts as ints);
* ``format_table(result) -> str``: the readable text printed when ``--json`` is not given
  (``table`` aligns label/value rows);
* ``REPLICABLE = True``, where the result's numbers can be merged across runs: the subcommand
  takes ``--replications R`` (``simulations.replications``) and reports 95% intervals.

Only the chosen subcommand's module is imported (``python -m simulations --help`` loads no
SimPy). Only what was typed reaches the scenario (options default to ``argparse.SUPPRESS``), so the
model's own defaults apply, except where a field declares a longer ``cli_default``. Every usage
problem (unknown choice, non-number, a value out of bounds, a flag that does not apply, a
``ValueError`` from the model) is one line on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NoReturn

from simulations import knobs
from simulations.knobs import UNSET, Knob, applies, check_value, parse_amount
from simulations.scenarios import SCENARIOS

PROG = "python -m simulations"
METAVARS = {"count": "N", "number": "X", "seed": "S", "times": "T", "amount": "N"}


class UsageError(Exception):
    """Options that parse but make no sense (together): reported in one line, exit code 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


BENCH_HELP = "the budgets of §8, measured: engine vs lean SimPy, redraws, memory, start-up"


@dataclass(frozen=True)
class Command:
    """One subcommand as the command list knows it, before its module is imported."""

    name: str
    module: str
    help: str
    aliases: tuple[str, ...] = ()

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


def commands() -> list[Command]:
    """Every subcommand: the scenarios in lesson order, then ``bench``."""
    found = []
    for name in SCENARIOS:
        package = importlib.import_module(f"simulations.scenarios.{name}")  # no model: cheap
        found.append(
            Command(
                name.replace("_", "-"),
                f"simulations.scenarios.{name}.cli",
                package.HELP,
                getattr(package, "ALIASES", ()),
            )
        )
    return [*found, Command("bench", "simulations.bench", BENCH_HELP)]


def command_modules() -> list[ModuleType]:
    """Every subcommand's module, imported (tests build every option of every one)."""
    return [command.load() for command in commands()]


def command_name(module: ModuleType) -> str:
    """``simulations.scenarios.session_miss.cli`` → ``session-miss``."""
    return next(command.name for command in commands() if command.module == module.__name__)


# --- options from fields --------------------------------------------------------------------


def flag_of(name: str, knob: Knob) -> str:
    """The option that sets field ``name``: ``--arrival-rate`` for ``arrival_rate``."""
    return knob.flag or "--" + name.replace("_", "-")


def _value_type(name: str, knob: Knob) -> Callable[[str], Any]:
    """An argparse ``type`` that parses one value of ``knob`` and checks it like the model."""
    whole = knob.kind in ("count", "seed")

    def parse(text: str) -> Any:
        if knob.kind == "amount":
            try:
                return parse_amount(name, text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is neither a whole number nor a percentage"
                ) from None
        try:
            if not text.isascii():  # int() and float() would read "٣" or "１２" as numbers
                raise ValueError(text)
            value = int(text) if whole else float(text)
        except ValueError:
            what = "a whole number" if whole else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not whole and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        try:
            check_value(name, [value] if knob.kind == "times" else value, knob)
        except ValueError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None
        return value

    parse.__name__ = knob.kind  # argparse names the type in some messages
    return parse


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None or value == ():
        return "none"
    return str(value)


def help_text(field: dataclasses.Field, knob: Knob, declared: dict[str, Any]) -> str:
    """``--help`` for one option: where it applies, what it means, the unit and the default."""
    text = knob.flag_help or knob.help
    if knob.applies is not None:
        other, values = knob.applies
        if values:
            text = f"{' or '.join(values)} only: {text}"
        else:
            text = f"with {flag_of(other, declared[other][1])}: {text}"
    if knob.unit and knob.kind in ("number", "times"):
        text += f" [{knob.unit}]"
    if knob.kind != "switch" and "(default" not in text:
        default = field.default if knob.cli_default is UNSET else knob.cli_default
        text += f" (default {_shown(default)})"
    return text.replace("%", "%%")  # argparse formats help texts with %


def add_options(parser: argparse.ArgumentParser, kind: type) -> None:
    """One option per knob of scenario class ``kind``; every default is ``SUPPRESS``."""
    declared = knobs.declared(kind)
    for name, (field, knob) in declared.items():
        options: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "help": help_text(field, knob, declared),
        }
        if knob.kind == "switch":
            options["action"] = "store_false" if field.default else "store_true"
        elif knob.kind == "choice":
            options["choices"] = knob.choices
        else:
            options["type"] = _value_type(name, knob)
            options["metavar"] = knob.metavar or METAVARS[knob.kind]
            if knob.kind == "times":
                options["nargs"] = "+"
        parser.add_argument(flag_of(name, knob), **options)


def scenario_from(kind: type, args: argparse.Namespace) -> Any:
    """The scenario the command line describes: what was typed, refused where it does not
    apply; fields with a ``cli_default`` get it when not typed."""
    declared = knobs.declared(kind)
    typed = {name: getattr(args, name) for name in declared if hasattr(args, name)}
    settings = {name: field.default for name, (field, _) in declared.items()} | typed
    for name in typed:
        knob = declared[name][1]
        if knob.applies is None or applies(knob, settings):
            continue
        other, values = knob.applies
        other_flag = flag_of(other, declared[other][1])
        flag = flag_of(name, knob)
        if values:
            raise UsageError(f"{flag} applies only to {other_flag} {' or '.join(values)}")
        raise UsageError(f"{flag} needs {other_flag}" + (f" ({knob.why})" if knob.why else ""))
    for name, (_, knob) in declared.items():
        if name not in typed and knob.cli_default is not UNSET:
            typed[name] = knob.cli_default
        if knob.kind == "times" and name in typed:
            typed[name] = tuple(typed[name])
    return kind(**typed)


# --- the program ----------------------------------------------------------------------------


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with every subcommand listed and the one ``argv`` names built in full."""
    parser = OneLineErrorParser(prog=PROG, description="Stateless by Design: simulations.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    typed = set(argv)
    for command in commands():
        sub = subparsers.add_parser(command.name, aliases=command.aliases, help=command.help)
        if typed & {command.name, *command.aliases}:
            module = command.load()
            sub.description = module.DESCRIPTION
            add_options(sub, module.SCENARIO)
            if getattr(module, "REPLICABLE", False):
                from simulations.replications import ReplicationSettings  # with the model

                add_options(sub, ReplicationSettings)
            sub.set_defaults(module=module)
        sub.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the subcommand, print its table or JSON; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error already printed (2)
        return stop.code if isinstance(stop.code, int) else 2
    module = args.module
    try:
        scenario = scenario_from(module.SCENARIO, args)
        if getattr(module, "REPLICABLE", False):
            from simulations.replications import ReplicationSettings, replicate

            settings = scenario_from(ReplicationSettings, args)
            result = replicate(module.run, scenario, settings.replications)
        else:
            result = module.run(scenario)
    except (UsageError, ValueError) as problem:
        return usage_error(args.command, str(problem))
    except (ArithmeticError, MemoryError, RecursionError) as problem:
        # A backstop: the knobs' bounds and work limits are meant to refuse such runs first.
        kind = type(problem).__name__
        return usage_error(args.command, f"these settings cannot be simulated ({kind}): {problem}")
    text = json.dumps(result, allow_nan=False) if args.json else formatted(module, result)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `... --json | head -c1`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush fails quietly
    return 0


def formatted(module: ModuleType, result: dict[str, Any]) -> str:
    """The command's table, and the 95% intervals below it when there were replications."""
    text = module.format_table(result)
    interval = result.get("interval")
    if not interval:
        return text
    warmup = ""
    if interval["warmup"]:
        warmup = f", the first {interval['warmup']} requests of each left out"
    rows = [
        (key.replace("_", " "), f"{bounds[0]:.4g} … {bounds[1]:.4g}")
        for key, bounds in interval.items()
        if isinstance(bounds, list)
    ]
    heading = f"95% intervals over {interval['replications']} replications{warmup}:"
    return f"{text}\n\n{heading}\n{table(rows)}" if rows else f"{text}\n\n{heading} none varied"


def usage_error(command: str, message: str) -> int:
    """One line on stderr, exit code 2: how every refusal ends."""
    print(f"{PROG} {command}: error: {message}", file=sys.stderr)
    return 2


# --- what command modules share for their tables ---------------------------------------------


def format_numbers(values: list[float], digits: int = 2) -> str:
    """``[0.5, 0.25]`` as ``0.50 0.25``: one value per instance, on one line."""
    return " ".join(f"{value:.{digits}f}" for value in values)


def table(rows: list[tuple[str, str]]) -> str:
    """The rows as lines ``label  value``, the values aligned in one column."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
