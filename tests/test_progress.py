"""The learner's progress record (labs/progress.py): written atomically where the environment
says, read back as a table, and never a reason for a check to break."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labs import progress
from labs.checking import CheckReport
from labs.progress import (
    ENV_VAR,
    ProgressUnreadable,
    load_progress,
    progress_path,
    progress_table,
    record_attempt,
    show_progress,
)

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)


def test_the_suite_never_points_at_the_real_record(progress_file: Path) -> None:
    assert progress_path() == progress_file
    real = Path.home() / ".local" / "share" / "stateless-by-design" / "progress.json"
    assert progress_path() != real


def test_the_path_follows_the_override_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine.json"))
    assert progress_path() == tmp_path / "mine.json"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert progress_path() == tmp_path / "data" / "stateless-by-design" / "progress.json"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "stateless-by-design" / "progress.json"
    assert progress_path() == expected


def test_attempts_passes_and_times_are_recorded(progress_file: Path) -> None:
    assert record_attempt("Exercise 01 · Spot the state", False, now=WHEN)
    assert record_attempt("Exercise 01 · Spot the state", True, now=WHEN)
    assert record_attempt("Exercise 01 · Spot the state", False, now=WHEN)
    entry = load_progress()["Exercise 01 · Spot the state"]
    assert (entry.passed, entry.attempts, entry.last_passed) == (True, 3, False)
    assert entry.last_tried == entry.first_passed == "2026-05-04T12:30:00+00:00"
    assert json.loads(progress_file.read_text())["version"] == 1


def test_the_write_is_atomic_through_a_temporary_file_in_the_same_directory(
    progress_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_attempt("Exercise 00 · M/M/1 mean response time", True)
    before = progress_file.read_text()
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def failing_replace(source: str, target: str) -> None:
        replaced.append((source, str(target)))
        raise OSError("disk full")

    monkeypatch.setattr(progress.os, "replace", failing_replace)
    assert record_attempt("Exercise 00 · M/M/1 mean response time", False) is False
    ((source, target),) = replaced
    assert Path(source).parent == progress_file.parent and target == str(progress_file)
    assert progress_file.read_text() == before, "the old record is whole"
    assert sorted(p.name for p in progress_file.parent.iterdir()) == ["progress.json"]
    monkeypatch.setattr(progress.os, "replace", real_replace)
    assert record_attempt("Exercise 00 · M/M/1 mean response time", False)
    assert load_progress()["Exercise 00 · M/M/1 mean response time"].attempts == 2


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"exercises": 3}', b"\xff\xfe"])
def test_a_corrupt_record_is_reported_by_the_table_and_replaced_by_the_next_check(
    progress_file: Path, content: bytes
) -> None:
    progress_file.write_bytes(content)
    with pytest.raises(ProgressUnreadable):
        load_progress()
    assert "cannot be read" in progress_table()
    assert (
        CheckReport("Exercise 05 · The autoscaler's rule").show().text().startswith("Exercise 05")
    )
    assert load_progress()["Exercise 05 · The autoscaler's rule"].attempts == 1


def test_a_damaged_entry_costs_only_that_entry(progress_file: Path) -> None:
    progress_file.write_text(
        json.dumps({"exercises": {"a": "oops", "b": {"passed": True, "attempts": "x"}}})
    )
    assert list(load_progress()) == ["b"]
    assert load_progress()["b"].passed and load_progress()["b"].attempts == 0


def test_an_unwritable_place_never_breaks_a_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(ENV_VAR, str(blocker / "progress.json"))  # its parent is a file
    report = CheckReport("Exercise 02 · Move the cart from memory to Redis")
    report.expect(True, "the cart survives")
    assert report.show().passed
    assert capsys.readouterr() == ("", "")
    assert record_attempt("x", True) is False
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # a directory where the file should be
    assert record_attempt("x", True) is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_never_breaks_a_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tmp_path.chmod(0o500)
    try:
        monkeypatch.setenv(ENV_VAR, str(tmp_path / "progress.json"))
        assert CheckReport("t").show() is not None
        assert record_attempt("t", True) is False
    finally:
        tmp_path.chmod(0o700)


def test_every_check_records_through_show(progress_file: Path) -> None:
    failing = CheckReport("Exercise 03 · Write a load-balancing policy")
    failing.expect(False, "spreads the load", hint="count")
    text_before = failing.show().text()
    passing = CheckReport("Exercise 03 · Write a load-balancing policy")
    passing.expect(True, "spreads the load")
    passing.show()
    entry = load_progress()["Exercise 03 · Write a load-balancing policy"]
    assert (entry.passed, entry.attempts, entry.last_passed) == (True, 2, True)
    assert "progress" not in text_before.lower(), "a report reads the same whatever the record"


def test_the_table_lists_exercises_in_syllabus_order(
    progress_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_attempt("Exercise 07 · a denylist for logout", False, now=WHEN)
    record_attempt("Exercise 01 · Spot the state", True, now=WHEN)
    record_attempt("Exercise 01 · Spot the state", True, now=WHEN)
    show_progress()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["exercise", "passed", "attempts", "last", "tried"]
    assert lines[2].startswith("Exercise 01 · Spot the state") and " ✓ " in lines[2]
    assert lines[2].split()[-3] == "2"
    assert lines[3].startswith("Exercise 07") and "not yet" in lines[3]
    assert lines[-1].startswith("1 of 2 exercises tried have passed.")
    assert str(progress_file) in lines[-1]


def test_an_empty_record_says_what_to_do(progress_file: Path) -> None:
    assert progress_table().startswith("No exercise checked yet")
    assert not progress_file.exists(), "reading never creates the record"


def test_the_command_prints_the_table(progress_file: Path) -> None:
    record_attempt("Exercise 04 · How many requests does a crash cost?", True, now=WHEN)
    ran = subprocess.run(
        [sys.executable, "-m", "labs.progress"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, ENV_VAR: str(progress_file)},
    )
    assert ran.returncode == 0, ran.stderr
    assert "Exercise 04 · How many requests does a crash cost?" in ran.stdout
    assert "✓" in ran.stdout and ran.stderr == ""
