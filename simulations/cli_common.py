"""Shared pieces of the command line: argparse types for numbers, options that mean the same in
every subcommand, the exit-2 error path and the label/value table.

Scenario modules import these (not ``simulations.cli``, which imports the scenarios) so that
every subcommand rejects nonsense the same way: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn


class UsageError(Exception):
    """Options that parse but make no sense (together): reported in one line, exit code 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parse(text: str, kind: type) -> float:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _number(text: str, kind: type) -> float:
    value = _parse(text, kind)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0."""
    value = _parse(text, float)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number of at least 0")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be a whole number of at least 1")
    return int(value)


def integer(text: str) -> int:
    """argparse type: any whole number (for seeds)."""
    return int(_number(text, int))


# Options with the same flag, type, metavar and help in every subcommand that has them.
# (A number's default can go in a help text as "%(default)g": argparse fills it in, so a
# literal % in a help text must be written %%.)


def add_instances(parser: argparse.ArgumentParser, default: int) -> None:
    """``--instances N``: how many instances serve requests."""
    parser.add_argument("--instances", type=positive_int, default=default, metavar="N")


def add_users(parser: argparse.ArgumentParser, default: int) -> None:
    """``--users U``: how many users send requests."""
    parser.add_argument("--users", type=positive_int, default=default, metavar="U")


def add_requests(parser: argparse.ArgumentParser, default: int) -> None:
    """``--requests K``: how many requests the run simulates."""
    parser.add_argument("--requests", type=positive_int, default=default, metavar="K")


def add_seed(parser: argparse.ArgumentParser, default: int) -> None:
    """``--seed S``: the random seed; the same seed gives the same run."""
    parser.add_argument("--seed", type=integer, default=default, metavar="S")


def only_for(value: object, flag: str, applies: bool, where: str) -> None:
    """Refuse a flag that was given (``value`` is not None) where it does not apply."""
    if value is not None and not applies:
        raise UsageError(f"{flag} applies only to {where}")


def format_numbers(values: list[float], digits: int = 2) -> str:
    """``[0.5, 0.25]`` as ``0.50 0.25``: one value per instance, on one line."""
    return " ".join(f"{value:.{digits}f}" for value in values)


def table(rows: list[tuple[str, str]]) -> str:
    """The rows as lines ``label  value``, the values aligned in one column."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
