"""A scenario's knobs: checks that raise ``ValueError`` naming the knob and the value, and how a
run applies keyword overrides.

Every scenario validates its inputs when it is made (``__post_init__``), so a typo fails at once
with a one-line reason instead of deep inside a simulation run; these are the checks they share.
Booleans are not integers here (``True`` instances would be a typo, not one instance).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

Scenario = TypeVar("Scenario")


def integer(name: str, value: Any) -> None:
    """``value`` must be a whole number (a seed, a count that may be 0)."""
    if not (isinstance(value, int) and not isinstance(value, bool)):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def positive_int(name: str, value: Any) -> None:
    """``value`` must be a whole number ≥ 1 (instances, users...)."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def positive_number(name: str, value: Any) -> None:
    """``value`` must be a finite number > 0 (a rate, a duration)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    """``value`` must be a finite number ≥ 0 (a delay that may be none)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")


def with_overrides(kind: type[Scenario], scenario: Scenario | None, overrides: dict) -> Scenario:
    """The scenario a ``run_*(scenario=None, **overrides)`` call means: ``scenario`` (else the
    defaults of ``kind``) with ``overrides`` applied; a new dataclass is checked again."""
    if scenario is None:
        return kind(**overrides)
    return dataclasses.replace(scenario, **overrides) if overrides else scenario
