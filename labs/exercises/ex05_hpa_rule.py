"""Lesson 05 exercise: write the Horizontal Pod Autoscaler's rule, tolerance included.

``desired_replicas(current, metric, target, tolerance=0.1)`` returns how many replicas to run:
``ceil(current × metric / target)``, except that while the ratio metric / target is within
``tolerance`` of 1 the answer is ``current`` (no change). The check compares it with worked
cases, then feeds it noisy readings around the target: a rule with a tolerance band holds still.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from labs.checking import CheckReport

Rule = Callable[..., int]

# (current, metric, target, tolerance, expected, what the case shows)
CASES = [
    (4, 1.2, 0.6, 0.1, 8, "twice the target: twice the replicas"),
    (5, 0.9, 0.6, 0.1, 8, "ceil(5 × 1.5) = ceil(7.5) = 8: round up"),
    (10, 0.3, 0.6, 0.1, 5, "half the target: half the replicas"),
    (10, 0.63, 0.6, 0.1, 10, "5% above the target is inside the band: no change"),
    (10, 0.57, 0.6, 0.1, 10, "5% below the target is inside the band: no change"),
    (20, 0.552, 0.6, 0.1, 20, "8% below the target is inside the band too: no change"),
    (20, 0.543, 0.6, 0.1, 20, "9.5% below: still inside the band (of the target), no change"),
    (20, 0.663, 0.6, 0.1, 23, "10.5% above: outside it, ceil(20 × 1.105) = ceil(22.1) = 23"),
    (10, 0.51, 0.6, 0.1, 9, "15% below: the band is in the metric, ceil(8.5) = 9"),
    (10, 0.72, 0.6, 0.1, 12, "20% above: ceil(10 × 1.2) = 12"),
    (3, 0.1, 0.6, 0.1, 1, "nearly idle: ceil(0.5) = 1"),
    (10, 0.63, 0.6, 0.0, 11, "tolerance 0: every deviation counts, ceil(10.5) = 11"),
]
NOISE, READINGS, SEED = 0.08, 200, 5
HINT = (
    "The rule scales the replicas by how far the metric is from the target, rounds up, and "
    "holds still while the metric is close to the target, above it or below it.",
    "ratio = metric / target; if abs(ratio - 1) <= tolerance: return current; otherwise "
    "return math.ceil(current * ratio)",
)


def check_desired_replicas(desired_replicas: Rule, *, hint: bool = False) -> CheckReport:
    """Check the learner's HPA rule on worked cases, then on noisy readings near the target."""
    report = CheckReport("Exercise 05 · The autoscaler's rule", closer=hint)
    for current, metric, target, tolerance, expected, story in CASES:
        before = len(report.lines)
        got = report.attempt(
            story,
            lambda c=current, m=metric, t=target, tol=tolerance: desired_replicas(c, m, t, tol),
            *HINT,
        )
        if len(report.lines) > before:
            continue
        report.expect(got == expected, f"{story} → {expected} (yours: {got!r})", *HINT)
    if not report.passed:
        return report.show()
    rng = random.Random(SEED)
    readings = [0.6 * (1 + rng.uniform(-NOISE, NOISE)) for _ in range(READINGS)]
    changes = sum(desired_replicas(10, reading, 0.6, 0.1) != 10 for reading in readings)
    report.expect(
        changes == 0,
        f"{READINGS} noisy readings within ±{NOISE:.0%} of the target: {changes} changes of the "
        "replica count (a flapping cluster restarts instances for nothing)",
        *HINT,
    )
    return report.show()
