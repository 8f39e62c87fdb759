"""``python -m simulations sticky``: JSON contract, determinism, every flag matters, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runs import json_output
from cli_runs import measured as measured_keys

from simulations.cli import main

BASE = ["sticky", "--requests", "3000", "--json"]
ECHOED = {  # input parameters repeated in the output: a flag must change more than its echo
    "policy",
    "instances",
    "users",
    "activity",
    "zipf_s",
    "pareto_alpha",
    "arrival_rate",
    "service_rate",
    "requests",
    "sessions",
    "seed",
    "epsilon",
    "vnodes",
    "scale_out_at",
    "crash_hottest_at",
}
COUNTS = (
    "instances",
    "users",
    "requests",
    "requests_completed",
    "requests_failed",
    "sessions_lost",
    "users_forced_to_login",
    "session_misses",
    "spilled",
    "heaviest_user",
    "heaviest_user_instances",
)


def run_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    return json_output(capsys, [*BASE, *extra])


def measured(result: dict) -> dict:
    return measured_keys(result, ECHOED)


def test_json_has_the_contract_keys_and_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "--scale-out-at", "300", "--crash-hottest-at", "900")
    for key in (
        "policy",
        "imbalance",
        "p95_response",
        "p99_response",
        "new_instance_share",
        "sessions_lost",
        "utilization",
        "window_utilization",
        "fair_share",
    ):
        assert key in result
    for key in COUNTS:
        assert type(result[key]) is int, key
    assert all(type(count) is int for count in result["requests_per_instance"])
    assert type(result["new_instance"]) is int and type(result["hottest_instance"]) is int
    assert result["requests_completed"] + result["requests_failed"] == 3000
    assert 0 <= result["new_instance_share"] <= 1


def test_same_seed_same_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "--seed", "5") == run_json(capsys, "--seed", "5")


def test_the_cli_shows_sticky_worse_than_round_robin(capsys: pytest.CaptureFixture[str]) -> None:
    sticky = run_json(capsys, "--policy", "sticky", "--scale-out-at", "500")
    robin = run_json(capsys, "--policy", "round_robin", "--scale-out-at", "500")
    assert sticky["imbalance"] > robin["imbalance"] + 0.2
    assert sticky["p99_response"] > 1.5 * robin["p99_response"]
    assert sticky["new_instance_share"] < 0.35 * sticky["fair_share"]
    assert abs(robin["new_instance_share"] - robin["fair_share"]) < 0.01


# (flag values, baseline flags): the flag must change a measured number, not just its echo.
FLAG_CASES = [
    (["--policy", "round_robin"], []),
    (["--instances", "5"], []),
    (["--users", "200"], []),
    (["--activity", "pareto"], []),
    (["--zipf-s", "1.3"], []),
    (["--pareto-alpha", "2.5"], ["--activity", "pareto"]),
    (["--arrival-rate", "2.5"], []),
    (["--service-rate", "1.3"], []),
    (["--requests", "2500"], []),
    (["--scale-out-at", "500"], []),
    (["--crash-hottest-at", "500"], []),
    (["--epsilon", "0.6"], ["--policy", "bounded_load"]),
    (["--vnodes", "10"], ["--policy", "consistent_hash"]),
    (["--vnodes", "10"], ["--policy", "bounded_load"]),
    (["--sessions", "memory"], ["--policy", "round_robin"]),
    (["--sessions", "shared"], ["--crash-hottest-at", "500"]),
    (["--windows", "7"], []),
    (["--seed", "9"], []),
]


@pytest.mark.parametrize(("flag", "baseline"), FLAG_CASES, ids=lambda v: " ".join(v) or "-")
def test_every_flag_changes_the_result(
    capsys: pytest.CaptureFixture[str], flag: list[str], baseline: list[str]
) -> None:
    assert measured(run_json(capsys, *baseline, *flag)) != measured(run_json(capsys, *baseline))


@pytest.mark.parametrize(
    "bad",
    [
        ["--instances", "0"],
        ["--users", "many"],
        ["--zipf-s", "-1"],
        ["--arrival-rate", "nan"],
        ["--policy", "nope"],
        ["--epsilon", "0.3"],  # the default policy, sticky, has no ε
        ["--policy", "round_robin", "--vnodes", "5"],
        ["--activity", "pareto", "--zipf-s", "1"],
        ["--pareto-alpha", "2"],
        ["--scale-out-at", "0"],
        ["--windows", "0"],
        ["--sessions", "disk"],
        ["--requests", "1.5"],
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    code = main([*BASE, *bad])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_python_dash_m_runs_and_reports_errors_without_traceback() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "simulations", "sticky", "--requests", "500", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["policy"] == "sticky"
    bad = subprocess.run(
        [sys.executable, "-m", "simulations", "sticky", "--vnodes", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == (
        "python -m simulations sticky: error: --vnodes applies only to --policy consistent_hash "
        "or bounded_load"
    )


def test_table_output_names_the_hot_spot(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["sticky", "--requests", "2000", "--scale-out-at", "300", "--crash-hottest-at", "600"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    for words in ("imbalance", "p99", "scale-out", "fair share", "sessions lost"):
        assert words in out
