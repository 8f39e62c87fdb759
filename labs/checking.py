"""Immediate feedback for exercises (COURSE_DESIGN §4).

A check runs the learner's code, records one line per expectation and returns a
report: ✓ for what works, ✗ for what does not, and a hint after the first
failure. A check never raises on a wrong answer — an exception in the learner's
code is reported as a failed line, so the notebook keeps going.

    def check_spot_the_state(answer) -> CheckReport:
        report = CheckReport("Spot the state")
        report.expect(answer == {2, 5}, "snippets 2 and 5 keep state", hint="Look for globals.")
        return report.show()

The report shows itself as the result of the notebook cell (its text is its
repr), so a check cell is just ``check_spot_the_state(answer)``; tests read
``report.passed``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckLine:
    ok: bool
    message: str


@dataclass(repr=False)
class CheckReport:
    """The result of one exercise check: a title, ✓/✗ lines, and the first hint."""

    title: str
    lines: list[CheckLine] = field(default_factory=list)
    hint: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.lines) and all(line.ok for line in self.lines)

    def expect(self, ok: bool, message: str, hint: str | None = None) -> bool:
        """Record whether ``message`` holds; the first failing line's hint is kept."""
        self.lines.append(CheckLine(bool(ok), message))
        if not ok and self.hint is None and hint:
            self.hint = hint
        return bool(ok)

    def attempt(self, message: str, action: Callable[[], Any], hint: str | None = None) -> Any:
        """Run ``action``; an exception becomes a failed line instead of a traceback."""
        try:
            return action()
        except Exception as exc:  # the learner's code may raise anything
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.expect(
                False,
                f"{message}: raised {type(exc).__name__}: {exc} (line {where.lineno})",
                hint,
            )
            return None

    def text(self) -> str:
        head = f"{self.title}: {'PASSED' if self.passed else 'NOT YET'}"
        body = [f"  {'✓' if line.ok else '✗'} {line.message}" for line in self.lines]
        if not self.lines:
            body.append("  ✗ nothing was checked (did the code run?)")
        if not self.passed and self.hint:
            body.append(f"  Hint: {self.hint}")
        return "\n".join([head, *body])

    def show(self) -> CheckReport:
        """The report, ready to be a cell's result: Jupyter displays it once, as text."""
        return self

    def __repr__(self) -> str:
        return self.text()
