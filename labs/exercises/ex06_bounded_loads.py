"""Lesson 06 exercise: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018).

``choose_instance(ring_order, connections, epsilon)`` gets the instances in clockwise order
from the user's point on the hash ring (``ring_order[0]`` is the user's own instance), every
instance's open connections (``connections[i]``), and ε. It returns the instance for the new
request: the first one in ``ring_order`` whose connections, plus this request, stay within the
capacity ⌈(1+ε)·(all connections + 1) / number of instances⌉.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from labs.checking import CheckReport

Chooser = Callable[[list[int], list[int], float], int]

# (ring order, connections, ε, expected instance, what the case shows)
CASES = [
    ([0, 1, 2], [0, 0, 0], 0.25, 0, "an idle cluster: the user's own instance"),
    ([1, 2, 0], [2, 2, 2], 0.25, 1, "own instance below the capacity ⌈1.25·7/3⌉ = 3: stay there"),
    ([0, 1, 2, 3], [5, 1, 1, 1], 0.25, 1, "own instance full (cap ⌈1.25·9/4⌉ = 3): next clockwise"),
    ([2, 0, 1], [1, 0, 3], 0.0, 0, "walk in ring order, not in index order (cap ⌈5/3⌉ = 2)"),
    ([0, 1, 2, 3], [4, 4, 0, 0], 0.0, 2, "skip every full instance (cap ⌈9/4⌉ = 3)"),
    ([3, 1, 0, 2], [3, 3, 1, 0], 0.5, 3, "own instance idle: no reason to move"),
    ([1, 0, 2, 3], [2, 9, 0, 1], 1.0, 0, "ε = 1: up to ⌈2·13/4⌉ = 7 each; 9 is full, 2 is not"),
    (
        [0, 3, 2, 1],
        [3, 0, 0, 0],
        0.5,
        3,
        "next clockwise, not the least loaded (cap ⌈1.5·4/4⌉ = 2)",
    ),
]
HINT = (
    "The capacity counts the new request too: ⌈(1+ε)·(sum of connections + 1) / n⌉ "
    "(math.ceil). Walk ring_order and return the first instance whose connections + 1 fit."
)


def _capacity(connections: list[int], epsilon: float) -> int:
    return math.ceil((1 + epsilon) * (sum(connections) + 1) / len(connections))


def check_choose_instance(choose_instance: Chooser, *, hint: bool = False) -> CheckReport:
    """Check ``choose_instance`` on hand-made cases, then on a long random run."""
    report = CheckReport("Exercise 06 · consistent hashing with bounded loads", closer=hint)
    for order, connections, epsilon, expected, story in CASES:
        before = len(report.lines)
        got = report.attempt(
            story,
            lambda o=order, c=connections, e=epsilon: choose_instance(list(o), list(c), e),
            HINT,
        )
        if len(report.lines) > before:
            continue
        report.expect(got == expected, f"{story} → {expected} (yours: {got!r})", HINT)
    _random_run(choose_instance, report)
    return report.show()


def _random_run(choose_instance: Chooser, report: CheckReport, steps: int = 2000) -> None:
    """Requests arrive and finish at random; every choice must respect the bound."""
    rng = random.Random(6)
    n, epsilon = 5, 0.25
    connections = [0] * n
    homes = [rng.sample(range(n), n) for _ in range(20)]  # 20 users' ring orders
    for step in range(steps):
        if sum(connections) and rng.random() < 0.45:
            busy = [i for i in range(n) if connections[i]]
            connections[rng.choice(busy)] -= 1
            continue
        order = homes[min(int(rng.paretovariate(1.2)) - 1, 19)]  # a few users are heavy
        try:
            got = choose_instance(list(order), list(connections), epsilon)
        except Exception as exc:  # the learner's code may raise anything
            report.expect(False, f"random run, step {step}: raised {type(exc).__name__}", HINT)
            return
        cap = _capacity(connections, epsilon)
        expected = next(i for i in order if connections[i] + 1 <= cap)
        if got != expected:
            report.expect(
                False,
                f"random run, step {step}: connections {connections}, ring order {order}, "
                f"capacity {cap} → {expected} (yours: {got!r})",
                HINT,
            )
            return
        connections[got] += 1
    report.expect(
        True, f"a random run of {steps} steps: no instance ever above ⌈(1+ε)·average⌉", HINT
    )
