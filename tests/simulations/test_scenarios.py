"""Every scenario, through the registry: the same shape, knobs declared once, and the command line
and the widgets derived from those declarations (COURSE_DESIGN §2).

The stored outputs in ``data/cli_golden.json`` were printed by the command line before the
re-layout (hand-written options): every flag still parses and gives the same JSON. They were
printed again once, when the engine changed its random numbers (numpy blocks) and least
connections its tie-breaking: balance and one least-connections autoscale case moved, nothing
else did. The jwt entries were printed again when lesson 07's refresh model changed (a refresh
only at a request that finds its token expired). The sticky entries gained one key,
``users_forced_to_login`` (0 in each: none has a crash with sessions in memory), when lesson 06
separated the users sent to log in from the sessions lost; no other value moved.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from simulations import knobs
from simulations.cli import command_modules, command_name, flag_of, main
from simulations.explorer import explorers
from simulations.knobs import Knob, check_value, declared
from simulations.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "simulations" / "scenarios"
GOLDEN = json.loads((Path(__file__).parent / "data" / "cli_golden.json").read_text())
COMMANDS = {command_name(module): module for module in command_modules()}
KNOBS = [
    (name, field_name, knob)
    for name, module in COMMANDS.items()
    for field_name, (_, knob) in declared(module.SCENARIO).items()
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The CLI refuses ``argv``: exit 2, nothing on stdout, one line on stderr (returned)."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (argv, out)
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- the house -------------------------------------------------------------------------------


def test_the_registry_lists_every_scenario_folder_in_lesson_order() -> None:
    folders = {path.name for path in SCENARIO_DIR.iterdir() if (path / "model.py").exists()}
    assert set(SCENARIOS) == folders
    assert len(SCENARIOS) == len(set(SCENARIOS))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_is_a_folder_of_the_same_shape(name: str) -> None:
    files = {path.name for path in (SCENARIO_DIR / name).glob("*.py")}
    assert {"__init__.py", "model.py", "plots.py", "widget.py", "cli.py"} <= files


def test_the_top_level_of_simulations_stays_small() -> None:
    assert len(list((ROOT / "simulations").glob("*.py"))) <= 10


def test_options_are_made_in_one_place_only() -> None:
    makers = [
        path.relative_to(ROOT)
        for folder in ("simulations", "labs")
        for path in (ROOT / folder).rglob("*.py")
        if "add_argument(" in path.read_text()
    ]
    # the simulations' one command line, and lesson 13's audit (a command of the labs, whose
    # options are its own: the properties to check, the workers, the settings)
    assert makers == [Path("simulations/cli.py"), Path("labs/audit/__main__.py")]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_field_of_a_command_is_a_declared_knob(name: str) -> None:
    kind = COMMANDS[name].SCENARIO
    assert [f.name for f in dataclasses.fields(kind)] == list(declared(kind))
    for field_name, (_, knob) in declared(kind).items():
        assert knob.help, field_name
        if knob.slider is not None:
            low, high, step = knob.slider
            assert low < high and step > 0, field_name
            for end in (low, high):  # a slider cannot reach a value the model refuses
                check_value(field_name, int(end) if knob.kind == "count" else end, knob)
        if knob.applies is not None:
            assert knob.applies[0] in declared(kind), field_name


# --- the command line, derived ---------------------------------------------------------------


@pytest.mark.parametrize("name", [name for name in COMMANDS if name != "bench"])
def test_every_command_runs_its_defaults(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = run(capsys, name, "--json")
    assert code == 0 and err == "", err
    result = json.loads(out)
    assert isinstance(result, dict) and result
    code, table, _ = run(capsys, name)
    assert code == 0 and table.strip()


@pytest.mark.parametrize("case", list(GOLDEN), ids=lambda case: case[:60])
def test_every_flag_of_before_gives_the_same_json(
    capsys: pytest.CaptureFixture[str], case: str
) -> None:
    code, out, err = run(capsys, *case.split(), "--json")
    assert code == 0, err
    assert json.loads(out) == GOLDEN[case]


def test_the_earlier_name_of_the_crash_scenario_still_works(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--users", "150", "--duration", "50", "--crash-at", "20", "--json"]
    assert run(capsys, "sessions", *argv)[1] == run(capsys, "crashes", *argv)[1]


def below(knob: Knob) -> str | None:
    """A value just outside ``knob``'s lower bound, as typed."""
    if knob.low is None or knob.kind not in ("count", "number", "times"):
        return None
    if knob.kind == "count":
        return str(int(knob.low) - 1)
    return str(knob.low) if knob.above else str(knob.low - 0.5)


