"""Lesson 10 exercise: make a retried payment charge once.

The learner writes a module in the notebook (``%%writefile my_idempotency.py``) with the function
the payments app calls once at start (``labs/apps/payments_app.py``, ``IDEMPOTENCY_LAYER``)::

    def idempotent(pay):          # pay(user, body) -> (status, answer): charges at every call
        ...
        return handle             # handle(store, user, key, body) -> (status, answer, replayed)

The starter calls ``pay`` for every request, so every retry charges again. The check first runs
the module as separate instances would (each role loads a private copy of it, one fakeredis
shared between them, a fake ``pay`` that counts the charges), so every property below is tested
deterministically:

* the first request pays once; the same request again, on another instance, gets the first
  answer unchanged, replayed, and pays nothing (also when the layer would return the first
  answer but call ``pay`` again);
* the same key with another body is a 422, and pays nothing; the key is scoped to the user (bob
  sending alice's key gets his own payment);
* two duplicates at once pay once: the check makes instance B's request land right after A's
  first store call, then after its second, and so on until A's request is done
  (``labs.interleaving.AfterCommand``), so a claim that reads, then writes, pays twice every
  time, wherever its gap is; a duplicate while the first request is still paying gets a 409;
* a request whose instance died mid-payment holds its key only for a lease: a retry gets 409
  until it lapses, then pays (once), also when the instance died right after its first write
  (a claim and its expiry sent as two commands leave a key that never lapses); a finished
  payment's answer is still replayed after that;
* every record expires, a finished one after an hour to a week (Stripe keeps keys 24 hours).

Then, if all of that holds, it runs a real cluster: 3 gunicorn instances with the learner's layer,
one payment whose first attempt goes to A, 6 concurrent duplicate clients on B and C, and A killed
while it is paying, before the charge. The history checker (``labs.history``) must find exactly one
charge, the payment acknowledged, and every 201 identical.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import fakeredis

from labs.checking import CheckReport, is_number
from labs.cluster import ClusterError, ProcessCluster
from labs.cluster.clients import attempt_payment, logged_in, pay_until_acknowledged, poll
from labs.history import History, check
from labs.interleaving import AfterCommand, AfterWrite, each_gap
from labs.learner_code import compile_file, error_line, fresh_copy, import_root, open_for_check
from labs.redis_store import connect

STARTER = '''\
# EXERCISE STARTER: every request runs the payment, so every retry charges again.
import json

TTL_SECONDS = 24 * 3600  # how long a key's answer is kept (Stripe: at least 24 hours)
LEASE_SECONDS = 2  # how long a running request holds its key: longer than a payment takes


def idempotent(pay):
    """Wrap pay(user, body) -> (status, answer), which charges every time it is called.

    Return handle(store, user, key, body) -> (status, answer, replayed), called by every
    instance for each POST /payments (store: the Redis client all instances share,
    decode_responses=True; key: the request's Idempotency-Key; body: {"amount_cents", "currency"}):
    - the first request with a key runs pay() and returns its (status, answer, False);
    - the same user, key and body again: the first answer, unchanged, with replayed=True;
    - the same key with another body: (422, {"error": ...}, False);
    - the same key while its first request is still running: (409, {"error": ...}, False),
      unless that request died: after LEASE_SECONDS a retry may run pay().
    """

    def handle(store, user, key, body):
        status, answer = pay(user, body)  # <- runs on every retry: a second charge!
        return status, answer, False

    return handle
'''

TITLE = "Exercise 10 · Make a retried payment charge once"
BODY = {"amount_cents": 1250, "currency": "EUR"}
OTHER_BODY = {"amount_cents": 9900, "currency": "EUR"}
OTHER_CURRENCY = {"amount_cents": 1250, "currency": "USD"}  # the same amount: only this differs
ROLES = ("A", "B", "C")
GIVE_UP_SECONDS = 5.0  # a call of the learner's code still running then: reported, not awaited
DEFAULT_LEASE_SECONDS = 2
MAX_LEASE_SECONDS = 10
PAYMENT_SECONDS = 0.8  # a duplicate this long into a payment must still get 409
RETRY_EVERY = 0.2  # seconds between the retries of a payment whose first instance died
MIN_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 7 * 24 * 3600
COURSE_MODULES = ("labs.solutions.ex10_idempotency",)  # an answer, not yours
# The cluster phase: A's first step, then STEP_DELAY before the charge; A is killed in it.
STEP_DELAY = "0.3"
KILL_AFTER = 0.1  # seconds after A starts paying
DUPLICATES = 6
CLIENT_TIMEOUT, CLIENT_PAUSE, CLIENT_ATTEMPTS = 3.0, 0.3, 25
WAIT_SECONDS = 20.0

HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "module": (
        "The payments app's instances are separate processes, and each imports your layer from "
        "a module file: an object defined in the notebook lives only in the notebook's process.",
        "put %%writefile my_idempotency.py on the first line of the cell, run it, then "
        "check_idempotency('my_idempotency')",
    ),
    "function": (
        "The app calls idempotent(pay) once when it starts, and the function that returns, "
        "handle(store, user, key, body), for every payment.",
        None,
    ),
    "own": (
        "The exercise is to write the layer yourself: importing the course's module passes "
        "nothing but the import.",
        None,
    ),
    "returns": (
        "handle() answers every request with three things: the HTTP status, the answer (a "
        "dict, the JSON body) and whether it is a replay.",
        "return status, answer, False",
    ),
    "first": (
        "The first request with a key is a new payment: run pay(user, body) once and answer "
        "with its status and answer, not replayed.",
        "status, answer = pay(user, body); return status, answer, False",
    ),
    "replay": (
        "A retry carries the same Idempotency-Key: the client lost the first answer, not the "
        "payment. Whichever instance the retry reaches must find what the first request did in "
        "Redis (the store they all share) and answer with it, without running pay() again.",
        "after pay(): store.set(f'idem:{user}:{key}', json.dumps({'state': 'done', 'body': "
        "body, 'status': status, 'answer': answer}), ex=TTL_SECONDS); before it: a stored "
        "answer → return its status, its answer, True",
    ),
    "body": (
        "A key reused with another body is a client's bug, not a retry: replaying the first "
        "payment would hide it, and paying would charge again. Refuse it with 422.",
        "keep the body in the record; if stored['body'] != body: return 422, {'error': "
        "'key reused with another body'}, False",
    ),
    "race": (
        "Two duplicates that arrive together both find no record before either writes one, and "
        "both pay. Reading, then writing, is two steps with a gap between them: claiming the "
        "key must be one command that exactly one request can win.",
        "claimed = store.set(record, json.dumps({'state': 'running', 'body': body}), nx=True, "
        "ex=LEASE_SECONDS): True for one request only; the others read the record",
    ),
    "scope": (
        "A client chooses its Idempotency-Key, so two users may send the same one: scope the "
        "record to the user, or bob is answered with alice's payment instead of making his own.",
        "name the record after the user and the key: f'idem:{user}:{key}'",
    ),
    "running": (
        "While the first request is still paying, a duplicate must neither pay too nor hold a "
        "worker waiting: answer 409 (Conflict), and the client tries again a moment later.",
        "a record whose state is 'running' (with this body): return 409, {'error': 'in "
        "progress, retry'}, False",
    ),
    "lease": (
        "An instance killed in the middle of a payment never finishes its record: if its claim "
        "on the key lasts forever, every retry gets 409 forever and the payment never happens. "
        "The claim must lapse by itself, LEASE_SECONDS after it was taken: a lease.",
        "claim with the lease as expiry: store.set(record, running, nx=True, ex=LEASE_SECONDS); "
        "once done, write the answer with ex=TTL_SECONDS",
    ),
    "lease_short": (
        "A payment takes a while (here up to a second): a lease that lapses before the payment "
        "is done lets a duplicate take the key over and pay a second time. Make LEASE_SECONDS "
        "longer than a payment takes.",
        "LEASE_SECONDS = 2, and claim with ex=LEASE_SECONDS (or px=LEASE_SECONDS * 1000)",
    ),
    "lease_long": (
        "A retry after a crash waits until the dead request's lease lapses: keep LEASE_SECONDS "
        "a little longer than a payment takes (seconds), not minutes.",
        None,
    ),
    "kept": (
        "A client may retry long after the first answer (a phone back online an hour later): "
        "the finished payment's record must still be there, or that retry charges again. Keep "
        "it TTL_SECONDS, much longer than the lease.",
        "write the done record with its own expiry, store.set(record, json.dumps(done), "
        "ex=TTL_SECONDS): a new SET replaces the lease's",
    ),
    "expire": (
        "A record that never expires stays in Redis forever, one per payment ever made; one "
        "forgotten too soon lets a late retry charge again. Keep a finished payment's record "
        "between an hour and a week (Stripe: 24 hours), and a lease only seconds.",
        "store.set(record, json.dumps(done), ex=TTL_SECONDS), and every claim with "
        "ex=LEASE_SECONDS",
    ),
    "cluster": (
        "Your layer passes when the check calls it, but not in the real instances, with real "
        "clients retrying and an instance killed: read the verdict and the output below.",
        None,
    ),
}


class _Broken(Exception):
    """The learner's code raised, hung or answered something that is not an answer."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class _Killed(Exception):
    """What the payment of an instance killed in the middle of it does: it never charges."""


class Outcome(NamedTuple):
    status: Any
    answer: Any
    replayed: bool


class _Bank:
    """The check's ``pay``: it charges at every call (counted per user), like the app's; the
    next call can be held (a payment still running) or killed (it never charges)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.charges: Counter[str] = Counter()
        self.calls = 0
        self.entered = threading.Event()
        self._numbers = itertools.count(1)
        self._gate: tuple[threading.Event, bool] | None = None
        self._releases: list[threading.Event] = []

    def hold_next(self, charges: bool) -> threading.Event:
        """The next call waits for the event returned; then it charges, or (if not
        ``charges``) dies without charging, as a killed instance does."""
        release = threading.Event()
        with self.lock:
            self._gate = (release, charges)
            self._releases.append(release)
        self.entered.clear()
        return release

    def new_release(self) -> threading.Event:
        """An event that :meth:`release_all` sets (a call held outside ``pay``)."""
        release = threading.Event()
        with self.lock:
            self._releases.append(release)
        return release

    def release_all(self) -> None:
        for release in self._releases:
            release.set()

    def pay(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls += 1
            gate, self._gate = self._gate, None
        if gate is not None:
            release, charges = gate
            self.entered.set()
            release.wait()
            if not charges:
                raise _Killed("this instance was killed in the middle of the payment")
        with self.lock:
            self.charges[user] += 1
            number = next(self._numbers)
        return 201, {"payment_id": f"pay_{number}", **body, "status": "confirmed"}


class _Call:
    """One call of the learner's code in a thread of its own, so that it can be abandoned."""

    def __init__(self, label: str, path: str, function: Callable[..., Any], *args: Any) -> None:
        self.label, self.path = label, path
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self.thread.start()

    def _run(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            self.outcome["value"] = function(*args)
        except Exception as exc:
            self.outcome["error"] = exc

    def result(self, doing: str, hint: str) -> Any:
        seconds = GIVE_UP_SECONDS
        self.thread.join(seconds)
        if self.thread.is_alive():
            raise _Broken(f"{doing}: {self.label} had not returned after {seconds:g} s", hint)
        if "error" in self.outcome:
            exc = self.outcome["error"]
            raise _Broken(
                f"{doing}: {self.label} raised {type(exc).__name__}: {exc} "
                f"(line {_learner_line(exc, self.path)})",
                hint,
            )
        return self.outcome.get("value")


def _learner_line(exc: BaseException, path: str) -> int | None:
    """The last line of the learner's file in ``exc``'s traceback (not the check's pay)."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == path]
    return frames[-1].lineno if frames else error_line(exc)


class _Roles:
    """The learner's module loaded once per instance (what separate processes would each
    have), each wrapping the check's ``pay``, all given clients of one fakeredis."""

    def __init__(self, name: str, path: str) -> None:
        code = compile_file(path)
        self.path = path
        self.server = fakeredis.FakeServer()
        self.bank = _Bank()
        self.copies = {role: fresh_copy(name, path, code) for role in ROLES}
        self.handles: dict[str, Callable[..., Any]] = {}

    def store(self) -> Any:
        return fakeredis.FakeRedis(server=self.server, decode_responses=True)

    def wrap(self) -> None:
        """Each instance calls ``idempotent(pay)`` once, as the app does when it starts."""
        for role, copy in self.copies.items():
            call = _Call("idempotent(pay)", self.path, copy.idempotent, self.bank.pay)
            handle = call.result("the app starting", "function")
            if not callable(handle):
                raise _Broken(
                    f"idempotent(pay) returned {_shown(handle)}, not the function handle",
                    "function",
                )
            self.handles[role] = handle

    def start(self, role: str, user: str, key: str, body: dict[str, Any], store: Any = None):
        return _Call(
            "handle()", self.path, self.handles[role], store or self.store(), user, key, dict(body)
        )

    def handle(
        self,
        role: str,
        user: str,
        key: str,
        body: dict[str, Any],
        doing: str,
        hint: str,
        store: Any = None,
    ) -> Outcome:
        return _outcome(self.start(role, user, key, body, store).result(doing, hint), doing)


def _outcome(value: Any, doing: str) -> Outcome:
    if not (isinstance(value, tuple | list) and len(value) == 3):
        raise _Broken(
            f"{doing}: handle() returned {_shown(value)}, not (status, answer, replayed)",
            "returns",
        )
    status = value[0]
    if isinstance(status, str) and status.isdigit():
        status = int(status)  # the app sends int(status): "201" from a stored record is 201
    return Outcome(status, value[1], bool(value[2]))


def _shown(value: Any, limit: int = 90) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _said(outcome: Outcome) -> str:
    return f"{outcome.status}{' (replayed)' if outcome.replayed else ''}"


def _charges(count: int) -> str:
    return f"{count} charge{'' if count == 1 else 's'}"


def _check_in_process(report: CheckReport, roles: _Roles, lease: Any) -> bool:
    """The deterministic properties, with the module as three instances would have it."""
    bank = roles.bank
    key = "check-key-1"
    first = roles.handle("A", "alice", key, BODY, "the first request", "first")
    ok = report.expect(
        first.status == 201 and not first.replayed and bank.charges["alice"] == 1,
        f"the first request with a key, on instance A: {_said(first)}, "
        f"{_charges(bank.charges['alice'])}",
        *HINTS["first"],
    )
    if not ok:
        return False
    first_seen = time.monotonic()
    again = roles.handle("B", "alice", key, BODY, "the same request again, on B", "replay")
    charged = bank.charges["alice"]
    same = again.status == first.status and again.answer == first.answer
    if same and again.replayed and charged > 1:
        detail = f"replayed the first answer, but pay() ran again: {_charges(charged)}"
    else:
        answer = "the first answer" if same else f"another answer {_shown(again.answer, 50)}"
        if isinstance(again.answer, dict) and again.answer.get("payment_id") not in (
            None,
            first.answer.get("payment_id") if isinstance(first.answer, dict) else None,
        ):
            answer = f"a new payment ({_shown(again.answer['payment_id'], 30)})"
        detail = f"{_said(again)}, {answer}, {_charges(charged)} in all"

    replays = report.expect(
        same and again.replayed and charged == 1,
        f"the same request again, on instance B (a retry): {detail}",
        *HINTS["replay"],
    )
    other = roles.handle("C", "alice", key, OTHER_BODY, "the same key with another body", "body")
    added = bank.charges["alice"] - charged
    body_ok = report.expect(
        other.status == 422 and added == 0,
        f"the same key with another body, on C: {_said(other)}, "
        + ("no charge" if not added else f"{_charges(added)} more (want 422, no charge)"),
        *HINTS["body"],
    )
    if body_ok:  # the whole body, not the amount alone
        charged = bank.charges["alice"]
        priced = roles.handle(
            "C", "alice", key, OTHER_CURRENCY, "the same key, the same amount in USD", "body"
        )
        added = bank.charges["alice"] - charged
        report.expect(
            priced.status == 422 and added == 0,
            f"the same key, the same amount in another currency (USD), on C: {_said(priced)}"
            + ("" if priced.status == 422 else ": a EUR payment is not a USD one"),
            *HINTS["body"],
        )
    charged = bank.charges["alice"]
    bobs = roles.handle("B", "bob", key, BODY, "bob sending alice's key", "scope")
    report.expect(
        bobs.status == 201
        and not bobs.replayed
        and bank.charges["bob"] == 1
        and bank.charges["alice"] == charged
        and bobs.answer != first.answer,
        f"bob sends the key alice used, same body: {_said(bobs)}, bob has "
        f"{_charges(bank.charges['bob'])}"
        + (", alice's answer" if bobs.answer == first.answer else ""),
        *HINTS["scope"],
    )
    if not replays:
        report.expect(
            False,
            "concurrent duplicates, a request still running, an instance that died, expiry: "
            "not checked until a retry is answered from the stored record",
        )
        return False
    _check_race(report, roles)
    _check_running(report, roles)
    if _check_died(report, roles, lease):
        charged = bank.charges["alice"]
        later = roles.handle("C", "alice", key, BODY, "the first request, retried later", "kept")
        seconds = time.monotonic() - first_seen
        report.expect(
            later.replayed and later.answer == first.answer and bank.charges["alice"] == charged,
            f"the first request retried once more, {seconds:.0f} s later: {_said(later)}"
            + (
                ", a new charge: its record was gone"
                if bank.charges["alice"] > charged
                else ("" if later.answer == first.answer else f", {_shown(later.answer, 60)}")
            ),
            *HINTS["kept"],
        )
    _check_expiry(report, roles, lease)
    return report.passed


def _check_race(report: CheckReport, roles: _Roles) -> None:
    """B's whole request lands right after A's first store call; then, with a new key, after
    its second, and so on until A's request is over first: a claim that reads, then writes,
    lets both pay, wherever the gap is."""
    bank = roles.bank
    runs: dict[int, tuple[Outcome, Outcome, int, str]] = {}

    def race(n: int) -> tuple[bool, bool]:
        key = f"check-key-race-{n}"
        before = bank.charges["alice"]
        seen: dict[str, Any] = {}

        def b_lands() -> None:
            try:
                seen["B"] = roles.handle(
                    "B", "alice", key, BODY, "a duplicate on B, during A's request", "race"
                )
            except _Broken as why:
                seen["error"] = why

        watched = AfterCommand(roles.store(), nth=n)
        watched.arm(b_lands)
        a = roles.handle(
            "A", "alice", key, BODY, "two duplicates at once, A", "race", store=watched
        )
        inside = watched.fired  # B landed in A's request (else A was over first)
        after = watched.last_call if inside else ""
        watched.fire()  # B comes after A
        if "error" in seen:
            raise seen["error"]
        b = seen["B"]
        made = bank.charges["alice"] - before
        fresh = [o for o in (a, b) if o.status == 201 and not o.replayed]
        others = [o for o in (a, b) if o not in fresh]
        fine = len(fresh) == 1 and (
            others[0].status == 409 or (others[0].replayed and others[0].answer == fresh[0].answer)
        )
        runs[n] = (a, b, made, after)
        return made == 1 and fine, inside

    n, held = each_gap(race)
    a, b, made, after = runs[n]
    if held:
        calls = n - 1 if not after else n
        message = (
            f"two duplicates at once, B's request right after each of A's {calls} store "
            f"call{'' if calls == 1 else 's'} in turn: {_charges(1)} every time"
        )
    else:
        where = f"right after A's store call {n} ({after})" if after else "after A's request"
        message = (
            f"two duplicates at once, B's request {where}: "
            f"A {_said(a)}, B {_said(b)}, {_charges(made)}"
        )
    report.expect(held, message, *HINTS["race"])


def _check_running(report: CheckReport, roles: _Roles) -> None:
    """A's payment is held in the middle while B sends the same request at once, and C
    ``PAYMENT_SECONDS`` later: 409 both times, no second pay."""
    key, bank = "check-key-running", roles.bank
    release = bank.hold_next(charges=True)
    a_call = roles.start("A", "alice", key, BODY)
    doing = "a duplicate while A is paying"
    if not bank.entered.wait(GIVE_UP_SECONDS):
        release.set()
        a = _outcome(a_call.result(doing, "first"), doing)
        report.expect(False, f"a new key on A: {_said(a)} without calling pay()", *HINTS["first"])
        return
    entered = time.monotonic()
    calls = bank.calls
    b = roles.handle("B", "alice", key, BODY, doing, "running")
    again = bank.calls - calls
    late: Outcome | None = None
    if b.status == 409 and not again:
        time.sleep(max(0.0, entered + PAYMENT_SECONDS - time.monotonic()))
        late = roles.handle("C", "alice", key, BODY, doing, "lease_short")
        late_again = bank.calls - calls
    release.set()
    a = _outcome(a_call.result(doing, "running"), doing)
    report.expect(
        b.status == 409 and again == 0 and a.status == 201 and not a.replayed,
        f"a duplicate on B while A's payment is still running: B {_said(b)}"
        + (", pay() ran again" if again else "")
        + f"; then A {_said(a)}",
        *HINTS["running"],
    )
    if late is not None:
        report.expect(
            late.status == 409 and late_again == 0,
            f"another duplicate, on C, {PAYMENT_SECONDS:g} s into A's payment: {_said(late)}"
            + (
                ", pay() ran again: the lease lapsed before the payment was done"
                if late_again
                else ""
            ),
            *HINTS["lease_short"],
        )


def _check_died(report: CheckReport, roles: _Roles, lease: Any) -> bool:
    """A dies in the middle of its payment; then, with another key, right after its first
    write to the store: B's retries get 409 until A's lease lapses, then the key is paid once."""
    if not is_number(lease) or not 0 < lease < float("inf"):
        lease = DEFAULT_LEASE_SECONDS
    return _died(report, roles, lease, paying=True) and _died(report, roles, lease, paying=False)


def _died(report: CheckReport, roles: _Roles, lease: float, paying: bool) -> bool:
    """A dies (its thread is abandoned, and never charges) in its payment if ``paying``, else
    right after its first write to the store."""
    key, bank = f"check-key-died-{'paying' if paying else 'claimed'}", roles.bank
    if lease > MAX_LEASE_SECONDS:
        return report.expect(
            False,
            f"LEASE_SECONDS = {lease:g}: a lease longer than {MAX_LEASE_SECONDS} s makes a "
            "retry after a crash wait too long",
            *HINTS["lease_long"],
        )
    before = bank.charges["alice"]
    if paying:
        bank.hold_next(charges=False)
        roles.start("A", "alice", key, BODY)  # abandoned: A was killed (kill -9)
        dead, doing = bank.entered, "a retry on B after A died mid-payment"
    else:
        dead, release = threading.Event(), bank.new_release()

        def die() -> None:
            dead.set()
            release.wait()  # (the check's end)
            raise _Killed("this instance was killed right after its first write")

        dying = AfterWrite(roles.store())
        dying.arm(die)
        roles.start("A", "alice", key, BODY, dying)  # abandoned: killed after its first write
        doing = "a retry on B after A died right after its first write to the store"
    if not dead.wait(GIVE_UP_SECONDS):
        never = "called pay()" if paying else "wrote to the store"
        return report.expect(False, f"{doing}: A's request never {never}", *HINTS["first"])
    start = time.monotonic()
    store = roles.store()
    leases = [store.pttl(name) / 1000 for name in store.keys("*")]  # what A's claim set
    held = max([t for t in leases if 0 < t <= MAX_LEASE_SECONDS] or [0.0])
    deadline = start + max(lease, held) + 2
    refused = 0
    while True:
        b = roles.handle("B", "alice", key, BODY, doing, "lease")
        if b.status != 409 or time.monotonic() > deadline:
            break
        refused += 1
        time.sleep(RETRY_EVERY)
    waited = time.monotonic() - start
    made = bank.charges["alice"] - before
    if b.status == 409:
        detail = f"still 409 after {waited:.1f} s: the dead request holds the key forever"
    else:
        detail = f"{refused} × 409 for {waited:.1f} s, then {_said(b)}, {_charges(made)}"
    when = "in the middle of its payment" if paying else "right after its first write"
    return report.expect(
        b.status == 201 and (paying is False or not b.replayed) and made == 1,
        f"A dies {when}; B retries every {RETRY_EVERY:g} s: {detail}",
        *HINTS["lease"],
    )


def _check_expiry(report: CheckReport, roles: _Roles, lease: Any) -> None:
    store = roles.store()
    ttls = {key: store.ttl(key) for key in store.keys("*")}
    lease_ttl = (lease if is_number(lease) and 0 < lease <= MAX_LEASE_SECONDS else 10) + 1
    forever = [key for key, ttl in ttls.items() if ttl == -1]
    too_long = [key for key, ttl in ttls.items() if ttl > MAX_TTL_SECONDS]
    too_short = [key for key, ttl in ttls.items() if lease_ttl < ttl < MIN_TTL_SECONDS]
    detail = ""
    if not ttls:
        detail = " (nothing is stored in Redis)"
    elif forever:
        detail = f" ({forever[0]} never expires)"
    elif too_long:
        detail = f" ({too_long[0]} lives {ttls[too_long[0]] // 86400} days)"
    elif too_short:
        detail = f" ({too_short[0]} is forgotten after {ttls[too_short[0]]} s)"
    report.expect(
        not detail,
        f"every record expires, a finished payment's after an hour to a week{detail}",
        *HINTS["expire"],
    )


def _check_cluster(report: CheckReport, name: str, path: str) -> None:
    """Your layer in 3 real instances: one payment, its first attempt on A, 6 duplicates on B
    and C, A killed while it pays, before the charge. The history checker counts."""
    root = import_root(name, path)
    env = {
        "IDEMPOTENCY_LAYER": name,
        "STEP_DELAY": STEP_DELAY,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    story = (
        f"3 instances with your layer; 1 payment, first sent to A, {DUPLICATES} duplicate "
        "clients on B and C, A killed before its charge: "
    )
    try:
        with ProcessCluster("payments", instances=3, balancer="python", env=env) as cluster:
            _play(report, cluster, story)
    except ClusterError as exc:
        report.expect(False, f"{story}the cluster did not start: {exc}", *HINTS["cluster"])


def _play(report: CheckReport, cluster: ProcessCluster, story: str) -> None:
    a, b, c = cluster.instance_urls
    sessions = [logged_in(cluster.url, "alice", ClusterError) for _ in range(DUPLICATES + 1)]
    history = History()
    intent = history.new_intent(key=str(uuid.uuid4()))

    def first_attempt() -> None:
        history.record(intent, attempt_payment(sessions[0], a, intent, WAIT_SECONDS))

    first = threading.Thread(target=first_attempt, daemon=True)
    first.start()
    paying = f"{cluster.key_prefix}paying:alice"
    with contextlib.closing(connect(cluster.redis_url)) as store:
        started = poll(lambda: store.get(paying) == cluster.instance_ids[0], WAIT_SECONDS / 2)
    seen_at = time.monotonic()
    if not started:
        first.join(WAIT_SECONDS)
        got = [attempt.status or attempt.error for attempt in intent.attempts]
        report.expect(
            False,
            f"{story}A never started the payment (its answer: {got[0] if got else 'none'}). "
            f"A's last output:\n{cluster.log_tail(0, 6)}",
            *HINTS["cluster"],
        )
        return
    clients = [
        threading.Thread(
            target=pay_until_acknowledged,
            args=(history, sessions[n], [b, c] if n % 2 else [c, b], intent, CLIENT_TIMEOUT),
            kwargs={"pause": CLIENT_PAUSE, "attempts": CLIENT_ATTEMPTS, "growth": 1.0},
            daemon=True,
        )
        for n in range(1, DUPLICATES + 1)
    ]
    for client in clients:
        client.start()
    time.sleep(max(0.0, seen_at + KILL_AFTER - time.monotonic()))
    cluster.kill(0)
    deadline = time.monotonic() + WAIT_SECONDS
    for thread in [first, *clients]:
        thread.join(max(0.0, deadline - time.monotonic()))
    answer = sessions[1].get(b + "/payments", timeout=5)
    charges = answer.json().get("payments", []) if answer.status_code == 200 else []
    verdict = check(history, charges)
    ok = verdict.ok and verdict.charges == 1 and verdict.acknowledged == 1
    evidence = "\n    ".join(verdict.text().splitlines())
    tail = "" if ok else f"\n  B's last output:\n{cluster.log_tail(1, 6)}"
    report.expect(ok, f"{story}the history checker found\n    {evidence}{tail}", *HINTS["cluster"])


def check_idempotency(module_or_name: Any, *, hint: bool = False) -> CheckReport:
    """Check the idempotency layer ``module_or_name`` (``'my_idempotency'``): first as separate
    instances would run it, then in a real cluster with duplicates and a kill mid-payment."""
    report = CheckReport(TITLE, closer=hint)
    opened = open_for_check(
        report, module_or_name, "my_idempotency", "the app's instances", _Roles, HINTS["module"]
    )
    if opened is None:
        return report.show()
    name, path, roles = opened
    copy = roles.copies["A"]
    if not callable(getattr(copy, "idempotent", None)):
        report.expect(False, f"{name} has a function idempotent(pay)", *HINTS["function"])
        return report.show()
    borrowed = getattr(copy.idempotent, "__module__", name)
    if borrowed in COURSE_MODULES and name not in COURSE_MODULES:
        report.expect(
            False,
            f"{name}'s idempotent is the course's own, imported from {borrowed}",
            *HINTS["own"],
        )
        return report.show()
    lease = getattr(copy, "LEASE_SECONDS", DEFAULT_LEASE_SECONDS)

    def in_process() -> bool:
        try:
            roles.wrap()
            return _check_in_process(report, roles, lease)
        except _Broken as why:
            return report.expect(False, str(why), *HINTS[why.hint])
        finally:
            roles.bank.release_all()

    passed = report.attempt("the check", in_process, *HINTS["replay"])
    if passed:
        report.attempt(
            "the cluster phase", lambda: _check_cluster(report, name, path), *HINTS["cluster"]
        )
    else:
        report.expect(
            False,
            f"a real cluster (3 instances, {DUPLICATES} duplicates, one killed mid-payment): not "
            "run until the checks above pass",
        )
    return report.show()
