"""Lesson 00 exercise: the M/M/1 mean response time, to learn how checks work.

One server, Poisson arrivals at rate λ, exponential service at rate μ. While
λ < μ the mean time a request spends in the system is 1 / (μ − λ); at λ ≥ μ the
queue grows without bound and the answer is infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labs.checking import CheckReport, is_number

CASES = [(0.5, 1.0, 2.0), (0.9, 1.0, 10.0), (2.0, 4.0, 0.5), (3.0, 10.0, 1 / 7)]
OVERLOADED = [
    (1.0, 1.0, "a server exactly at capacity"),
    (2.0, 1.0, "a server sent twice what it can serve"),
    (1.5, 1.2, "an overloaded server"),
]


def _show(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _ask(
    report: CheckReport,
    mean_response: Callable[[float, float], float],
    lam: float,
    mu: float,
    hint: tuple[str, str],
) -> tuple[bool, object]:
    """``(True, answer)`` when ``mean_response(lam, mu)`` returned, ``(False, None)`` when it
    raised (then the report already says so)."""
    before = len(report.lines)
    got = report.attempt(f"mean_response({lam}, {mu})", lambda: mean_response(lam, mu), *hint)
    return len(report.lines) == before, got


def check_mean_response(
    mean_response: Callable[[float, float], float], *, hint: bool = False
) -> CheckReport:
    """Check ``mean_response(arrival_rate, service_rate)`` against the M/M/1 formula."""
    report = CheckReport("Exercise 00 · M/M/1 mean response time", closer=hint)
    hint = (
        "The busier the server, the longer the wait: a request's mean time in the system grows "
        "as the spare capacity μ − λ shrinks (lesson 00's theory cell says how).",
        "return 1 / (service_rate - arrival_rate)",
    )
    overload_hint = (
        "When requests arrive at least as fast as they are served, the queue never empties: "
        "the mean time in the system is infinite, whatever the formula gives.",
        "if arrival_rate >= service_rate: return math.inf",
    )
    cases = [
        (lam, mu, expected, f"mean_response({lam}, {mu}) = {expected:.4g}", hint)
        for lam, mu, expected in CASES
    ] + [
        (lam, mu, math.inf, f"{what} (λ = {lam:g}, μ = {mu:g}) gives math.inf", overload_hint)
        for lam, mu, what in OVERLOADED
    ]
    for lam, mu, expected, claim, case_hint in cases:
        ran, got = _ask(report, mean_response, lam, mu, case_hint)
        if ran:  # (when it raised, the failure is already reported); isclose(inf, inf) holds
            ok = is_number(got) and math.isclose(float(got), expected, rel_tol=1e-9)
            report.expect(ok, f"{claim} (yours: {_show(got)})", *case_hint)
    return report.show()
