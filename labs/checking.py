"""Immediate feedback for exercises (COURSE_DESIGN §4).

A check runs the learner's code, records one line per expectation and returns a
report: ✓ for what works, ✗ for what does not, and a hint after the first
failure. A check never raises on a wrong answer — an exception in the learner's
code is reported as a failed line, so the notebook keeps going.

Hints come in two tiers. The first failure of a check shows the *idea* (``hint``);
the code-level hint (``code_hint``) appears only from the second failed attempt in
the same session, or when asked for (``check_...(..., hint=True)``, or
``report.closer_hint()``). So a lesson's stored output, one run on the starter code,
never prints the solution.

    def check_spot_the_state(answer) -> CheckReport:
        report = CheckReport("Spot the state")
        report.expect(answer == {2, 5}, "snippets 2 and 5 keep state", hint="Look for globals.")
        return report.show()

The report shows itself as the result of the notebook cell (its text is its
repr), so a check cell is just ``check_spot_the_state(answer)``; tests read
``report.passed``.
"""

from __future__ import annotations

import numbers
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs import progress

# Failed attempts per check (by title) in this Python session: the second one earns a
# code-level hint. A fresh kernel (and every stored lesson) starts at zero.
FAILED_ATTEMPTS: Counter[str] = Counter()


def is_number(value: object) -> bool:
    """A real number as a learner may write one: an int, a float, a ``Fraction``, numpy's;
    not True or False (checks judge the value, not the spelling)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_truth(value: object) -> bool:
    """True or False as a learner may write one: Python's bool or numpy's (``numpy.bool_``)."""
    kind = type(value)
    return kind is bool or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


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
    code_hint: str | None = None
    closer: bool = False  # show the code-level hint at once (a check's ``hint=True``)
    attempt_number: int = 0  # which failed attempt this report is (set by show())

    @property
    def passed(self) -> bool:
        return bool(self.lines) and all(line.ok for line in self.lines)

    def expect(
        self, ok: bool, message: str, hint: str | None = None, code_hint: str | None = None
    ) -> bool:
        """Record whether ``message`` holds; the first failing line's hints are kept."""
        self.lines.append(CheckLine(bool(ok), message))
        if not ok and self.hint is None and hint:
            self.hint, self.code_hint = hint, code_hint
        return bool(ok)

    def attempt(
        self,
        message: str,
        action: Callable[[], Any],
        hint: str | None = None,
        code_hint: str | None = None,
    ) -> Any:
        """Run ``action``; an exception becomes a failed line instead of a traceback."""
        try:
            return action()
        except (Exception, SystemExit) as exc:  # the learner's code may raise anything, exit too
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.expect(
                False,
                f"{message}: raised {type(exc).__name__}: {exc} (line {where.lineno})",
                hint,
                code_hint,
            )
            return None

    def closer_hint(self) -> str:
        """The code-level hint, on request (what a second failed attempt shows anyway)."""
        return self.code_hint or self.hint or "nothing failed: no hint needed"

    def text(self) -> str:
        head = f"{self.title}: {'PASSED' if self.passed else 'NOT YET'}"
        body = [f"  {'✓' if line.ok else '✗'} {line.message}" for line in self.lines]
        if not self.lines:
            body.append("  ✗ nothing was checked (did the code run?)")
        if not self.passed and self.hint:
            body.append(f"  Hint: {self.hint}")
            if self.code_hint and (self.closer or self.attempt_number >= 2):
                body.append(f"  Closer hint: {self.code_hint}")
            elif self.code_hint:
                body.append(
                    "  (Still stuck after your next try? Run the check again for a closer hint.)"
                )
        return "\n".join([head, *body])

    def show(self) -> CheckReport:
        """The report, ready to be a cell's result: Jupyter displays it once, as text. A failed
        report counts as an attempt (the second one shows the code-level hint). Every report is
        added to the learner's progress record (labs/progress.py), which never raises and prints
        nothing, so the report reads the same whatever the record holds."""
        if not self.passed:
            FAILED_ATTEMPTS[self.title] += 1
            self.attempt_number = FAILED_ATTEMPTS[self.title]
        progress.record_attempt(self.title, self.passed)
        return self

    def __repr__(self) -> str:
        return self.text()
