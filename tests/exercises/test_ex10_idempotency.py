"""Exercise 10's check fails on the starter, passes on the solution and on right answers written
differently, and catches the classic wrong ones, each deterministically: the duplicate that
lands between a read and a write is placed there (``labs.interleaving``), not hoped for, and the
instance that dies mid-payment is a call the check abandons. Each answer is a module file, as
the notebook's ``%%writefile`` makes it; the cluster phase runs it in real processes.

Most answers below are the solution with one thing changed, and a lease of 1 s (the check waits
for a dead request's lease to lapse: a shorter one keeps the tests short)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from labs.exercises import ex10_idempotency as ex10
from labs.exercises.ex10_idempotency import HINTS, STARTER, check_idempotency

SOLUTION = (Path(__file__).resolve().parents[2] / "labs/solutions/ex10_idempotency.py").read_text()
CLAIM = "store.set(record, running, nx=True, ex=LEASE_SECONDS)"
DONE = "store.set(record, json.dumps(done), ex=TTL_SECONDS)"
REPLAY = 'return stored["status"], stored["answer"], True'


@pytest.fixture
def write_module(module_writer):
    """``write_module(source)``: a module file next to the "notebook"; returns its name."""
    return module_writer("my_idempotency")


def variant(*changes: tuple[str, str]) -> str:
    """The solution with a 1 s lease and each ``(old, new)`` of ``changes`` made."""
    source = SOLUTION.replace("LEASE_SECONDS = 2", "LEASE_SECONDS = 1")
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


GET_THEN_SET = variant((CLAIM, "store.get(record) is None and " + CLAIM.replace("nx=True, ", "")))
EXISTS_THEN_SET = variant((CLAIM, "not store.exists(record) and " + CLAIM.replace("nx=True, ", "")))
UNSCOPED = variant(('record = f"idem:{user}:{key}"', 'record = f"idem:{key}"'))
REPLAY_PAYS_AGAIN = variant((REPLAY, "pay(user, body)\n        " + REPLAY))
LEASE_FOREVER = variant((CLAIM, CLAIM.replace(", ex=LEASE_SECONDS", "")))
LEASE_IS_THE_TTL = variant((CLAIM, CLAIM.replace("ex=LEASE_SECONDS", "ex=TTL_SECONDS")))
BODY_IGNORED = variant(('if stored["body"] != body:', "if False:"))
DONE_FOREVER = variant((DONE, DONE.replace(", ex=TTL_SECONDS", "")))
DONE_KEEPS_THE_LEASE = variant((DONE, DONE.replace("ex=TTL_SECONDS", "keepttl=True")))
DONE_FOR_A_MINUTE = variant((DONE, DONE.replace("ex=TTL_SECONDS", "ex=60")))
LEASE_LONG = variant(("LEASE_SECONDS = 1", "LEASE_SECONDS = 60"))
SETNX_EXPIRE_ALWAYS = variant(  # every refused retry renews the dead request's lease
    (
        f"if {CLAIM}:",
        "pipe = store.pipeline()\n        pipe.setnx(record, running)\n"
        "        pipe.expire(record, LEASE_SECONDS)\n        if pipe.execute()[0]:",
    )
)
NEEDS_THE_NOTEBOOK = variant(  # a helper that exists in the notebook's process only
    ("import json", "import json\n\nfrom notebook_only_helpers import TTL"),
    ("TTL_SECONDS = 24 * 3600", "TTL_SECONDS = TTL"),
)
LEASE_TOO_SHORT = variant((CLAIM, CLAIM.replace("ex=LEASE_SECONDS", "px=200")))

SHA256_NAME = variant(
    ("import json", "import hashlib\nimport json"),
    (
        'record = f"idem:{user}:{key}"',
        'record = "idem:" + user + ":" + hashlib.sha256(key.encode()).hexdigest()',
    ),
)
PX_LEASE = variant((CLAIM, CLAIM.replace("ex=LEASE_SECONDS", "px=int(LEASE_SECONDS * 1000)")))
SETNX_EXPIRE_NX = variant(
    (
        f"if {CLAIM}:",
        "pipe = store.pipeline(transaction=True)\n        pipe.setnx(record, running)\n"
        "        pipe.expire(record, LEASE_SECONDS, nx=True)  # only the claim's own expiry\n"
        "        if pipe.execute()[0]:",
    )
)
# read twice, then write: B lands after the second read (the first read saw nothing either way)
SECOND_READ_THEN_SET = variant(
    (
        CLAIM,
        'store.get(record + ":done") is None and not store.exists(record) and '
        + CLAIM.replace("nx=True, ", ""),
    )
)
KEYS_THEN_SET = variant((CLAIM, "not store.keys(record) and " + CLAIM.replace("nx=True, ", "")))
SETNX_THEN_EXPIRE = variant(  # a claim and its lease as two commands: a death between them
    (CLAIM, "store.setnx(record, running) and store.expire(record, LEASE_SECONDS)")
)
AMOUNT_ONLY = variant(
    ('if stored["body"] != body:', 'if stored["body"]["amount_cents"] != body["amount_cents"]:')
)
STATUS_AS_TEXT = variant((REPLAY, 'return str(stored["status"]), stored["answer"], True'))
INLINE_LEASE = variant((CLAIM, CLAIM.replace("ex=LEASE_SECONDS", "ex=LEASE_SECONDS + 4")))
HASH_AND_LEASE_KEY = """\
import json

