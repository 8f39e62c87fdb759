"""A scenario's knobs, declared once: its dataclass fields, with what each means next to it.

Every scenario (``simulations/scenarios/<name>/model.py``) is a frozen dataclass whose fields are
made with the helpers below. A field's metadata carries its help text, unit, bounds, the short
label a slider shows, and the rule saying where it applies; everything else is derived from it:

* ``check(scenario)`` (called first in each ``__post_init__``) checks every field the same
  way: finite numbers, counts that are whole numbers, values within bounds, names from the list;
  the error names the knob, the value and the rule. Rules between two fields stay in
  ``__post_init__`` beside it;
* ``simulations.cli`` makes each subcommand's options from the fields (flag, type, default,
  ``--help``, the "applies only to" refusals);
* ``simulations.explorer.control`` makes a widget control from a field (its range, step, label).

    from simulations import knobs

    @dataclass(frozen=True)
    class CrashScenario:
        store: str = knobs.choice("memory", STORES, "where sessions live", label="sessions")
        instances: int = knobs.count(4, "instances behind the balancer", slider=(1, 12, 1))
        crash_at: tuple[float, ...] = knobs.times("crash times", unit="s")

        def __post_init__(self) -> None:
            knobs.check(self)

This module imports neither argparse nor any plotting or widget library: models import it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Scenario = TypeVar("Scenario")

# Every number a knob accepts is at most this large, and, unless 0, at least this small in size:
# beyond them a run overflows floating point or takes forever (1e-320 > 0 is true, and useless).
MAX_MAGNITUDE = 1e9
MIN_MAGNITUDE = 1e-9
# Work limits: what keeps one accepted run under about a minute and 1 GB on two cores. Knobs
# declare them as bounds, and a scenario refuses a run whose work (requests, steps) would go past
# them (``work_limit``). Whoever needs a bigger run raises them here, deliberately.
MAX_REQUESTS = 2_000_000  # requests one run simulates (balance, sticky; bench asks for 1M)
MAX_LIFECYCLE_REQUESTS = 1_000_000  # crashes, autoscale, deploy keep every request: ~340 B each
MAX_INSTANCES = 4_096
MAX_USERS = 1_000_000
Kind = Literal["count", "number", "seed", "choice", "switch", "times", "amount"]


class _Unset:
    """The value of a declaration's optional part that was not given."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Knob:
    """What a scenario field means and accepts (the metadata of a field made by a helper here).

    ``low``/``high``: the least and most accepted (``above``/``below``: ``low``/``high`` itself
    is refused);
    ``optional``: ``None`` is accepted (an absent setting); ``applies``: ``(field, values)``, the
    knob matters only when that field has one of the values (``()``: when it is set at all);
    ``slider``: ``(min, max, step)`` of a widget control; ``cli_default``: the command line's
    default where it differs from the model's (a longer run, say); ``flag``: the option's name
    where it is not ``--field-name`` (``--no-drain`` for a switch that is on by default).
    """

    kind: Kind
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    above: bool = False
    below: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()
    objects: bool = False  # a choice that also takes an object (a Policy, a function)
    applies: tuple[str, tuple[Any, ...]] | None = None
    why: str = ""  # one clause saying why the knob needs what ``applies`` names
    slider: tuple[float, float, float] | None = None
    label: str = ""
    cli_default: Any = UNSET
    flag: str = ""
    flag_help: str = ""  # the help of ``flag`` where it says something other than ``help``
    metavar: str = ""


def _knob(default: Any, **meta: Any) -> Any:
    knob = Knob(**meta)
    if isinstance(default, list | dict | set):
        raise TypeError("a knob's default must be immutable (use a tuple)")
    return field(default=default, metadata={"knob": knob})


def count(
    default: int | None,
    help: str,
    *,
    low: int = 1,
    high: int | None = None,
    **meta: Any,
) -> Any:
    """A whole number of things (instances, users, requests): at least ``low`` (default 1)."""
    return _knob(default, kind="count", help=help, low=low, high=high, **meta)


