"""Lesson 04's check fails on the starter as stored in the notebook, passes on the solution and
on right answers written differently, and fails the plausible wrong ones."""

from fractions import Fraction

from notebook_cells import run_starter

from labs.exercises.ex04_crash_cost import check_requests_lost
from labs.solutions.ex04_crash_cost import requests_lost


def test_check_fails_on_the_stored_starter() -> None:
    report = check_requests_lost(run_starter("04_crashes.ipynb")["requests_lost"])
    assert not report.passed
    assert report.hint and "load / (1 - load)" not in report.text()


def test_check_passes_on_the_solution_and_the_simulation_agrees() -> None:
    report = check_requests_lost(requests_lost)
    assert report.passed, report.text()
    assert sum("simulation" in line.message for line in report.lines) == 2


def test_right_answers_written_differently_pass() -> None:
    def by_littles_law(load, rerouted):  # L = λW with W = 1 / (μ − λ), μ = 1
        return load if rerouted else load * (1 / (1 - load))

    def as_a_series(load, rerouted):  # P(n at the instance) = (1 − ρ) ρⁿ, summed n·P(n)
        if rerouted:
            return load
        return sum(n * (1 - load) * load**n for n in range(1, 2_000)) if load else 0.0

    def with_fractions(load, rerouted):
        rho = Fraction(load).limit_denominator(1_000)
        return float(rho if rerouted else rho / (1 - rho))

    for right in (by_littles_law, as_a_series, with_fractions):
        assert check_requests_lost(right).passed, right.__name__


def test_plausible_wrong_answers_fail() -> None:
    wrong = {
        "only the request in service": lambda load, rerouted: load,
        "only the queue": lambda load, rerouted: 0.0 if rerouted else load**2 / (1 - load),
        "everything, even when resent": lambda load, rerouted: load / (1 - load),
        "one request, always": lambda load, rerouted: 1.0,
        "the time in the system, not the number": lambda load, rerouted: 1 / (1 - load),
    }
    for name, answer in wrong.items():
        assert not check_requests_lost(answer).passed, name


def test_bad_answers_are_reported_not_raised() -> None:
    crashing = check_requests_lost(lambda load, rerouted: load / 0)
    assert not crashing.passed and "ZeroDivisionError" in crashing.text()
    wrong_type = check_requests_lost(lambda load, rerouted: "four")
    assert not wrong_type.passed and "'four'" in wrong_type.text()
