"""The history checker finds each violation it names, and passes a valid history."""

from __future__ import annotations

from labs.history import Attempt, History, check


def acknowledged(payment_id: str, amount: int) -> Attempt:
    body = {"payment_id": payment_id, "amount_cents": amount, "currency": "EUR"}
    return Attempt(201, body)


def charge(payment_id: str, amount: int) -> dict:
    return {"payment_id": payment_id, "amount_cents": amount, "currency": "EUR"}


def test_a_valid_history_passes_even_with_unacknowledged_intents() -> None:
    history = History()
    paid, unseen, never = history.new_intent("a"), history.new_intent("b"), history.new_intent("c")
    history.record(paid, Attempt(None, error="timeout"))
    history.record(paid, acknowledged("p1", paid.amount_cents))
    history.record(unseen, Attempt(None, error="timeout"))  # went through, never seen
    history.record(never, Attempt(None, error="refused"))  # never went through
    verdict = check(history, [charge("p1", paid.amount_cents), charge("p2", unseen.amount_cents)])
    assert verdict.ok and (verdict.intents, verdict.attempts, verdict.acknowledged) == (3, 4, 1)
    assert "history valid" in verdict.text()
    assert verdict.text().startswith("3 intended payments, 4 attempts, 1 acknowledged")
    # without the count that depends on how threads were scheduled (lesson 10's stored cells)
    assert verdict.text(attempts=False).startswith("3 intended payments, 1 acknowledged;")


def test_a_double_charge_is_found_and_named() -> None:
    history = History()
    intent = history.new_intent()
    history.record(intent, Attempt(None, error="timeout"))
    history.record(intent, acknowledged("p2", intent.amount_cents))
    verdict = check(history, [charge("p1", intent.amount_cents), charge("p2", intent.amount_cents)])
    assert not verdict.ok and verdict.double_charged == 1
    assert "charged 2 times after 2 attempts" in verdict.text()


def test_an_acknowledged_payment_missing_from_the_charges_is_found() -> None:
    history = History()
    intent = history.new_intent()
    history.record(intent, acknowledged("p9", intent.amount_cents))
    verdict = check(history, [])
    assert verdict.lost == 1 and "p9" in verdict.text()


def test_replays_that_differ_are_found() -> None:
    history = History()
    intent = history.new_intent()
    history.record(intent, acknowledged("p1", intent.amount_cents))
    history.record(intent, acknowledged("p2", intent.amount_cents))
    verdict = check(history, [charge("p1", intent.amount_cents)])
    assert verdict.changed_replays == 1 and not verdict.ok


def test_charges_of_no_intent_are_counted_as_strangers() -> None:
    history = History()
    intent = history.new_intent()
    verdict = check(history, [charge("px", intent.amount_cents + 500)])
    assert verdict.strangers == 1 and verdict.ok  # not ours to judge, but counted
