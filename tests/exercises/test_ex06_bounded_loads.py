"""Lesson 06's check fails on the starter as stored in the notebook and passes on the solution."""

import math

from notebook_cells import run_starter

from labs.exercises.ex06_bounded_loads import check_choose_instance
from labs.solutions.ex06_bounded_loads import choose_instance
from simulations.engine.hashing import bounded_load_choice


def test_check_fails_on_the_stored_starter() -> None:
    starter = run_starter("06_sticky_sessions.ipynb")["choose_instance"]
    report = check_choose_instance(starter)
    assert not report.passed
    assert report.hint


def test_check_passes_on_the_solution() -> None:
    report = check_choose_instance(choose_instance)
    assert report.passed
    assert all(line.ok for line in report.lines)


def test_check_passes_on_the_library_version_too() -> None:
    report = check_choose_instance(lambda order, loads, eps: bounded_load_choice(order, loads, eps))
    assert report.passed


def test_check_catches_a_capacity_that_forgets_the_new_request() -> None:
    def forgets(order, connections, epsilon):
        capacity = math.ceil((1 + epsilon) * sum(connections) / len(connections))
        return next((i for i in order if connections[i] < capacity), None)

    report = check_choose_instance(forgets)
    assert not report.passed


def test_check_catches_least_loaded_instead_of_next_clockwise() -> None:
    report = check_choose_instance(lambda order, c, e: min(order, key=c.__getitem__))
    assert not report.passed


def test_check_catches_walking_in_index_order() -> None:
    def by_index(order, connections, epsilon):
        return choose_instance(sorted(order), connections, epsilon)

    report = check_choose_instance(by_index)
    assert not report.passed


def test_check_reports_instead_of_raising() -> None:
    def broken(order, connections, epsilon):
        raise KeyError("oops")

    report = check_choose_instance(broken)
    assert not report.passed
    assert "KeyError" in report.text()


def test_right_answers_written_differently_pass() -> None:
    def with_next_and_strict_less(ring_order, connections, epsilon):
        average = (sum(connections) + 1) / len(connections)
        capacity = math.ceil(round((1 + epsilon) * average, 9))
        return next(i for i in ring_order if connections[i] < capacity)

    assert check_choose_instance(with_next_and_strict_less).passed
