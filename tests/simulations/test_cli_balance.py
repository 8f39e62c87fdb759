"""``python -m simulations balance``: table, JSON, determinism, no ignored flags, exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulations.cli import command_modules, command_name, main

ROOT = Path(__file__).resolve().parents[2]
BASE = [
    "--instances",
    "4",
    "--arrival-rate",
    "2.8",
    "--service-rate",
    "1",
    "--requests",
    "3000",
    "--seed",
    "1",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["balance", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def test_json_has_the_contract_keys_with_the_right_types(capsys) -> None:
    result = as_json(capsys, "--policy", "random", *BASE)
    assert result["policy"] == "random"
    assert result["instances"] == 4
    for key in ("requests_completed", "requests_failed", "instances", "requests", "seed"):
        assert type(result[key]) is int, key
    assert result["requests_completed"] == 3000
    for key in ("mean_response", "p50_response", "p95_response", "p99_response"):
        assert isinstance(result[key], float), key
    assert result["p50_response"] < result["p95_response"] < result["p99_response"]
    assert len(result["utilization"]) == 4
    assert all(0 < value <= 1 for value in result["utilization"])
    assert result["theory"]["mean_response"] == pytest.approx(1 / (1 - 0.7), abs=1e-6)
    assert "warning" not in result


def test_the_table_is_readable(capsys) -> None:
    code, out, err = run(capsys, "--policy", "round_robin", *BASE)
    assert (code, err) == (0, "")
    assert not out.lstrip().startswith("{")
    for words in ("round_robin", "3000 completed", "p99", "utilization", "E_4/M/1"):
        assert words in out
    assert "WARNING" not in out


def test_same_seed_same_output_and_another_seed_another(capsys) -> None:
    first = run(capsys, "--policy", "power_of_two", *BASE, "--json")
    assert run(capsys, "--policy", "power_of_two", *BASE, "--json") == first
    other = run(capsys, "--policy", "power_of_two", *BASE[:-1], "2", "--json")
    assert other[1] != first[1]


@pytest.mark.parametrize(
    ("base", "flag", "values"),
    [
        ([], "--policy", ["random", "least_connections"]),
        ([], "--instances", ["4", "5"]),
        ([], "--arrival-rate", ["2.8", "2.0"]),
        ([], "--service-rate", ["1", "1.5"]),
        ([], "--requests", ["3000", "2000"]),
        ([], "--seed", ["1", "2"]),
        ([], "--service-dist", ["deterministic", "lognormal"]),
        (["--policy", "power_of_two"], "--choices", ["2", "3"]),
        (["--policy", "sticky"], "--users", ["5", "50"]),
    ],
)
def test_every_flag_changes_the_result(capsys, base, flag, values) -> None:
    outputs = []
    for value in values:
        args = [*BASE, *base]
        if flag in args:
            at = args.index(flag)
            del args[at : at + 2]
        outputs.append(as_json(capsys, *args, flag, value))
    assert outputs[0] != outputs[1]


def test_an_unstable_system_runs_and_says_so(capsys) -> None:
    args = [
        "--policy",
        "least_connections",
        "--instances",
        "2",
        "--arrival-rate",
        "2",
        "--requests",
        "2000",
    ]
    result = as_json(capsys, *args)
    assert result["requests_completed"] == 2000
    assert "grow without bound" in result["warning"]
    assert result["theory"]["lower_bound"] is None  # infinite: JSON has no infinity
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "WARNING" in out and "grow without bound" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--arrival-rate", "-1"],
        ["--arrival-rate", "0"],
        ["--service-rate", "0"],
        ["--service-rate", "fast"],
        ["--instances", "0"],
        ["--instances", "2.5"],
        ["--requests", "-3"],
        ["--requests", "lots"],
        ["--seed", "x"],
        ["--arrival-rate", "nan"],
        ["--arrival-rate", "inf"],
        ["--policy", "fastest"],
        ["--service-dist", "uniform"],
        ["--choices", "2"],
        ["--users", "10"],
        ["--policy", "power_of_two", "--choices", "0"],
        ["--policy", "power_of_two", "--choices", "9"],
        ["--policy", "sticky", "--users", "0"],
        ["--unknown-flag"],
    ],
)
def test_nonsense_is_one_line_on_stderr_and_exit_code_2(capsys, args) -> None:
    code, out, err = run(capsys, "--requests", "100", *args)  # a later --requests wins
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("python -m simulations")
    assert "error" in err and "Traceback" not in err


def test_no_subcommand_is_a_usage_error(capsys) -> None:
    assert main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_help_exits_cleanly(capsys) -> None:
    assert main(["balance", "--help"]) == 0
    assert "--service-dist" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "name"),
    [*((name, name) for name in map(command_name, command_modules())), ("sessions", "crashes")],
)
def test_every_subcommand_prints_its_help(command: str, name: str, capsys) -> None:
    # argparse formats help with %: a stray "25%" in a help text crashed `deploy --help` once.
    # `sessions` is the crash scenario's earlier name: it still works.
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m simulations " + name)
    assert "Traceback" not in out


def test_the_module_runs_as_a_program() -> None:
    command = [sys.executable, "-m", "simulations", "balance", *BASE, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["requests_completed"] == 3000
    bad = subprocess.run(
        [*command[:4], "--instances", "zero"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert bad.returncode == 2
    assert bad.stdout == "" and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_single_instance_is_the_m_m_1_baseline(capsys) -> None:
    assert (
        main(
            [
                "balance",
                "--instances",
                "1",
                "--arrival-rate",
                "0.5",
                "--requests",
                "20000",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["served"] == [20000]
    assert result["theory"]["mean_response"] == pytest.approx(2.0)
    assert result["mean_response"] == pytest.approx(2.0, rel=0.1)
