"""A history checker for payments, in the style of Jepsen and Maelstrom: record, then check.

The client side of an experiment records every operation it attempts: each *intent* (a payment
the user means to make exactly once), the ``Idempotency-Key`` it used, and every attempt (the
status it got, or the error: a timeout, a refused connection). Afterwards the checker reads what
the service says it did (``GET /payments``, every charge) and checks the invariants against the
history, without trusting either side alone:

* **at most one charge per intent** (no double charge). Every intent carries an amount of its own
  (:func:`History.new_intent` hands them out), so a charge names its intent even when the client
  never saw its answer;
* **every acknowledged payment is there**: an intent that got a 201 has a charge with the
  ``payment_id`` it was told;
* **replays are identical**: every 201 an intent got carries the same body.

An intent that was never acknowledged may have no charge (the client gave up) or one (it went
through, unseen): both are allowed; more than one is not. :meth:`Verdict.text` prints what was
found, and each violation names the intent and what broke.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FIRST_AMOUNT = 1_000  # intent i is a payment of FIRST_AMOUNT + i cents: its signature


@dataclass
class Attempt:
    """One HTTP attempt of an intent: the status and body it got, or why it got none."""

    status: int | None  # None: no answer (timeout, refused, connection broken)
    body: Any = None
    error: str = ""
    replayed: bool = False  # the answer carried Idempotent-Replayed: true
    instance: str = ""

    @property
    def label(self) -> str:
        """What the attempt got, in a word or two: ``"timeout"``, ``"409"``, ``"201 replay"``."""
        label = self.error if self.status is None else str(self.status)
        return label + (" replay" if self.replayed else "")


@dataclass
class Intent:
    """A payment the user means to make exactly once, and every attempt made for it."""

    number: int
    amount_cents: int
    currency: str
    key: str  # its Idempotency-Key ("" if the client sends none)
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Attempt]:
        return [attempt for attempt in self.attempts if attempt.status == 201]


class History:
    """The operations of one experiment, recorded from any number of client threads."""

    def __init__(self) -> None:
        self.intents: list[Intent] = []
        self._lock = threading.Lock()

    def new_intent(self, key: str = "", currency: str = "EUR") -> Intent:
        with self._lock:
            intent = Intent(len(self.intents), FIRST_AMOUNT + len(self.intents), currency, key)
            self.intents.append(intent)
        return intent

    def record(self, intent: Intent, attempt: Attempt) -> None:
        with self._lock:
            intent.attempts.append(attempt)


@dataclass(frozen=True)
class Verdict:
    """What the checker found: counts, and one line per violation."""

    intents: int
    attempts: int
    acknowledged: int
    charges: int
    double_charged: int  # intents charged more than once
    lost: int  # acknowledged intents whose payment is not among the charges
    changed_replays: int  # intents whose 201 answers differ
    strangers: int  # charges that match no intent of this history
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def text(self, limit: int = 5, attempts: bool = True) -> str:
        """The counts and the violations. ``attempts=False`` leaves out how many attempts the
        clients made: where several clients retry against each other, that count depends on
        how the threads were scheduled, and a lesson's stored output must not."""
        tried = f"{self.attempts} attempts, " if attempts else ""
        lines = [
            f"{self.intents} intended payments, {tried}"
            f"{self.acknowledged} acknowledged; {self.charges} charges made",
            f"charged more than once: {self.double_charged}; acknowledged but missing: "
            f"{self.lost}; replays that differ: {self.changed_replays}",
        ]
        if self.ok:
            lines.append("history valid: at most one charge per intent, nothing acknowledged lost")
        else:
            lines += [f"  ✗ {line}" for line in self.violations[:limit]]
            if len(self.violations) > limit:
                lines.append(f"  … and {len(self.violations) - limit} more")
        return "\n".join(lines)


def check(history: History, charges: Iterable[Mapping[str, Any]]) -> Verdict:
    """Check ``history`` against ``charges`` (what ``GET /payments`` lists)."""
    charges = list(charges)
    by_amount: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for charge in charges:
        by_amount[charge.get("amount_cents")].append(charge)
    known = {intent.amount_cents for intent in history.intents}
    violations: list[str] = []
    double = lost = changed = 0
    for intent in history.intents:
        made = by_amount.get(intent.amount_cents, [])
        if len(made) > 1:
            double += 1
            violations.append(
                f"intent {intent.number} ({intent.amount_cents} cents) charged {len(made)} times "
                f"after {len(intent.attempts)} attempts"
            )
        acknowledged = intent.acknowledged
        bodies = Counter(json.dumps(a.body, sort_keys=True) for a in acknowledged)
        if len(bodies) > 1:
            changed += 1
            violations.append(f"intent {intent.number} got {len(bodies)} different 201 answers")
        ids = {charge.get("payment_id") for charge in made}
        told = {a.body.get("payment_id") for a in acknowledged if isinstance(a.body, dict)}
        if told - ids:
            lost += 1
            violations.append(
                f"intent {intent.number} was acknowledged as {sorted(told - ids)[0]}, "
                "which is not among the charges"
            )
    strangers = sum(len(made) for amount, made in by_amount.items() if amount not in known)
    return Verdict(
        intents=len(history.intents),
        attempts=sum(len(intent.attempts) for intent in history.intents),
        acknowledged=sum(bool(intent.acknowledged) for intent in history.intents),
        charges=len(charges),
        double_charged=double,
        lost=lost,
        changed_replays=changed,
        strangers=strangers,
        violations=tuple(violations),
    )
