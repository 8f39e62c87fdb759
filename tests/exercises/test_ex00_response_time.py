"""Lesson 00's check fails on the starter as stored in the notebook and passes on the solution."""

import math
from fractions import Fraction

from notebook_cells import run_starter

from labs.exercises.ex00_response_time import check_mean_response
from labs.solutions.ex00_response_time import mean_response


def test_check_fails_on_the_stored_starter() -> None:
    report = check_mean_response(run_starter("00_start_here.ipynb")["mean_response"])
    assert not report.passed
    assert report.hint


def test_check_passes_on_the_solution() -> None:
    report = check_mean_response(mean_response)
    assert report.passed
    assert all(line.ok for line in report.lines)


def test_check_catches_a_missing_overload_case() -> None:
    report = check_mean_response(lambda lam, mu: 1 / (mu - lam))
    assert not report.passed
    assert "ZeroDivisionError" in report.text()


def test_check_reports_instead_of_raising_on_wrong_types() -> None:
    report = check_mean_response(lambda lam, mu: "five")
    assert not report.passed
    assert "'five'" in report.text()


def test_solution_matches_the_formula() -> None:
    assert mean_response(0.8, 1.0) == 1 / (1.0 - 0.8)
    assert mean_response(2.0, 2.0) == math.inf


def _inf_only_at_capacity(lam: float, mu: float) -> float:
    try:
        return 1 / (mu - lam)
    except ZeroDivisionError:
        return math.inf


WRONG = [
    _inf_only_at_capacity,  # right at λ = μ, negative beyond it
    lambda lam, mu: 1 / mu,  # the service time alone: no waiting
    lambda lam, mu: 1 / (mu - lam) if lam < mu else -1.0,  # a sentinel instead of infinity
    lambda lam, mu: lam / (mu - lam) if lam < mu else math.inf,  # requests in the queue, L_q
]
RIGHT = [
    lambda lam, mu: float("inf") if lam >= mu else 1.0 / (mu - lam),
    lambda lam, mu: (1 / mu) / (1 - lam / mu) if lam < mu else math.inf,  # S / (1 − ρ)
    lambda lam, mu: 1 / (Fraction(mu) - Fraction(lam)) if lam < mu else math.inf,  # exact
]


def test_check_fails_every_plausible_wrong_answer() -> None:
    for wrong in WRONG:
        assert not check_mean_response(wrong).passed


def test_check_passes_right_answers_written_differently() -> None:
    for right in RIGHT:
        assert check_mean_response(right).passed
