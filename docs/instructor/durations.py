"""Lesson durations and per-learner resources for the instructor guide, from one stated rule.

    python docs/instructor/durations.py                  # the table, from measurements.json
    python docs/instructor/durations.py --measure        # run every lesson headless, store, print
    python docs/instructor/durations.py --measure 04 09  # measure only these (others kept)

The rule (why each term): a lesson takes

    headless run time        the cells' own time, measured (a learner waits for them too)
  + reading time             words of the markdown cells at 200 words a minute
  + 3 min per prediction     every "**Predict" in a markdown cell: think, guess, reveal, talk
  + 10 min per exercise      every check_... call: write, run, read the feedback, retry once

rounded up to 5 minutes. ``--measure`` runs each lesson once in a fresh kernel, in a temporary
copy of notebooks/ (so the stored notebooks and the files the lessons write next to themselves
are untouched), and samples every 0.5 s all processes started for it (the kernel, gunicorn
instances, nginx, workers, embedded Redis and S3 servers: they are found by an environment
marker they all inherit, as tests/leftovers.py does): their summed RSS, their summed PSS (shared
pages counted once, the honest figure for sizing a hub) and the loopback ports they listen on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
MEASUREMENTS = Path(__file__).resolve().parent / "measurements.json"
MARKER = "SBD_INSTRUCTOR_MEASURE"
WORDS_PER_MINUTE = 200
MINUTES_PER_PREDICTION = 3
MINUTES_PER_EXERCISE = 10
# The one exception: the capstone's exercise is a refactoring the lesson itself puts at about
# 100 minutes ("about 2 hours for the capstone, 20 minutes without the exercise").
EXERCISE_MINUTES = {"13": 100}
# The schedules: lesson numbers and (activity, minutes); clock times are computed.
START = (9, 0)
SCHEDULES = {
    "Half day (about 3.5 h): the core idea, state in the instance and out of it": [
        ("Welcome, the room's setup checked (lesson 00's first cell everywhere)", 5),
        "00",
        "01",
        "02",
        ("Break", 15),
        "03",
        "04",
        ("Break", 10),
        "05",
        ("Wrap-up: the key takeaways, what to run at home (06, 07, 12, 13)", 10),
    ],
    "Full day (about 7 h): from sessions to disposable instances": [
        ("Welcome, the room's setup checked (lesson 00's first cell everywhere)", 5),
        "00",
        "01",
        "02",
        ("Break", 15),
        "03",
        "04",
        "05",
        ("Lunch", 45),
        "08",
        "09",
        ("Break", 15),
        "10",
        "11",
        ("Wrap-up: the key takeaways, the capstone (13) as homework", 10),
    ],
}
PREDICTION = re.compile(r"\*\*Predict")
EXERCISE_CHECK = re.compile(r"^\s*(?:\w+\s*=\s*)?check_\w+\(", re.MULTILINE)


def lessons() -> list[Path]:
    """Every lesson that exists now (lesson 13 may not yet): NN_slug.ipynb in notebooks/."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def count(path: Path) -> dict[str, int]:
    """Words of markdown, predictions and exercise checks of one stored lesson."""
    nb = nbformat.read(path, as_version=4)
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    words = sum(len(re.findall(r"[A-Za-z0-9][\w'’.-]*", text)) for text in markdown)
    return {
        "words": words,
        "predictions": sum(len(PREDICTION.findall(text)) for text in markdown),
        "exercises": sum(len(EXERCISE_CHECK.findall(text)) for text in code),
    }


def minutes(counts: dict[str, int], run_seconds: float, lesson: str = "") -> int:
    """The stated rule, rounded up to 5 minutes."""
    per_exercise = EXERCISE_MINUTES.get(lesson[:2], MINUTES_PER_EXERCISE)
    total = (
        run_seconds / 60
        + counts["words"] / WORDS_PER_MINUTE
        + MINUTES_PER_PREDICTION * counts["predictions"]
        + per_exercise * counts["exercises"]
    )
    return 5 * math.ceil(total / 5)


def _marked_pids(marker: str) -> list[int]:
    wanted = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB, from smaps_rollup (0, 0 if it is gone)."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        for line in Path("/proc", str(pid), "smaps_rollup").read_text().splitlines():
            key, *rest = line.split()
            if key in values:
                values[key] = int(rest[0])
    except (OSError, ValueError, IndexError):
        pass
    return values["Rss:"], values["Pss:"]


def _listening_ports(pids: set[int]) -> set[int]:
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.Error:
        return set()
    return {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN and c.pid in pids}


