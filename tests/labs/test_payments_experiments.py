"""What lesson 10 will print about payments is what real processes do: a retried slow answer
charges twice without keys and once with them; concurrent duplicates across instances, one of
them killed, are one charge; a payment killed between its charge and its confirmation is resumed
on another instance without charging again. The history checker judges every run."""

from __future__ import annotations

import pytest

from labs.payments_experiments import (
    balancer_resends,
    duplicates_under_a_kill,
    nginx_retry_lines,
    resume_after_a_kill,
    retried_payments,
)


def test_without_keys_a_retried_slow_answer_is_a_double_charge() -> None:
    run = retried_payments(keys=False)
    assert run.verdict.double_charged == run.verdict.intents == 2
    assert all(row[0] == "timeout" for row in run.statuses())


def test_with_keys_the_retry_is_a_replay_and_each_payment_one_charge() -> None:
    run = retried_payments(keys=True)
    assert run.verdict.ok and run.verdict.charges == 2
    assert all(row[-1] == "201 replay" for row in run.statuses())


def test_concurrent_duplicates_on_three_instances_with_a_kill_are_one_charge() -> None:
    run = duplicates_under_a_kill()
    assert run.verdict.ok and run.verdict.charges == 1 and run.verdict.acknowledged == 1
    answers = {label for row in run.statuses() for label in row}
    assert answers <= {"201", "201 replay", "409", "connection failed", "timeout", "502", "503"}


def test_a_payment_killed_after_its_charge_is_resumed_once_elsewhere() -> None:
    run = resume_after_a_kill()
    assert run.steps_before_kill == "charged"
    assert run.verdict.ok and run.verdict.charges == 1 and run.verdict.acknowledged == 1
    assert run.answers[-1] == "201" and set(run.answers[:-1]) <= {"409"}


@pytest.mark.parametrize(("retry", "resent", "charges"), [("idempotent", 0, 1), ("all", 1, 2)])
def test_a_balancer_that_resends_a_timed_out_post_charges_twice(
    retry: str, resent: int, charges: int
) -> None:
    run = balancer_resends(retry)
    assert (run.resent, run.charges) == (resent, charges)
    assert run.status in (502, 504)  # every instance it tried was too slow
    assert f"resent the POST {resent} time(s); charges made: {charges}" in run.summary()


def test_the_nginx_lines_shown_are_the_generated_ones() -> None:
    assert (
        nginx_retry_lines("idempotent")
        .splitlines()[0]
        .startswith("proxy_next_upstream error timeout;")
    )
    assert "error timeout non_idempotent;" in nginx_retry_lines("all")
    assert "proxy_read_timeout 400ms;" in nginx_retry_lines("all")
