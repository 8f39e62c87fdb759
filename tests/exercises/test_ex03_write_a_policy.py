"""Lesson 03's check fails on the starter as stored in the notebook and passes on the solution."""

import random

from notebook_cells import run_starter

from labs.exercises import ex03_write_a_policy as ex03
from labs.exercises.ex03_write_a_policy import (
    ARRIVAL_RATE,
    INSTANCES,
    SERVICE_RATE,
    check_policy,
)
from labs.solutions.ex03_write_a_policy import my_policy
from simulations import mm1_mean_response


def test_check_fails_on_the_stored_starter() -> None:
    report = check_policy(run_starter("03_load_balancing.ipynb")["my_policy"])
    assert not report.passed
    assert report.hint
    assert "✗ clearly better than random" in report.text()


def test_check_passes_on_the_solution() -> None:
    report = check_policy(my_policy)
    assert report.passed
    assert len(report.lines) == 7


def test_solution_joins_a_shortest_queue() -> None:
    rng = random.Random(1)
    assert my_policy([3, 0, 5, 2], rng) == 1
    assert {my_policy([2, 1, 1, 4], rng) for _ in range(40)} == {1, 2}


def test_power_of_two_choices_is_close_enough_to_pass() -> None:
    def power_of_two(queue_lengths, rng):
        first, second = rng.sample(range(len(queue_lengths)), 2)
        return first if queue_lengths[first] <= queue_lengths[second] else second

    assert check_policy(power_of_two).passed


def test_round_robin_beats_random_but_is_not_close_to_least_connections() -> None:
    turn = iter(range(10**9))
    report = check_policy(lambda queue_lengths, rng: next(turn) % len(queue_lengths))
    assert not report.passed
    assert "✓ clearly better than random" in report.text()
    assert "✗ close to least connections" in report.text()


def test_sending_everything_to_one_instance_fails_both_comparisons() -> None:
    report = check_policy(lambda queue_lengths, rng: 0)
    assert not report.passed
    failed = [line.message for line in report.lines if not line.ok]
    assert len(failed) == 2, failed
    assert failed[0].startswith("clearly better than random")
    assert failed[1].startswith("close to least connections")


def test_random_theory_is_a_reference_not_a_bound() -> None:
    # Worse than random's M/M/1 mean is possible (the busiest instance, one instance for all):
    # the floor line holds for them and labels random's theory as a reference value.
    for worse in (lambda q, rng: q.index(max(q)), lambda q, rng: 0):
        report = check_policy(worse)
        floor = report.lines[-1]
        assert floor.ok and floor.message.startswith("above the floor"), floor
        assert "For reference, not a bound: random routing averages 5.00 s" in floor.message
        assert "same 20,000 requests" in report.text()


def test_a_mean_under_one_shared_queue_fails_the_floor(monkeypatch) -> None:
    # No real policy gets there; the line must still be able to fail (the check's own logic).
    real_mean = ex03._mean
    monkeypatch.setattr(
        ex03, "_mean", lambda policy: 1.0 if callable(policy) else real_mean(policy)
    )
    report = check_policy(my_policy)
    assert not report.passed
    floor = report.lines[-1]
    assert not floor.ok and "above the floor: 1.00 s > 1.75 s" in floor.message
    assert "bug in the check" in report.hint


def test_one_run_of_random_strays_from_theory_by_several_percent() -> None:
    # What the floor line says: two random policies on the same requests differ, and each is
    # within several percent (here 10%) of random routing's long-run 5.00 s, not equal to it.
    theory = mm1_mean_response(ARRIVAL_RATE / INSTANCES, SERVICE_RATE)
    built_in = ex03._mean("random")
    starter = ex03._mean(lambda queue_lengths, rng: rng.randrange(len(queue_lengths)))
    assert built_in != starter
    for mean in (built_in, starter):
        assert abs(mean / theory - 1) <= 0.10, mean


def test_bad_answers_are_reported_not_raised() -> None:
    out_of_range = check_policy(lambda queue_lengths, rng: len(queue_lengths))
    assert not out_of_range.passed and "yours: 4" in out_of_range.text()
    wrong_type = check_policy(lambda queue_lengths, rng: "instance 0")
    assert not wrong_type.passed and "'instance 0'" in wrong_type.text()
    crashing = check_policy(lambda queue_lengths, rng: queue_lengths[10])
    assert not crashing.passed and "IndexError" in crashing.text()


def test_a_policy_that_fails_only_inside_the_simulation_is_reported() -> None:
    def fine_at_first(queue_lengths, rng):
        if sum(queue_lengths) > 30:  # never in the sample calls, soon in the simulation
            raise RuntimeError("surprise")
        return 0

    report = check_policy(fine_at_first)
    assert not report.passed
    assert "simulating your policy: raised RuntimeError" in report.text()


def test_a_numpy_index_is_an_instance_index() -> None:
    import numpy as np

    report = check_policy(lambda queue_lengths, rng: np.argmin(queue_lengths))
    assert report.passed, report.text()


def test_blind_and_backwards_policies_fail() -> None:
    def longest(queue_lengths, rng):  # the busiest instance: worse than random
        return queue_lengths.index(max(queue_lengths))

    def uniform(queue_lengths, rng):  # random itself is not "clearly better than random"
        return int(rng.random() * len(queue_lengths))

    for wrong in (longest, uniform):
        assert not check_policy(wrong).passed, wrong.__name__
