"""Lesson 04's check fails on the starter as stored in the notebook and passes on the solution."""

from notebook_cells import run_starter

from labs.exercises.ex04_sessions_lost import check_fraction_lost
from labs.solutions.ex04_sessions_lost import fraction_lost


def test_check_fails_on_the_stored_starter() -> None:
    report = check_fraction_lost(run_starter("04_crashes.ipynb")["fraction_lost"])
    assert not report.passed
    assert report.hint
    assert "✗ memory, 1 of 4 instances crashes" in report.text()


def test_check_passes_on_the_solution() -> None:
    report = check_fraction_lost(fraction_lost)
    assert report.passed
    assert len(report.lines) == 8  # six worked cases and two simulations


def test_forgetting_the_store_fails_the_shared_cases() -> None:
    report = check_fraction_lost(lambda store, instances, crashed: crashed / instances)
    assert not report.passed
    assert "✗ shared store, 1 of 4 crashes" in report.text()
    assert "✓ memory, 2 of 5 crash" in report.text()


def test_one_over_n_whatever_crashes_fails() -> None:
    report = check_fraction_lost(
        lambda store, instances, crashed: 0.0 if store == "shared" else 1 / instances
    )
    assert not report.passed and "✗ memory, 2 of 5 crash" in report.text()


def test_bad_answers_are_reported_not_raised() -> None:
    crashing = check_fraction_lost(lambda store, instances, crashed: crashed / 0)
    assert not crashing.passed and "ZeroDivisionError" in crashing.text()
    wrong_type = check_fraction_lost(lambda store, instances, crashed: "a quarter")
    assert not wrong_type.passed and "'a quarter'" in wrong_type.text()


def test_right_answers_written_differently_pass() -> None:
    from fractions import Fraction

    def as_fraction(store, instances, crashed):
        return Fraction(crashed, instances) if store == "memory" else Fraction(0)

    def by_counting_users(store, instances, crashed):  # 600 users spread evenly, then count
        if store == "shared" or not instances:
            return 0
        users_per_instance = 600 / instances
        return crashed * users_per_instance / 600

    for right in (as_fraction, by_counting_users):
        assert check_fraction_lost(right).passed, right.__name__


def test_plausible_wrong_answers_fail() -> None:
    wrong = [
        lambda store, n, k: k / n,  # forgets that a shared store keeps them
        lambda store, n, k: 1 / n if store == "memory" else 0.0,  # one instance, whatever k
        lambda store, n, k: k / (n - k) if store == "memory" and n > k else 0.0,  # over survivors
        lambda store, n, k: (k > 0) * 1.0 if store == "memory" else 0.0,  # all or nothing
    ]
    for answer in wrong:
        assert not check_fraction_lost(answer).passed