def number(
    default: float | None,
    help: str,
    *,
    low: float | None = 0.0,
    above: bool = True,
    high: float | None = None,
    **meta: Any,
) -> Any:
    """A finite real number (a rate, a duration): by default greater than 0; ``above=False``
    accepts ``low`` itself (a delay that may be none)."""
    return _knob(default, kind="number", help=help, low=low, above=above, high=high, **meta)


def seed(default: int) -> Any:
    """The random seed: any whole number; the same seed gives the same run."""
    return _knob(default, kind="seed", help="the random seed: the same seed gives the same run")


def choice(default: str, choices: Sequence[str], help: str, **meta: Any) -> Any:
    """One name from ``choices`` (a policy, a store)."""
    return _knob(default, kind="choice", help=help, choices=tuple(choices), **meta)


def switch(default: bool, help: str, **meta: Any) -> Any:
    """On or off. The command line has the flag that changes the default (``flag``)."""
    return _knob(default, kind="switch", help=help, **meta)


def times(help: str, **meta: Any) -> Any:
    """Moments in the run (crash times): a tuple of numbers > 0, empty by default."""
    return _knob((), kind="times", help=help, low=0.0, above=True, **meta)


def amount(default: int | str, help: str, **meta: Any) -> Any:
    """A whole number ≥ 0 or a percentage such as ``"25%"`` (Kubernetes' maxSurge)."""
    return _knob(default, kind="amount", help=help, **meta)


def declared(kind: type) -> dict[str, tuple[dataclasses.Field, Knob]]:
    """The fields of scenario class ``kind`` made by the helpers here, by name, in order."""
    return {
        item.name: (item, item.metadata["knob"])
        for item in dataclasses.fields(kind)
        if "knob" in item.metadata
    }


# --- checks ---------------------------------------------------------------------------------
# One check per kind, so a value is refused the same way from Python, the CLI and a widget.


