"""Pytest plugin: print how long the lessons take under strict nbval (COURSE_DESIGN §8).

Loaded with ``-p course_budget`` from pyproject. The budget is a benchmark the run prints,
not a timed test that could flake on a busy machine.
"""

from __future__ import annotations

import pytest

COURSE_BUDGET_SECONDS = 180.0  # COURSE_DESIGN §8: the 14 lessons (goal 120 s)
LESSON_BUDGET_SECONDS = 15.0  # a lesson over this says why in its issue note
_lesson_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the time each lesson's cells take under nbval (setup, call and teardown)."""
    if report.nodeid.startswith("notebooks/"):
        lesson = report.nodeid.split("::")[0]
        _lesson_seconds[lesson] = _lesson_seconds.get(lesson, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _lesson_seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section("course budget: lessons under strict nbval")
    for lesson, seconds in sorted(_lesson_seconds.items()):
        over = "  (over 15 s: its note says why)" if seconds > LESSON_BUDGET_SECONDS else ""
        write(f"{lesson:52s} {seconds:6.1f} s{over}")
    total = sum(_lesson_seconds.values())
    verdict = "within" if total <= COURSE_BUDGET_SECONDS else "OVER"
    budget = f"{verdict} the {COURSE_BUDGET_SECONDS:.0f} s budget"
    write(f"{'all lessons':52s} {total:6.1f} s  ({budget})")
