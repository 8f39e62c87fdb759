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
        assert len(report.lines) == 13  # twelve worked cases and the noise test


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


def _upper_band_only(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if 1 <= ratio <= 1 + tolerance else math.ceil(current * ratio)


def _no_band(current, metric, target, tolerance=0.1):
    return math.ceil(current * metric / target)


def _band_in_replicas(current, metric, target, tolerance=0.1):
    desired = math.ceil(current * metric / target)
    return current if abs(desired - current) <= tolerance * current else desired


def _rounded(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if abs(ratio - 1) <= tolerance else round(current * ratio)


def test_check_fails_every_plausible_wrong_rule() -> None:
    # a band above the target only; no band; a band measured in replicas; rounding to nearest
    for wrong in (_upper_band_only, _no_band, _band_in_replicas, _rounded):
        assert not check_desired_replicas(wrong).passed, wrong.__name__


def _ratio_upside_down(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if abs(target / metric - 1) <= tolerance else math.ceil(current * ratio)


def _band_of_the_metric(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if abs(metric - target) / metric <= tolerance else math.ceil(current * ratio)


def _lopsided_band(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if 1 / (1 + tolerance) <= ratio <= 1 + tolerance else math.ceil(current * ratio)


def _narrow_band(current, metric, target, tolerance=0.1):
    ratio = metric / target
    return current if abs(ratio - 1) <= 0.85 * tolerance else math.ceil(current * ratio)


def test_check_fails_a_band_whose_edge_is_not_the_targets() -> None:
    # right within 8% and beyond 15% of the target, wrong near the band's edge (9.5%, 10.5%)
    for wrong in (_ratio_upside_down, _band_of_the_metric, _lopsided_band, _narrow_band):
        report = check_desired_replicas(wrong)
        assert not report.passed, wrong.__name__
        assert "% below: still inside" in report.text() or "10.5% above" in report.text()


def test_check_passes_right_rules_written_differently() -> None:
    def with_bounds(current, metric, target, tolerance=0.1):
        ratio = metric / target
        if 1 - tolerance <= ratio <= 1 + tolerance:
            return current
        return -int(-current * ratio // 1)  # ceil without math

    def with_fraction(current, metric, target, tolerance=0.1):
        from fractions import Fraction

        if abs(metric - target) <= tolerance * target:
            return current
        return math.ceil(Fraction(current) * Fraction(metric) / Fraction(target))

    for right in (with_bounds, with_fraction):
        assert check_desired_replicas(right).passed, right.__name__
