"""Fuzzing the command line: whatever is typed, it exits 0 with one JSON object, or 2 with one
line on stderr; never a traceback, never a hang.

Values are drawn per knob from its declaration: what it accepts (small, so an accepted run is
short), what lies just past its bounds, and what is no number at all (NaN, infinities,
subnormals, unicode digits, huge integers, words). Every example runs in-process through
``main(argv)`` under a per-example alarm; a few cases run as real subprocesses, for the
interpreter's own traceback and broken-pipe paths.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations.cli import command_modules, command_name, flag_of, main
from simulations.knobs import Knob, declared

COMMANDS = {command_name(module): module for module in command_modules()}
# Base arguments that keep an accepted run short; a drawn flag given later overrides them.
SMALL = {
    "session-miss": ["--requests", "300", "--users", "20"],
    "balance": ["--requests", "400"],
    "crashes": ["--users", "60", "--duration", "40"],
    "autoscale": [
        "--users",
        "5",
        "--duration",
        "200",
        "--spike-at",
        "50",
        "--spike-duration",
        "50",
    ],
    "deploy": ["--users", "30", "--duration", "80", "--deploy-at", "20"],
    "sticky": ["--requests", "400", "--users", "50"],
    "jwt": ["--users", "30", "--duration", "300"],
    "jobs": ["--duration", "60"],
    "events": ["--clients", "100", "--duration", "10"],
    "retries": ["--duration", "10"],
}
SECONDS_PER_EXAMPLE = 30
NOT_NUMBERS = [
    "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1e-320", "4.9e-324", "-0.0", "0x10",
    "٣", "１２", "1_000", "10**30", "", " ", "--", "many", "1,5", "½", "1e300", "-1e300",
    str(10**30), str(-(10**30)), "9" * 400,
]  # fmt: skip


def as_text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def values_for(knob: Knob) -> st.SearchStrategy[list[str]]:
    """Typed values for one option of ``knob``: a list, as ``nargs="+"`` options take several."""
    garbage = st.sampled_from(NOT_NUMBERS) | st.text(max_size=6)
    wide = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(
        -(10**25), 10**25
    ).map(str)
    if knob.kind == "choice":
        one = st.sampled_from(knob.choices) | garbage
    elif knob.kind == "count":
        small = st.integers(int(knob.low or 0), int(knob.low or 0) + 40).map(str)
        over = st.just(str(int(knob.high) + 1)) if knob.high is not None else st.nothing()
        one = small | small | over | wide | garbage
    elif knob.kind in ("number", "times"):
        small = st.sampled_from(["0.5", "1", "2", "3", "7", "12.5", "25", "30", "60"])
        one = small | small | wide | garbage
    elif knob.kind == "amount":
        one = st.sampled_from(["0", "1", "2", "25%", "50%", "100%", "x%", "-1", "1.5"]) | garbage
    else:  # seed
        one = st.integers(-(10**6), 10**6).map(str) | wide | garbage
    count = (1, 3) if knob.kind == "times" else (1, 1)
    return st.lists(one, min_size=count[0], max_size=count[1])


@st.composite
def command_lines(draw: st.DrawFn, name: str) -> list[str]:
    """``name``, its small base, then one to three of its options with drawn values."""
    fields = declared(COMMANDS[name].SCENARIO)
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True))
    argv = [name, *SMALL.get(name, [])]
    for field_name in chosen:
        knob = fields[field_name][1]
        argv.append(flag_of(field_name, knob))
        if knob.kind != "switch":
            argv += draw(values_for(knob))
    return [*argv, "--json"]


class TooSlow(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise TooSlow(f"an accepted run took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            alarm(SECONDS_PER_EXAMPLE),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(argv)
    except TooSlow as slow:
        raise TooSlow(f"{slow}: {' '.join(argv)}") from None
    return code, out.getvalue(), err.getvalue()


def assert_clean(argv: list[str], code: int, out: str, err: str) -> None:
    assert code in (0, 2), (argv, code, err)
    if code == 0:
        assert err == "", (argv, err)
        assert isinstance(json.loads(out), dict), argv
    else:
        assert out == "", argv
        assert err.count("\n") == 1 and err.startswith("python -m simulations"), (argv, err)
        assert "Traceback" not in err


@pytest.mark.parametrize("name", [name for name in COMMANDS if name != "bench"])
def test_fuzz_the_command_line_never_gives_a_traceback(name: str) -> None:
    # every subcommand but bench (it times things for minutes), found through the registry
    @given(command_lines(name))
    def check(argv: list[str]) -> None:
        assert_clean(argv, *run_in_process(argv))

    check()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_value_over_a_declared_limit_exits_2(name: str) -> None:
    for field_name, (_, knob) in declared(COMMANDS[name].SCENARIO).items():
        if knob.high is None or knob.kind != "count":
            continue
        argv = [name, flag_of(field_name, knob), str(int(knob.high) + 1), "--json"]
        code, out, err = run_in_process(argv)
        assert code == 2 and out == "" and "at most" in err, (argv, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["balance", "--service-rate", "1e300"],
        ["sticky", "--arrival-rate", "1e-320"],
        ["jwt", "--token-ttl", "1e12"],
        ["autoscale", "--users", str(10**30)],
        ["balance", "--requests", str(10**12)],
        ["sessions", "--users", str(10**12)],
        ["deploy", "--think-time", "1e12"],
        ["autoscale", "--sync-period", "1e-9"],
    ],
    ids=lambda argv: " ".join(argv)[:40],
)
def test_the_runs_that_once_crashed_or_hung_are_refused_in_one_line(argv: list[str]) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "simulations", *argv, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2, ran.stderr
    assert ran.stdout == "" and ran.stderr.count("\n") == 1, ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize(("reader", "read"), [("head -c1", "{"), ("true", "")])
def test_a_reader_that_stops_early_gets_no_traceback(reader: str, read: str) -> None:
    # `true` exits before the simulation prints: the write meets a closed pipe (EPIPE).
    ran = subprocess.run(
        f"{sys.executable} -m simulations balance --requests 20000 --json | {reader}",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.stdout == read
    assert ran.stderr == "", ran.stderr


def test_found_by_fuzzing_a_run_where_nobody_sends_a_request_is_refused() -> None:
    # Hypothesis found it: five visitors thinking 348 s in a 200 s run may send nothing at all.
    argv = ["autoscale", *SMALL["autoscale"], "--think-time", "348", "--visit-length", "2388"]
    code, out, err = run_in_process([*argv, "--json"])
    assert code == 2 and out == ""
    assert "no user sends a single request" in err


@pytest.mark.parametrize("typed", ["٣", "１２", "३.५"])
def test_only_ascii_digits_are_numbers(typed: str) -> None:
    # int() and float() accept other scripts' digits; a command line should not guess.
    for flag in ("--instances", "--arrival-rate"):
        code, out, err = run_in_process(["balance", flag, typed, "--json"])
        assert code == 2 and out == "" and "is not" in err, err
