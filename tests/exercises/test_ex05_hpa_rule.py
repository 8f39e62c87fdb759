"""Lesson 05's check fails on the starter as stored in the notebook and passes on the solution."""

import math

from notebook_cells import run_starter

from labs.exercises.ex05_hpa_rule import check_desired_replicas
from labs.solutions.ex05_hpa_rule import desired_replicas
from simulations import desired_replicas as library_rule


def test_check_fails_on_the_stored_starter() -> None:
    report = check_desired_replicas(
        run_starter("05_autoscaling_and_deploys.ipynb")["desired_replicas"]
    )
    assert not report.passed
    assert report.hint
    assert "✗ 5% above the target is inside the band" in report.text()


def test_check_passes_on_the_solution_and_on_the_library_rule() -> None:
    for rule in (desired_replicas, library_rule):
        report = check_desired_replicas(rule)
        assert report.passed
        assert len(report.lines) == 9  # eight worked cases and the noise test


def test_rounding_down_fails() -> None:
    def floor_rule(current, metric, target, tolerance=0.1):
        ratio = metric / target
        return current if abs(ratio - 1) <= tolerance else math.floor(current * ratio)

    report = check_desired_replicas(floor_rule)
    assert not report.passed and "✗ ceil(5 × 1.5)" in report.text()


def test_a_band_that_ignores_the_tolerance_argument_fails() -> None:
    def fixed_band(current, metric, target, tolerance=0.1):
        ratio = metric / target
        return current if abs(ratio - 1) <= 0.1 else math.ceil(current * ratio)

    report = check_desired_replicas(fixed_band)
    assert not report.passed and "✗ tolerance 0" in report.text()


def test_a_rule_without_a_tolerance_parameter_is_reported_not_raised() -> None:
    report = check_desired_replicas(lambda current, metric, target: current)
    assert not report.passed and "TypeError" in report.text()