TTL_SECONDS = 24 * 3600
LEASE_SECONDS = 1


def idempotent(pay):
    def handle(store, user, key, body):
        name = f"idem:{user}:{key}"
        lease = name + ":lease"
        fingerprint = json.dumps(body, sort_keys=True)
        with store.pipeline() as pipe:
            pipe.setnx(lease, "held")
            pipe.pexpire(lease, LEASE_SECONDS * 1000, nx=True)
            won = pipe.execute()[0]
        record = store.hgetall(name)
        if record and record["fingerprint"] != fingerprint:
            return 422, {"error": "this key was used with another body"}, False
        if record.get("state") == "done":
            return int(record["status"]), json.loads(record["answer"]), True
        if not won:
            return 409, {"error": "in progress, retry"}, False
        store.pipeline().hsetnx(name, "fingerprint", fingerprint).hset(
            name, "state", "running"
        ).expire(name, TTL_SECONDS).execute()
        status, answer = pay(user, body)
        with store.pipeline() as pipe:
            pipe.hset(name, mapping={"state": "done", "status": status,
                                     "answer": json.dumps(answer)})
            pipe.expire(name, TTL_SECONDS)
            pipe.delete(lease)
            pipe.execute()
        return status, answer, False

    return handle
"""


def test_the_check_fails_on_the_starter_with_the_idea_first(write_module) -> None:
    report = check_idempotency(write_module(STARTER))
    assert not report.passed
    assert report.hint == HINTS["replay"][0] and report.code_hint
    assert report.code_hint not in report.text() and "Closer hint" not in report.text()
    assert "not run until the checks above pass" in failed(report)[-1]
    assert report.lines[0].ok  # the first request pays: that part of the starter is right


def test_the_check_passes_on_the_solution_and_in_the_cluster() -> None:
    report = check_idempotency("labs.solutions.ex10_idempotency")
    assert report.passed, report.text()
    [cluster] = [line.message for line in report.lines if "history checker" in line.message]
    assert "1 charges made" in cluster and "history valid" in cluster


@pytest.mark.parametrize(
    "source",
    [SHA256_NAME, PX_LEASE, SETNX_EXPIRE_NX, HASH_AND_LEASE_KEY, STATUS_AS_TEXT, INLINE_LEASE],
    ids=[
        "sha256-name",
        "px-lease",
        "setnx-expire-nx-multi",
        "hash-and-lease-key",
        "status-as-text",
        "lease-written-inline",
    ],
)
def test_right_answers_written_differently_pass(
    write_module, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # In process only: the cluster phase runs the same calls in real instances (and costs 5 s).
    monkeypatch.setattr(ex10, "_check_cluster", lambda report, name, path: None)
    report = check_idempotency(write_module(source))
    assert report.passed, report.text()


def test_a_module_object_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    import labs.solutions.ex10_idempotency as solution

    monkeypatch.setattr(ex10, "_check_cluster", lambda report, name, path: None)
    assert check_idempotency(solution).passed


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize(
    "source",
    [GET_THEN_SET, EXISTS_THEN_SET, SECOND_READ_THEN_SET, KEYS_THEN_SET],
    ids=["get", "exists", "second-read", "keys"],
)
def test_a_claim_that_reads_then_writes_pays_twice_every_time(
    write_module, source: str, attempt: int
) -> None:
    report = check_idempotency(write_module(source))
    assert not report.passed
    assert report.hint == HINTS["race"][0]
    assert any("two duplicates at once" in line and "2 charges" in line for line in failed(report))


@pytest.mark.parametrize(
    ("source", "hint", "says"),
    [
        (UNSCOPED, "scope", "alice's answer"),
        (REPLAY_PAYS_AGAIN, "replay", "pay() ran again"),
        (BODY_IGNORED, "body", "another body"),
        (LEASE_FOREVER, "lease", "holds the key forever"),
        (LEASE_IS_THE_TTL, "lease", "holds the key forever"),
        (SETNX_EXPIRE_ALWAYS, "lease", "holds the key forever"),
        (DONE_FOREVER, "expire", "never expires"),
        (DONE_FOR_A_MINUTE, "expire", "forgotten after"),
        (DONE_KEEPS_THE_LEASE, "kept", "its record was gone"),
        (LEASE_LONG, "lease_long", "longer than 10 s"),
        (SETNX_THEN_EXPIRE, "lease", "right after its first write"),
        (AMOUNT_ONLY, "body", "a EUR payment is not a USD one"),
    ],
    ids=[
        "unscoped",
        "replay-pays-again",
        "no-422",
        "lease-forever",
        "lease-is-the-ttl",
        "setnx-expire-always",
        "done-forever",
        "done-a-minute",
        "done-keeps-the-lease",
        "lease-60s",
        "setnx-then-expire",
        "amount-only",
    ],
)
def test_wrong_answers_fail_with_their_idea(write_module, source: str, hint: str, says: str):
    report = check_idempotency(write_module(source))
    assert not report.passed
    assert report.hint == HINTS[hint][0], report.text()
    assert says in failed(report)[0], report.text()


def test_a_lease_shorter_than_a_payment_is_caught(write_module) -> None:
    report = check_idempotency(write_module(LEASE_TOO_SHORT))
    assert not report.passed
    assert report.hint == HINTS["lease_short"][0]
    assert "the lease lapsed before the payment was done" in failed(report)[0]


def test_a_module_that_only_imports_in_the_notebook_fails_in_the_cluster(
    write_module, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers = types.ModuleType("notebook_only_helpers")
    helpers.TTL = 24 * 3600
    monkeypatch.setitem(sys.modules, "notebook_only_helpers", helpers)
    report = check_idempotency(write_module(NEEDS_THE_NOTEBOOK))
    assert not report.passed
    [line] = failed(report)
    assert "the cluster did not start" in line and "notebook_only_helpers" in line
    assert report.hint == HINTS["cluster"][0]


@pytest.mark.parametrize(
    "source",
    [
        "from labs.solutions.ex10_idempotency import idempotent\n",
        "import labs.solutions.ex10_idempotency as answer\nidempotent = answer.idempotent\n",
    ],
    ids=["from-import", "alias"],
)
def test_the_course_own_solution_imported_is_not_an_answer(write_module, source: str) -> None:
    report = check_idempotency(write_module(source))
    assert not report.passed
    [line] = failed(report)
    assert report.hint == HINTS["own"][0] and "labs.solutions.ex10_idempotency" in line


def idempotent(pay):  # what a learner defines in a notebook cell
    return pay


@pytest.mark.parametrize("thing", [idempotent, types.SimpleNamespace(), 42, None], ids=str)
def test_an_object_from_the_notebook_is_explained_not_run(thing: object) -> None:
    report = check_idempotency(thing)
    assert not report.passed
    [line] = report.lines
    assert line.message.startswith("cannot run it:")
    assert "%%writefile my_idempotency.py" in line.message
    assert report.hint == HINTS["module"][0]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("import json\nraise RuntimeError('half-written')\n", "half-written (line 2)"),
        ("def idempotent(:\n", "SyntaxError"),
        ("def wrap(pay):\n    return pay\n", "has a function idempotent(pay)"),
        ("def idempotent(pay):\n    return 42\n", "returned 42, not the function handle"),
        (
            "def idempotent(pay):\n    def handle(store, user, key, body):\n"
            "        return store.get(body['amount'])\n    return handle\n",
            "handle() raised KeyError: 'amount' (line 3)",
        ),
        (
            "def idempotent(pay):\n    def handle(store, user, key, body):\n"
            "        return pay(user, body)\n    return handle\n",
            "not (status, answer, replayed)",
        ),
        (
            "import time\ndef idempotent(pay):\n    def handle(store, user, key, body):\n"
            "        time.sleep(60)\n    return handle\n",
            "had not returned after 1 s",
        ),
    ],
    ids=["raises-at-import", "syntax", "no-idempotent", "no-handle", "raises", "pair", "hangs"],
)
def test_broken_code_is_reported_not_raised(
    write_module, monkeypatch: pytest.MonkeyPatch, source: str, says: str
) -> None:
    monkeypatch.setattr(ex10, "GIVE_UP_SECONDS", 1.0)
    report = check_idempotency(write_module(source))
    assert not report.passed
    assert says in report.text(), report.text()
    assert "Traceback" not in report.text()


def test_an_edited_file_is_read_again(write_module, tmp_path: Path) -> None:
    name = write_module(BODY_IGNORED)
    assert check_idempotency(name).hint == HINTS["body"][0]
    (tmp_path / f"{name}.py").write_text(STARTER)  # the learner runs the starter's cell again
    assert check_idempotency(name).hint == HINTS["replay"][0]


def test_hints_come_in_two_tiers(write_module) -> None:
    name = write_module(STARTER)
    first = check_idempotency(name)
    assert "Closer hint" not in first.text() and "Run the check again" in first.text()
    second = check_idempotency(name)
    assert f"Closer hint: {second.code_hint}" in second.text()
    assert f"Closer hint: {first.code_hint}" in check_idempotency(name, hint=True).text()
