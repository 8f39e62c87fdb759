"""Your progress through the course's exercises: a small local record, no account, no server.

Every exercise check passes through ``CheckReport.show()`` (labs/checking.py), which calls
``record_attempt``: the check's title, whether it passed, how many times it ran, when. The record
is one JSON file in your data directory, ``$XDG_DATA_HOME/stateless-by-design/progress.json``
(else ``~/.local/share/stateless-by-design/progress.json``), or wherever ``SBD_PROGRESS_FILE``
points. See it with ``show_progress()`` in a notebook or ``python -m labs.progress``.

The record is a convenience, never a reason for a check to fail: a corrupt or unwritable file is
left alone and the check reports as usual, silently (a printed note would make a lesson's stored
output depend on the machine). ``show_progress`` says what is wrong with it. Each write goes to a
temporary file in the same directory, then ``os.replace``: a crash mid-write leaves the old record
whole. Two kernels checking at the same instant may lose one attempt's count (read, then write:
lesson 08's race, accepted here for a personal record).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ENV_VAR = "SBD_PROGRESS_FILE"
APP_DIR = "stateless-by-design"
VERSION = 1


class ProgressUnreadable(Exception):
    """The record exists but is not a progress record (a half-edited or foreign file)."""


@dataclass
class ExerciseProgress:
    """One exercise as the record keeps it; times are ISO 8601 in UTC."""

    title: str
    passed: bool = False  # ever passed: a later failed try does not take a pass away
    attempts: int = 0
    last_tried: str = ""
    last_passed: bool = False
    first_passed: str = ""


def progress_path() -> Path:
    """Where the record lives: ``$SBD_PROGRESS_FILE``, else the XDG data directory."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / APP_DIR / "progress.json"


def load_progress(path: Path | None = None) -> dict[str, ExerciseProgress]:
    """The record, by exercise title; empty if there is none yet. Raises ProgressUnreadable."""
    path = path or progress_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgressUnreadable(f"{path}: {exc}") from exc
    exercises = raw.get("exercises") if isinstance(raw, dict) else None
    if not isinstance(exercises, dict):
        raise ProgressUnreadable(f"{path}: not a progress record (no 'exercises' object)")
    record = {}
    for title, entry in exercises.items():
        if not isinstance(entry, dict):
            continue  # one damaged entry costs that entry, not the record
        record[title] = ExerciseProgress(
            title=str(title),
            passed=entry.get("passed") is True,
            attempts=entry["attempts"] if isinstance(entry.get("attempts"), int) else 0,
            last_tried=str(entry.get("last_tried", "")),
            last_passed=entry.get("last_passed") is True,
            first_passed=str(entry.get("first_passed", "")),
        )
    return record


def _write_atomically(path: Path, record: dict[str, ExerciseProgress]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": VERSION,
        "exercises": {
            title: {k: v for k, v in asdict(entry).items() if k != "title"}
            for title, entry in sorted(record.items())
        },
    }
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2, ensure_ascii=False)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def record_attempt(
    title: str, passed: bool, *, path: Path | None = None, now: datetime | None = None
) -> bool:
    """Add one run of the check ``title`` to the record; True if it was written. Never raises:
    an unreadable record is started afresh, an unwritable one is left as it is."""
    try:
        path = path or progress_path()
        try:
            record = load_progress(path)
        except ProgressUnreadable:
            record = {}  # what cannot be read cannot be kept; the new record replaces it
        stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        entry = record.setdefault(title, ExerciseProgress(title))
        entry.attempts += 1
        entry.last_tried, entry.last_passed = stamp, bool(passed)
        if passed and not entry.passed:
            entry.passed, entry.first_passed = True, stamp
        _write_atomically(path, record)
        return True
    except Exception:  # a full disk, a read-only home, a directory in the file's place...
        return False


def _local_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp or "-"


def progress_table(path: Path | None = None) -> str:
    """The record as a table (exercise, passed, attempts, last tried), in syllabus order (the
    checks' titles start with 'Exercise NN'), and where the record lives."""
    path = path or progress_path()
    try:
        record = load_progress(path)
    except ProgressUnreadable as exc:
        return f"Your progress record cannot be read ({exc}).\nThe next check starts a new one."
    if not record:
        return f"No exercise checked yet: run a lesson's check cell.\n(record: {path})"
    rows = [
        (e.title, "✓" if e.passed else "not yet", str(e.attempts), _local_time(e.last_tried))
        for _, e in sorted(record.items())
    ]
    head = ("exercise", "passed", "attempts", "last tried")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    done = sum(e.passed for e in record.values())
    footer = f"{done} of {len(record)} exercises tried have passed.  (record: {path})"
    table = [line(head), rule, *(line(row) for row in rows), "", footer]
    return "\n".join(text.rstrip() for text in table)


def show_progress(path: Path | None = None) -> None:
    """Print which exercises you have passed across the course."""
    print(progress_table(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labs.progress",
        description=f"Show which exercises you have passed (the record: {progress_path()}; "
        f"set {ENV_VAR} to use another file).",
    )
    parser.parse_args(argv)
    show_progress()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
