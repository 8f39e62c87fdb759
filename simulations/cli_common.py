"""Shared pieces of the command line: argparse types for numbers and the exit-2 error path.

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


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
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