def settings_where_it_applies(name: str, knob: Knob) -> list[str]:
    """Flags that make ``knob`` matter (its ``applies`` rule satisfied), for a valid run."""
    if knob.applies is None:
        return []
    other, values = knob.applies
    other_knob = declared(COMMANDS[name].SCENARIO)[other][1]
    if values:
        return [flag_of(other, other_knob), str(values[0])]
    return [flag_of(other, other_knob), "50" if other == "crash_at" else "5"]


@pytest.mark.parametrize(
    ("name", "field_name", "knob"),
    [case for case in KNOBS if below(case[2]) is not None],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_value_outside_the_declared_bounds_exits_2(
    capsys: pytest.CaptureFixture[str], name: str, field_name: str, knob: Knob
) -> None:
    flag = flag_of(field_name, knob)
    context = settings_where_it_applies(name, knob)
    err = refused(capsys, name, *context, flag, below(knob), "--json")
    assert flag in err or field_name in err, err
    for nonsense in ("nan", "inf", "many"):
        refused(capsys, name, *context, flag, nonsense, "--json")


@pytest.mark.parametrize(
    ("name", "field_name", "knob"),
    [case for case in KNOBS if case[2].applies is not None],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_flag_where_it_does_not_apply_is_refused(
    capsys: pytest.CaptureFixture[str], name: str, field_name: str, knob: Knob
) -> None:
    flag = flag_of(field_name, knob)
    field = declared(COMMANDS[name].SCENARIO)[field_name][0]
    typed = [flag] if knob.kind == "switch" else [flag, str(field.default or 1)]
    other, values = knob.applies
    if values:  # set the other knob to a value where this one does not apply
        other_knob = declared(COMMANDS[name].SCENARIO)[other][1]
        elsewhere = next(v for v in other_knob.choices if v not in values)
        typed += [flag_of(other, other_knob), elsewhere]
    err = refused(capsys, name, *typed, "--json")
    assert flag in err and ("applies only to" in err or "needs" in err), err


@pytest.mark.parametrize("name", COMMANDS)
def test_help_names_every_option_with_its_default(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = run(capsys, name, "--help")
    assert code == 0
    flat = " ".join(out.split())
    for field_name, (field, knob) in declared(COMMANDS[name].SCENARIO).items():
        assert flag_of(field_name, knob) in flat
        if knob.kind in ("switch", "times") or "(default" in knob.help:
            continue
        shown = knob.cli_default if knob.cli_default is not knobs.UNSET else field.default
        text = "none" if shown is None else f"{shown:g}" if isinstance(shown, float) else shown
        assert f"(default {text})" in flat, field_name


# --- the widgets, derived --------------------------------------------------------------------

EXPLORERS = explorers()


@pytest.mark.parametrize("name", EXPLORERS)
def test_explorer_controls_take_their_ranges_from_the_knobs(name: str) -> None:
    explorer = EXPLORERS[name]()
    kind = explorer.scenario
    assert kind is not None, "an explorer names the scenario whose knobs it shows"
    fields = declared(kind)
    derived = [control_name for control_name in explorer.controls if control_name in fields]
    assert derived, "at least one control comes from a knob"
    for control_name in derived:
        control, knob = explorer.controls[control_name], fields[control_name][1]
        if knob.kind == "choice":
            assert tuple(control.options) == knob.choices
        elif knob.slider is not None:
            assert (control.min, control.max, control.step) == pytest.approx(knob.slider)
        if knob.label:
            assert control.description == knob.label


# --- the checks, alike everywhere -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("count", True),
        ("count", 2.0),
        ("count", 0),
        ("number", math.nan),
        ("number", math.inf),
        ("number", 0),
        ("number", "3"),
        ("seed", 1.5),
        ("switch", 1),
        ("amount", -1),
        ("amount", "x%"),
    ],
)
def test_a_check_refuses_with_the_knob_and_the_value(kind: str, value: object) -> None:
    knob = Knob(kind=kind, help="", low=1 if kind == "count" else 0.0, above=kind == "number")
    with pytest.raises(ValueError, match="speed") as refusal:
        check_value("speed", value, knob)
    assert repr(value) in str(refusal.value) or str(value) in str(refusal.value)


def test_right_but_different_values_are_accepted() -> None:
    count, number = Knob(kind="count", help="", low=1), Knob(kind="number", help="", low=0.0)
    check_value("n", np.int64(3), count)
    check_value("x", np.float64(0.5), number)
    check_value("x", 2, number)  # an int where a float is declared
    assert knobs.parse_amount("s", "2") == 2 and knobs.parse_amount("s", " 25% ") == "25%"


def test_times_become_a_sorted_tuple_of_floats() -> None:
    from simulations import CrashScenario

    assert CrashScenario(crash_at=60).crash_at == (60.0,)
    assert CrashScenario(crash_at=[70, 30]).crash_at == (30.0, 70.0)
    with pytest.raises(ValueError, match="crash_at"):
        CrashScenario(crash_at=(30, -1))