def is_whole(value: Any) -> bool:
    """A whole number (an int, numpy's), not True or False."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (int, float, Fraction, numpy's), not True or False."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _shown(bound: float) -> str:
    """``1000000`` as ``1,000,000``, ``0.25`` as ``0.25``."""
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"


def _bounds(knob: Knob) -> str:
    low, high = knob.low, knob.high
    parts = []
    if low is not None:
        parts.append(f"{'greater than' if knob.above else 'at least'} {_shown(low)}")
    if high is not None:
        parts.append(f"{'below' if knob.below else 'at most'} {_shown(high)}")
    return " and ".join(parts)


def _in_bounds(value: float, knob: Knob) -> bool:
    if knob.low is not None and (value <= knob.low if knob.above else value < knob.low):
        return False
    return knob.high is None or (value < knob.high if knob.below else value <= knob.high)


def _check_number(name: str, value: Any, knob: Knob, whole: bool) -> None:
    ok = is_whole(value) if whole else is_real(value) and math.isfinite(value)
    what = "a whole number" if whole else "a finite number"
    if ok and _in_bounds(value, knob):
        if value == 0 or MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE or whole:
            return
        zero = "" if knob.above and knob.low == 0 else "0 or "
        raise ValueError(
            f"{name} must be {zero}between {MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in size, "
            f"got {value!r}"
        )
    bounds = _bounds(knob)
    raise ValueError(f"{name} must be {what}{' ' + bounds if bounds else ''}, got {value!r}")


def check_value(name: str, value: Any, knob: Knob) -> None:
    """Refuse ``value`` for the knob ``name`` with a ``ValueError`` naming both and the rule."""
    if value is None and knob.optional:
        return
    if knob.kind == "count":
        _check_number(name, value, knob, whole=True)
    elif knob.kind == "number":
        _check_number(name, value, knob, whole=False)
    elif knob.kind == "seed":
        if not is_whole(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    elif knob.kind == "choice":
        named = isinstance(value, str) or not knob.objects  # else an object the model checks
        if named and value not in knob.choices:
            raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(knob.choices)}")
    elif knob.kind == "switch":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    elif knob.kind == "times":
        moments = (value,) if is_real(value) else value
        if not isinstance(moments, tuple | list):
            raise ValueError(f"{name} must be a number or a list of numbers, got {value!r}")
        for moment in moments:
            _check_number(name, moment, knob, whole=False)
    elif knob.kind == "amount":
        parse_amount(name, value)


def parse_amount(name: str, value: Any) -> int | str:
    """A whole number ≥ 0, or a percentage ``"N%"`` with N a whole number ≥ 0."""
    if is_whole(value) and value >= 0:
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    if text.isdigit():
        return int(text)
    if text.endswith("%") and text[:-1].isdigit():
        return text
    raise ValueError(f"{name} must be a whole number ≥ 0 or a percentage like 25%, got {value!r}")


def check(scenario: Any) -> None:
    """Check every knob of ``scenario`` (a dataclass instance) against its declaration; a
    ``times`` knob given one number or a list becomes a sorted tuple first, and an ``amount``
    given as ``"2"`` the number 2."""
    for name, (_, knob) in declared(type(scenario)).items():
        value = getattr(scenario, name)
        if knob.kind == "amount":
            object.__setattr__(scenario, name, parse_amount(name, value))
        elif knob.kind == "times":
            check_value(name, value, knob)
            moments = (value,) if is_real(value) else value
            object.__setattr__(scenario, name, tuple(sorted(float(v) for v in moments)))
        else:
            check_value(name, value, knob)


def work_limit(what: str, amount: float, limit: float, lower: str) -> None:
    """Refuse a run that would simulate ``amount`` of ``what`` when ``limit`` is the most one
    run may: the message says both, and which knobs to ``lower``."""
    if amount > limit:
        raise ValueError(
            f"this run would simulate about {amount:,.0f} {what} (limit {limit:,.0f} per run, "
            f"simulations.knobs): lower {lower}"
        )


def applies(knob: Knob, settings: dict[str, Any]) -> bool:
    """Whether ``knob`` matters with these ``settings`` (its ``applies`` rule)."""
    if knob.applies is None:
        return True
    other, values = knob.applies
    current = settings.get(other)
    return bool(current) if not values else current in values


def condition(knob: Knob) -> str:
    """Where ``knob`` matters, in words (``""`` when always): "only when policy is sticky"."""
    if knob.applies is None:
        return ""
    other, values = knob.applies
    where = " or ".join(map(str, values)) if values else "set"
    because = f": {knob.why}" if knob.why else ""
    return f"only when {other.replace('_', ' ')} is {where}{because}"


def from_arguments(kind: type[Scenario], args: tuple, kwargs: dict) -> Scenario:
    """The scenario a call ``run(*args, **kwargs)`` means: one scenario of ``kind`` given alone,
    or its fields, positionally in their order or by name (``run_balance("random", 4)``)."""
    if len(args) == 1 and isinstance(args[0], kind) and not kwargs:
        return args[0]
    return kind(*args, **kwargs)


def with_overrides(kind: type[Scenario], scenario: Scenario | None, overrides: dict) -> Scenario:
    """The scenario a ``run_*(scenario=None, **overrides)`` call means: ``scenario`` (else the
    defaults of ``kind``) with ``overrides`` applied; a new dataclass is checked again."""
    if scenario is None:
        return kind(**overrides)
    return dataclasses.replace(scenario, **overrides) if overrides else scenario


# --- checks for plain function arguments (models that are functions, not scenarios) ---------


def _plain(kind: Kind, **meta: Any) -> Callable[[str, Any], None]:
    declared = Knob(kind=kind, help="", **meta)
    return lambda name, value: check_value(name, value, declared)


positive_int = _plain("count", low=1)  # a whole number ≥ 1
positive_number = _plain("number", low=0.0, above=True)  # a finite number > 0