class Sampler(threading.Thread):
    """Peak RSS, PSS, process count and listening ports of every process carrying ``marker``."""

    def __init__(self, marker: str, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.marker, self.interval = marker, interval
        self.peak_rss_kib = self.peak_pss_kib = self.peak_processes = self.peak_ports = 0
        self.ports_seen: set[int] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            pids = set(_marked_pids(self.marker))
            memory = [_memory_kib(pid) for pid in pids]
            ports = _listening_ports(pids)
            self.peak_rss_kib = max(self.peak_rss_kib, sum(rss for rss, _ in memory))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss for _, pss in memory))
            self.peak_processes = max(self.peak_processes, len(pids))
            self.peak_ports = max(self.peak_ports, len(ports))
            self.ports_seen |= ports
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def measure(path: Path) -> dict[str, float | int | str]:
    """Execute one lesson headless in a temp copy of notebooks/, sampling what it starts."""
    marker = f"{path.stem}-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="sbd-measure-") as folder:
        copy = Path(folder) / "notebooks"
        shutil.copytree(NOTEBOOKS, copy, ignore=shutil.ignore_patterns("my_*.py", ".ipynb*"))
        nb = nbformat.read(copy / path.name, as_version=4)
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(copy)}}
        )
        previous = os.environ.get(MARKER)
        os.environ[MARKER] = marker  # inherited by the kernel and everything it starts
        sampler = Sampler(f"{MARKER}={marker}")
        sampler.start()
        started = time.perf_counter()
        failure = None
        try:
            client.execute()
        except CellExecutionError as error:  # recorded: a lesson that fails is a finding
            failure = f"{error.ename}: {error.evalue}"[:300]
        finally:
            seconds = time.perf_counter() - started
            sampler.stop()
            if previous is None:
                os.environ.pop(MARKER, None)
            else:
                os.environ[MARKER] = previous
    result = {
        "run_seconds": round(seconds, 1),
        "peak_rss_mb": round(sampler.peak_rss_kib / 1024),
        "peak_pss_mb": round(sampler.peak_pss_kib / 1024),
        "peak_processes": sampler.peak_processes,
        "peak_listening_ports": sampler.peak_ports,
        "distinct_ports_used": len(sampler.ports_seen),
        "load_average_1min_after": round(os.getloadavg()[0], 1),
    }
    if failure is not None:
        result["failed"] = failure
    return result


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{memory:.0f} GiB RAM, Python {platform.python_version()}"
    )


def load() -> dict:
    if MEASUREMENTS.exists():
        return json.loads(MEASUREMENTS.read_text())
    return {"lessons": {}}


def table(stored: dict) -> str:
    """The durations table (markdown) for every lesson that exists now."""
    header = (
        "| lesson | run s | words | predictions | exercises | minutes"
        " | peak RSS MB | peak PSS MB | processes | ports |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows, total = [header], 0
    for path in lessons():
        counts = count(path)
        measured = stored["lessons"].get(path.stem)
        run = measured["run_seconds"] if measured else 0.0
        lesson_minutes = minutes(counts, run, path.stem)
        total += lesson_minutes
        resources = (
            " | ".join(
                str(measured[key])
                for key in ("peak_rss_mb", "peak_pss_mb", "peak_processes", "peak_listening_ports")
            )
            if measured
            else "not measured | | |"
        )
        failed = " (a cell failed)" if measured and "failed" in measured else ""
        rows.append(
            f"| {path.stem} | {run if measured else '?'}{failed} | {counts['words']} |"
            f" {counts['predictions']} | {counts['exercises']} | {lesson_minutes} | {resources} |"
        )
    rows.append(f"| **total** | | | | | **{total}** | | | | |")
    when = stored.get("measured_at", "never")
    return "\n".join(rows) + f"\n\nMeasured {when} on {stored.get('machine', '?')}."


def lesson_minutes(stored: dict) -> dict[str, tuple[str, int]]:
    """Lesson number -> (stem, minutes by the rule), for every lesson that exists now."""
    found = {}
    for path in lessons():
        measured = stored["lessons"].get(path.stem)
        run = measured["run_seconds"] if measured else 0.0
        found[path.stem[:2]] = (path.stem, minutes(count(path), run, path.stem))
    return found


def schedules(stored: dict) -> str:
    """The half-day and full-day plans (markdown), clock times from the lessons' minutes."""
    durations = lesson_minutes(stored)
    parts = []
    for title, items in SCHEDULES.items():
        clock = START[0] * 60 + START[1]
        rows = [f"**{title}**\n", "| time | what | min |", "|---|---|---:|"]
        for item in items:
            if isinstance(item, str):
                if item not in durations:
                    rows.append(f"| | lesson {item} does not exist yet | |")
                    continue
                what, length = durations[item]
            else:
                what, length = item
            rows.append(f"| {clock // 60:02d}:{clock % 60:02d} | {what} | {length} |")
            clock += length
        start = START[0] * 60 + START[1]
        rows.append(
            f"| {clock // 60:02d}:{clock % 60:02d} | end ({(clock - start) / 60:.1f} h) | |"
        )
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs="*", metavar="NN", help="lessons to run (all if none)")
    args = parser.parse_args()
    stored = load()
    if args.measure is not None:
        chosen = [p for p in lessons() if not args.measure or p.stem[:2] in args.measure]
        for path in chosen:
            stored["lessons"][path.stem] = measure(path)
            print(f"{path.stem:40s} {stored['lessons'][path.stem]}", flush=True)
            stored["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            stored["machine"] = machine()
            MEASUREMENTS.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    print(table(stored))
    print()
    print(schedules(stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
