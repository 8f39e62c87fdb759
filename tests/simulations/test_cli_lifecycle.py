"""``python -m simulations sessions | autoscale | deploy``: JSON contract, determinism, every flag
matters, bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runs import json_output
from cli_runs import measured as measured_keys

from simulations.cli import main

SMALL = {  # keep each run small: the tests are about the command line, not the model
    "sessions": ["--users", "300"],
    "autoscale": ["--users", "30", "--service-rate", "1"],
    "deploy": ["--users", "100", "--duration", "150"],
}
ECHOED = {  # inputs repeated in the output: a flag must change more than its own echo
    "store", "policy", "instances", "users", "duration", "login_window", "think_time",
    "service_rate", "crash_at", "crashes", "restart_after", "boot_time", "retry_queued", "seed",
    "visit_length", "spike_factor", "spike_at", "spike_duration", "target", "tolerance",
    "min_replicas", "max_replicas", "sync_period", "metric_window", "stabilization_window",
    "drain", "replicas", "max_surge", "max_unavailable", "deploy_at",
}  # fmt: skip
SESSION_COUNTS = (
    "requests",
    "session_misses",
    "sessions_lost",
    "failed_requests",
    "sessions_at_crash",
    "users_forced_to_login",
    "requests_rerouted",
)


def run_json(capsys: pytest.CaptureFixture[str], command: str, *extra: str) -> dict:
    return json_output(capsys, [command, *SMALL[command], *extra, "--json"])


def measured(result: dict) -> dict:
    return measured_keys(result, ECHOED)


def test_done_when_sticky_memory_loses_a_quarter_shared_none() -> None:
    """The issue's own commands, through ``python -m`` as a user would type them."""
    base = [sys.executable, "-m", "simulations", "sessions", "--policy", "sticky"]
    base += ["--instances", "4", "--users", "1000", "--crash-at", "50", "--json"]
    results = {}
    for store in ("memory", "shared"):
        done = subprocess.run(
            [*base, "--store", store], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        results[store] = json.loads(done.stdout)
    memory, shared = results["memory"], results["shared"]
    assert memory["sessions_at_crash"] == 1000
    assert memory["sessions_lost"] == 250  # a quarter: the crashed instance's pinned users
    assert shared["sessions_lost"] == 0 and shared["users_forced_to_login"] == 0
    for result in (memory, shared):
        for key in SESSION_COUNTS:
            assert type(result[key]) is int, key


@pytest.mark.parametrize("command", ["sessions", "autoscale", "deploy"])
def test_counts_are_integers_and_every_request_is_accounted_for(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    extra = ["--crash-at", "50"] if command == "sessions" else []
    result = run_json(capsys, command, *extra)
    for key in ("requests", "requests_completed", "failed_requests", "sessions_lost",
                "session_misses", "users_forced_to_login", "logins"):  # fmt: skip
        assert type(result[key]) is int, key
    assert result["requests"] == result["requests_completed"] + result["failed_requests"]


@pytest.mark.parametrize("command", ["sessions", "autoscale", "deploy"])
def test_same_seed_same_json(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert run_json(capsys, command, "--seed", "5") == run_json(capsys, command, "--seed", "5")


# (command, flag, baseline): the flag must change a measured number, not only its echo.
FLAG_CASES = [
    ("sessions", ["--store", "shared"], ["--crash-at", "50"]),
    ("sessions", ["--policy", "round_robin"], []),
    ("sessions", ["--instances", "5"], ["--crash-at", "50"]),
    ("sessions", ["--users", "400"], []),
    ("sessions", ["--duration", "80"], []),
    ("sessions", ["--login-window", "20"], []),
    ("sessions", ["--think-time", "8"], []),
    ("sessions", ["--service-rate", "30"], []),
    ("sessions", ["--crash-at", "50"], []),
    ("sessions", ["--crashes", "2"], ["--crash-at", "50"]),
    ("sessions", ["--restart-after", "5"], ["--crash-at", "50", "--policy", "round_robin"]),
    (
        "sessions",
        ["--boot-time", "20"],
        ["--crash-at", "50", "--restart-after", "5", "--policy", "round_robin"],
    ),
    (
        "sessions",
        ["--retry-queued"],
        ["--crash-at", "40", "--users", "1000", "--service-rate", "27"],
    ),
    ("sessions", ["--seed", "9"], []),
    ("autoscale", ["--store", "shared"], []),
    ("autoscale", ["--policy", "least_connections"], []),
    ("autoscale", ["--users", "40"], []),
    ("autoscale", ["--think-time", "8"], []),
    ("autoscale", ["--visit-length", "200"], []),
    ("autoscale", ["--spike-factor", "2"], []),
    ("autoscale", ["--spike-at", "200"], []),
    ("autoscale", ["--spike-duration", "200"], []),
    ("autoscale", ["--duration", "1100"], []),
    ("autoscale", ["--service-rate", "1.2"], []),
    ("autoscale", ["--target", "0.5"], []),
    ("autoscale", ["--tolerance", "0.3"], []),
    ("autoscale", ["--min-replicas", "8"], []),
    ("autoscale", ["--max-replicas", "8"], []),
    ("autoscale", ["--sync-period", "30"], []),
    ("autoscale", ["--metric-window", "15"], []),
    ("autoscale", ["--stabilization-window", "60"], []),
    ("autoscale", ["--boot-time", "60"], []),
    ("autoscale", ["--no-drain"], ["--store", "shared", "--policy", "least_connections"]),
    ("autoscale", ["--seed", "9"], []),
    ("deploy", ["--store", "shared"], []),
    ("deploy", ["--policy", "round_robin"], []),
    ("deploy", ["--replicas", "6"], []),
    ("deploy", ["--max-surge", "2"], []),
    ("deploy", ["--max-unavailable", "0"], []),
    ("deploy", ["--boot-time", "20"], []),
    ("deploy", ["--no-drain"], []),
    ("deploy", ["--deploy-at", "30"], []),
    ("deploy", ["--duration", "200"], []),
    ("deploy", ["--users", "120"], []),
    ("deploy", ["--think-time", "5"], []),
    ("deploy", ["--service-rate", "8"], []),
    ("deploy", ["--seed", "9"], []),
]


@pytest.mark.parametrize(
    ("command", "flag", "baseline"),
    FLAG_CASES,
    ids=lambda v: v if isinstance(v, str) else " ".join(v) or "-",
)
def test_every_flag_changes_the_result(
    capsys: pytest.CaptureFixture[str], command: str, flag: list[str], baseline: list[str]
) -> None:
    changed = run_json(capsys, command, *baseline, *flag)
    assert measured(changed) != measured(run_json(capsys, command, *baseline))


@pytest.mark.parametrize(
    ("command", "bad"),
    [
        ("sessions", ["--store", "disk"]),
        ("sessions", ["--instances", "0"]),
        ("sessions", ["--users", "many"]),
        ("sessions", ["--crash-at", "100"]),  # after the last request
        ("sessions", ["--crash-at", "-5"]),
        ("sessions", ["--crashes", "2"]),  # nothing crashes
        ("sessions", ["--crash-at", "50", "--crashes", "5"]),
        ("sessions", ["--restart-after", "5"]),
        ("sessions", ["--crash-at", "50", "--restart-after", "60"]),  # back after the end
        ("sessions", ["--crash-at", "50", "--boot-time", "5"]),
        ("sessions", ["--retry-queued"]),
        ("sessions", ["--login-window", "500"]),
        ("sessions", ["--seed", "1.5"]),
        ("autoscale", ["--spike-factor", "1"]),
        ("autoscale", ["--min-replicas", "9", "--max-replicas", "3"]),
        ("autoscale", ["--tolerance", "1"]),
        ("autoscale", ["--target", "0"]),
        ("autoscale", ["--spike-at", "5000"]),
        ("deploy", ["--max-surge", "0", "--max-unavailable", "0"]),
        ("deploy", ["--max-surge", "x%"]),
        ("deploy", ["--deploy-at", "500"]),
        ("deploy", ["--replicas", "-1"]),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: str, bad: list[str]
) -> None:
    code = main([command, *SMALL[command], *bad])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "error" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("sessions", ("sessions lost", "users forced to log in", "failed requests")),
        ("autoscale", ("replicas", "first scale-out", "sessions lost")),
        ("deploy", ("maxSurge", "ready ≥", "sessions lost")),
    ],
)
def test_tables_name_what_matters(
    capsys: pytest.CaptureFixture[str], command: str, words: tuple[str, ...]
) -> None:
    assert main([command, *SMALL[command]]) == 0
    out, _ = capsys.readouterr()
    for word in words:
        assert word in out
