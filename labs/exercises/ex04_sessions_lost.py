"""Lesson 04 exercise: predict the share of sessions a crash destroys.

``fraction_lost(store, instances, crashed)`` answers: with sessions kept in ``store``
(``"memory"`` or ``"shared"``) and sticky routing over ``instances`` instances that share the
users evenly, what fraction of the users' sessions is lost when ``crashed`` of the instances
die at once? The check compares the answer with hand-worked cases, then with the simulation.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

from labs.checking import CheckReport
from simulations import run_crashes

Predictor = Callable[[str, int, int], float]

# (store, instances, crashed, expected fraction, what the case shows)
CASES = [
    ("memory", 4, 1, 0.25, "memory, 1 of 4 instances crashes: its quarter of the users"),
    ("memory", 5, 2, 0.4, "memory, 2 of 5 crash: two fifths"),
    ("memory", 3, 3, 1.0, "memory, every instance crashes: every session"),
    ("memory", 10, 0, 0.0, "memory, nothing crashes: nothing lost"),
    ("shared", 4, 1, 0.0, "shared store, 1 of 4 crashes: the sessions were never only there"),
    ("shared", 3, 3, 0.0, "shared store, every instance crashes: the store still has them"),
]
SIMULATED = [("memory", 6, 2), ("shared", 6, 2)]
USERS, TOLERANCE = 600, 0.02
HINT = (
    "Where does a session live? With sticky routing each user's session is in the memory of "
    "one instance, and the users are spread evenly; with a shared store it is in neither.",
    "memory: crashed / instances of the sessions; shared store: 0, whichever instance dies",
)


def _is_number(value: object) -> bool:
    """A real number: an int, a float, a ``Fraction(k, n)``, numpy's; not True or False."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_fraction_lost(fraction_lost: Predictor) -> CheckReport:
    """Check ``fraction_lost`` on worked cases, then against the crash simulation."""
    report = CheckReport("Exercise 04 · How many sessions does a crash destroy?")
    for store, instances, crashed, expected, story in CASES:
        before = len(report.lines)
        got = report.attempt(
            story, lambda s=store, n=instances, k=crashed: fraction_lost(s, n, k), *HINT
        )
        if len(report.lines) > before:
            continue
        ok = _is_number(got) and abs(float(got) - expected) < 1e-9
        report.expect(ok, f"{story} → {expected:g} (yours: {got!r})", *HINT)
    if not report.passed:
        return report.show()
    for store, instances, crashed in SIMULATED:
        result = run_crashes(
            store=store,
            policy="sticky",
            instances=instances,
            crashes=crashed,
            crash_at=50,
            users=USERS,
        )
        simulated = result.sessions_lost / result.sessions_at_crash
        predicted = float(fraction_lost(store, instances, crashed))  # a Fraction formats too
        report.expect(
            abs(predicted - simulated) <= TOLERANCE,
            f"simulation, {store}, {crashed} of {instances} crash: {result.sessions_lost} of "
            f"{result.sessions_at_crash} sessions lost = {simulated:.3f}, you predicted "
            f"{predicted:.3f}",
            *HINT,
        )
    return report.show()
