"""The audit's properties, one function each, run in order on one real cluster.

Each property function takes the :class:`_Run` (the cluster, an HTTP client with a deadline, a
supply of fresh demo users) and returns ``(ok, evidence)``: whether the property held and, in a
sentence, what was done and what came back. Properties use fresh users, so one that fails leaves
nothing in the way of the next. The order matters only where a property breaks something for a
while: kills and restarts come after the plain checks, cutting Redis comes last.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from labs.apps import module_path
from labs.apps.users import load_test_users, login_body
from labs.cluster import ProcessCluster
from labs.cluster.clients import SteadyLoad, poll
from labs.cluster.process import INSTANCE_IDS
from labs.learner_code import import_root

PROPERTIES = (
    "errors",
    "sessions",
    "quota",
    "files",
    "jobs",
    "payments",
    "rolling",
    "liveness",
    "readiness",
)
TITLES = {
    "errors": "bad input gets a 4xx JSON error",
    "sessions": "sessions and carts survive kill -9 of any instance",
    "quota": "the quota holds at 3 instances",
    "files": "an upload is served by every instance, and after a restart",
    "jobs": "a job survives the death of its instance",
    "payments": "concurrent duplicate payments charge once",
    "rolling": "a rolling restart under load fails no request",
    "liveness": "liveness does not depend on Redis",
    "readiness": "readiness says when an instance cannot serve",
}
INSTANCES = 3
RATE_LIMIT = 10  # what the cluster's RATE_LIMIT says (and §6b's default)
STORE_DELAY = 0.02  # s per store round trip while requests race: a read and a write 20 ms apart
DUPLICATES = 8  # copies of one payment sent at once
REQUEST_SECONDS = 10.0  # the longest the audit waits for one answer (a loaded machine is slow)
# The longest one property's requests may take before the audit gives up on it. The restarts a
# property asks for are bounded by the cluster's own waits (a stop, then start_timeout), not by it.
PROPERTY_SECONDS = 45.0
AUDIT_SECONDS = 240.0  # past this, the properties not yet checked are reported as not run
JOB_SECONDS = 1  # the sleep job that is in flight when its instance dies
JOB_WAIT_SECONDS = 15.0
GONE_SECONDS = 1.0  # a job another instance does not know for this long died with its instance
UPLOAD_BYTES = 32 * 1024
LOAD_CLIENTS = 4
# What the audit sets in the instances' environment itself (ProcessCluster sets the rest).
AUDIT_OWNS = ("PYTHONPATH", "RATE_LIMIT", "RATE_WINDOW", "REDIS_URL", "KEY_PREFIX", "S3_BUCKET")


@dataclass(frozen=True)
class Finding:
    """One property: did it hold, and what was seen."""

    name: str
    ok: bool
    evidence: str

    @property
    def title(self) -> str:
        return TITLES[self.name]

    def text(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.title}: {self.evidence}"


@dataclass
class Audit:
    """What :func:`audit` found about one app."""

    app: str
    store: str  # "redis-server" or "fakeredis over TCP"
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.findings) and all(finding.ok for finding in self.findings)

    def finding(self, name: str) -> Finding:
        for finding in self.findings:
            if finding.name == name:
                return finding
        raise KeyError(f"no finding {name!r}: audited {[f.name for f in self.findings]}")

    def text(self) -> str:
        held = sum(finding.ok for finding in self.findings)
        head = (
            f"Audit of {self.app} ({INSTANCES} instances, {self.store}): "
            f"{held} of {len(self.findings)} properties hold"
        )
        return "\n".join([head, *(f"  {finding.text()}" for finding in self.findings)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "store": self.store,
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
            "findings": [
                {"property": f.name, "title": f.title, "ok": f.ok, "evidence": f.evidence}
                for f in self.findings
            ],
        }

    def __repr__(self) -> str:
        return self.text()


class _GaveUp(Exception):
    """A property ran out of time or could not go on; the message says why."""


@dataclass(frozen=True)
class _Reply:
    """One answer, or ``status`` None when none came (refused, reset, timed out)."""

    status: int | None
    body: Any = None  # the JSON body, if it was JSON
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    why: str = ""  # why there was no answer

    @property
    def is_json_error(self) -> bool:
        return isinstance(self.body, dict) and "error" in self.body

    def shown(self) -> str:
        """The status as a finding prints it: ``401``, or ``no answer (timeout)``."""
        return str(self.status) if self.status is not None else f"no answer ({self.why})"


def _field(reply: _Reply, name: str) -> Any:
    return reply.body.get(name) if isinstance(reply.body, dict) else None


class _Run:
    """The cluster under audit, an HTTP client bounded in time, and fresh demo users."""

    def __init__(self, cluster: ProcessCluster) -> None:
        self.cluster = cluster
        self.urls = cluster.instance_urls
        self.names = cluster.instance_ids
        self._users = iter(load_test_users(50))
        self.deadline = float("inf")
        # What liveness and readiness judge, asked once with Redis cut off: route -> [(instance
        # url, reply)], or why it could not be measured.
        self.outage: dict[str, list[tuple[str, _Reply]]] = {}
        self.outage_error = ""

    def user(self) -> str:
        return next(self._users)

    def call(self, session: requests.Session, method: str, url: str, **options: Any) -> _Reply:
        """One request, never raising on what the app does; :class:`_GaveUp` past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _GaveUp(f"gave up after {PROPERTY_SECONDS:g} s (the app answers too slowly)")
        try:
            answer = session.request(
                method, url, timeout=min(REQUEST_SECONDS, left), allow_redirects=False, **options
            )
        except requests.Timeout:
            return _Reply(None, why="timed out")
        except requests.RequestException as exc:
            return _Reply(None, why=type(exc).__name__)
        body = None
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            with contextlib.suppress(ValueError):
                body = answer.json()
        return _Reply(answer.status_code, body, dict(answer.headers), answer.content)

    def login(self, user: str, where: str) -> requests.Session:
        """A session of ``user`` logged in at ``where``; :class:`_GaveUp` if the login fails."""
        session = requests.Session()
        reply = self.call(session, "POST", where + "/login", json=login_body(user))
        if reply.status != 200:
            raise _GaveUp(f"{user} could not log in: POST /login answered {reply.shown()}")
        return session

    def everywhere(self, user: str) -> dict[str, requests.Session]:
        """``user`` logged in on each instance, one session each: so that a property other than
        ``sessions`` judges its own state even when the instances do not share sessions."""
        return {url: self.login(user, url) for url in self.urls}

    def spread(self, count: int) -> list[str]:
        """``count`` instance urls, A, B, C, A, ... in turn."""
        return [self.urls[n % len(self.urls)] for n in range(count)]

    def name(self, url: str) -> str:
        return self.names[self.urls.index(url)]

    @contextlib.contextmanager
    def slow_store(self) -> Iterator[None]:
        """Every store round trip :data:`STORE_DELAY` long, for the length of the ``with``."""
        proxy = self.cluster.store_proxy
        proxy.delay = STORE_DELAY
        try:
            yield
        finally:
            proxy.delay = 0.0


def _copy(session: requests.Session) -> requests.Session:
    """Another session with the same cookies (one per thread: ``requests`` sessions are not
    meant to be shared between threads)."""
    twin = requests.Session()
    twin.cookies.update(session.cookies)
    return twin


def _at_once(calls: list[Callable[[], _Reply]]) -> list[_Reply]:
    """Run ``calls`` in threads released together by one barrier; their replies, in order."""
    replies: list[_Reply | None] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=REQUEST_SECONDS)
        try:
            replies[index] = calls[index]()
        except _GaveUp as exc:
            replies[index] = _Reply(None, why=str(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_SECONDS * 3)
    return [reply or _Reply(None, why="no answer in time") for reply in replies]


def _tally(replies: list[_Reply]) -> str:
    """``"1 × 201, 7 × 409"``: the statuses of ``replies``, most common first."""
    counts = Counter(reply.shown() for reply in replies)
    return ", ".join(f"{count} × {status}" for status, count in counts.most_common())


# --- the properties ---------------------------------------------------------------------------


def errors(run: _Run) -> tuple[bool, str]:
    """Bad input, one request of each kind: each must be a 4xx with a JSON ``{"error"}``."""
    where = run.urls[0]
    session = run.login(run.user(), where)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    not_json = {"data": b"{not json", "headers": {"Content-Type": "application/json"}}
    bad_item = {"json": {"sku": "book-1", "qty": "many"}}
    bad_amount = {"json": {"amount_cents": -5, "currency": "EUR"}, "headers": key}
    bad_kind = {"json": {"kind": "mine-coins", "params": {}}}
    cases: list[tuple[str, requests.Session, str, str, dict[str, Any]]] = [
        ("POST /login with a body that is not JSON", session, "POST", "/login", not_json),
        ("GET /me without a session", requests.Session(), "GET", "/me", {}),
        ("a cart item whose qty is a word", session, "POST", "/cart/items", bad_item),
        ("a payment of -5 cents", session, "POST", "/payments", bad_amount),
        ("a job of an unknown kind", session, "POST", "/jobs", bad_kind),
        ("GET /files/ of an id never made", session, "GET", "/files/not-a-file", {}),
        ("GET /jobs/ of an id never made", session, "GET", "/jobs/not-a-job", {}),
    ]
    wrong = []
    for label, caller, method, path, options in cases:
        reply = run.call(caller, method, where + path, **options)
        if not (reply.status is not None and 400 <= reply.status < 500 and reply.is_json_error):
            kind = "JSON" if reply.body is not None else reply.headers.get("Content-Type", "")
            wrong.append(f"{label}: {reply.shown()} {kind}".rstrip())
    if wrong:
        return False, f"{len(wrong)} of {len(cases)} got no 4xx JSON error: {'; '.join(wrong)}"
    kinds = "malformed JSON, no session, a bad qty, amount and kind, unknown ids"
    return True, f"{len(cases)} bad requests ({kinds}): each a 4xx JSON error"


def sessions(run: _Run) -> tuple[bool, str]:
    """6 users log in, 2 on each instance, and put one item in their cart there; then every
    instance is asked for every user, before and after ``kill -9`` of B and its restart."""
    logged = []
    for number, url in enumerate(run.spread(6)):
        user, sku, qty = run.user(), f"sku-{number}", number + 1
        session = run.login(user, url)
        reply = run.call(session, "POST", url + "/cart/items", json={"sku": sku, "qty": qty})
        if reply.status != 200:
            where = run.name(url)
            return False, f"{user} logged in on {where}; POST /cart/items there: {reply.shown()}"
        logged.append((session, user, sku, qty))

    def asked() -> tuple[int, str]:
        known, first_miss = 0, ""
        for session, user, sku, qty in logged:
            for url in run.urls:
                me = run.call(session, "GET", url + "/me")
                cart = run.call(session, "GET", url + "/cart")
                items = _field(cart, "items")
                if _field(me, "user") == user and isinstance(items, dict) and items.get(sku) == qty:
                    known += 1
                elif not first_miss:
                    first_miss = (
                        f"{run.name(url)} answered {user}'s /me {me.shown()}, /cart {cart.shown()}"
                    )
        return known, first_miss

    asks = len(logged) * len(run.urls)
    before, miss_before = asked()
    run.cluster.kill(1)
    run.cluster.restart(1)
    after, miss_after = asked()
    story = (
        f"{len(logged)} users logged in, 2 on each instance, one cart item each; every instance "
        f"asked for every user: {before} of {asks} knew the user and the cart; after kill -9 of "
        f"B and its restart: {after} of {asks}"
    )
    if before == after == asks:
        return True, story
    return False, f"{story} (first miss: {miss_before or miss_after})"


def quota(run: _Run) -> tuple[bool, str]:
    """One user's requests to A, B, C in turn, then another user's all at once with every store
    call 20 ms away: each must get exactly RATE_LIMIT answers 200."""
    sessions = run.everywhere(run.user())
    first = run.call(sessions[run.urls[0]], "GET", run.urls[0] + "/quota")
    if first.status == 404:
        return False, "GET /quota answered 404: the app does not serve it (COURSE_DESIGN §6b)"
    replies = [first] + [
        run.call(sessions[url], "GET", url + "/quota") for url in run.spread(3 * RATE_LIMIT)[1:]
    ]
    allowed = sum(reply.status == 200 for reply in replies)
    refused = [reply for reply in replies if reply.status == 429]
    no_retry_after = sum("Retry-After" not in reply.headers for reply in refused)
    racers = run.everywhere(run.user())
    with run.slow_store():
        raced = _at_once(
            [
                lambda url=url: run.call(_copy(racers[url]), "GET", url + "/quota")
                for url in run.spread(2 * RATE_LIMIT)
            ]
        )
    raced_allowed = sum(reply.status == 200 for reply in raced)
    story = (
        f"limit {RATE_LIMIT}: {len(replies)} requests to A, B, C in turn got {allowed} × 200; "
        f"{len(raced)} at once, every store call {STORE_DELAY * 1000:.0f} ms away, got "
        f"{raced_allowed} × 200"
    )
    if no_retry_after:
        return False, f"{story}; {no_retry_after} of {len(refused)} 429s had no Retry-After"
    if allowed == raced_allowed == RATE_LIMIT:
        return True, story
    if allowed > RATE_LIMIT:
        return False, f"{story} (each instance counts on its own)"
    if raced_allowed > RATE_LIMIT:
        return False, f"{story} (two instances read the same count, and both wrote count + 1)"
    return False, f"{story} (statuses: {_tally(replies)})"


def files(run: _Run) -> tuple[bool, str]:
    """An upload to A, downloaded from B and C, then from A once A has restarted."""
    a = run.urls[0]
    user = run.user()
    sessions = run.everywhere(user)
    data = secrets.token_bytes(UPLOAD_BYTES)
    upload = {"file": ("audit.bin", data, "application/octet-stream")}
    posted = run.call(sessions[a], "POST", a + "/files", files=upload)
    url = _field(posted, "url")
    if posted.status == 404 and url is None:
        return False, "POST /files answered 404: the app does not serve it (COURSE_DESIGN §6b)"
    if posted.status != 201 or not isinstance(url, str) or not url.startswith("/files/"):
        return False, f"POST /files to A answered {posted.shown()} {posted.body!r:.120}"

    def fetched(base: str) -> str:
        reply = run.call(sessions.get(base) or run.login(user, base), "GET", base + url)
        if reply.status == 200 and reply.content == data:
            return "the bytes"
        if reply.status == 200:
            return f"200 but {len(reply.content)} other bytes"
        return reply.shown()

    seen = {run.name(base): fetched(base) for base in run.urls[1:]}
    run.cluster.restart(0)
    del sessions[a]  # a session kept in A's memory is gone: log in again
    seen["A, restarted"] = fetched(a)
    story = f"{UPLOAD_BYTES} bytes uploaded to A (201); " + ", ".join(
        f"{name}: {what}" for name, what in seen.items()
    )
    return all(what == "the bytes" for what in seen.values()), story


def jobs(run: _Run) -> tuple[bool, str]:
    """A sleep job accepted by A, which is killed at once; B must report it done."""
    a, b = run.urls[0], run.urls[1]
    sessions = run.everywhere(run.user())
    params = {"seconds": JOB_SECONDS}
    accepted = run.call(sessions[a], "POST", a + "/jobs", json={"kind": "sleep", "params": params})
    job_id = _field(accepted, "job_id")
    if accepted.status == 404 and job_id is None:
        return False, "POST /jobs answered 404: the app does not serve it (COURSE_DESIGN §6b)"
    if accepted.status != 202 or not isinstance(job_id, str):
        return False, f"POST /jobs to A answered {accepted.shown()} {accepted.body!r:.120}"
    run.cluster.kill(0)
    killed = time.monotonic()
    story = f"A accepted a {JOB_SECONDS} s job (202) and was killed at once"
    try:
        unknown_since = None
        while time.monotonic() - killed < JOB_WAIT_SECONDS:
            reply = run.call(sessions[b], "GET", f"{b}/jobs/{job_id}")
            status = _field(reply, "status")
            if status == "done":
                took = time.monotonic() - killed
                return True, f"{story}; B reports it done {took:.1f} s later"
            if status == "failed":
                return False, f"{story}; B reports it failed: {_field(reply, 'result')!r:.80}"
            if reply.status == 404:
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > GONE_SECONDS:
                    return False, f"{story}; B does not know the job (404): it died with A"
            else:
                unknown_since = None
            time.sleep(0.1)
        return False, f"{story}; after {JOB_WAIT_SECONDS:g} s B still says {status!r}"
    finally:
        run.cluster.restart(0)


def payments(run: _Run) -> tuple[bool, str]:
    """Eight copies of one payment at once (A, B, C in turn; every store call 20 ms away), a
    retry, the key with another body, and the key used by another user."""
    a, b = run.urls[0], run.urls[1]
    user, other = run.user(), run.user()
    sessions = run.everywhere(user)
    session = sessions[a]
    body = {"amount_cents": 1999, "currency": "EUR"}
    unkeyed = run.call(session, "POST", a + "/payments", json=body)
    if unkeyed.status == 404:
        return False, "POST /payments answered 404: the app does not serve it (COURSE_DESIGN §6b)"
    key = {"Idempotency-Key": f"audit-{secrets.token_hex(8)}"}
    with run.slow_store():
        burst = _at_once(
            [
                lambda url=url: run.call(
                    _copy(sessions[url]), "POST", url + "/payments", json=body, headers=key
                )
                for url in run.spread(DUPLICATES)
            ]
        )
    retry = run.call(sessions[b], "POST", b + "/payments", json=body, headers=key)
    for _ in range(20):  # a copy may still be running: 409 means try again later
        if retry.status != 409:
            break
        time.sleep(0.1)
        retry = run.call(sessions[b], "POST", b + "/payments", json=body, headers=key)
    # The charges every instance reports. A shared list is one list, seen three times; lists kept
    # in each instance add up. So a payment id counts as often as the one list holding it most
    # often says (a ledger that holds one id 8 times charged 8 times).
    listed = [run.call(sessions[url], "GET", url + "/payments") for url in run.urls]
    found = [_field(reply, "payments") for reply in listed]
    count = None
    if all(isinstance(charges, list) for charges in found):
        most: Counter[str] = Counter()
        for charges in found:
            most |= Counter(
                str(charge.get("payment_id")) if isinstance(charge, dict) else repr(charge)
                for charge in charges
            )
        count = sum(most.values())
        if unkeyed.status is not None and unkeyed.status < 300:
            count -= 1  # the payment sent without a key, if the app took it
    # Each instance that keeps its own record answers its first copy as a new payment (201, not
    # replayed), whatever ids it lists: more than one such answer is more than one charge.
    fresh = [
        reply
        for reply in burst
        if reply.status == 201 and reply.headers.get("Idempotent-Replayed") != "true"
    ]
    changed = run.call(
        session, "POST", a + "/payments", json={**body, "amount_cents": 1}, headers=key
    )
    their = run.login(other, a)
    theirs = run.call(their, "POST", a + "/payments", json=body, headers=key)
    ids = {_field(reply, "payment_id") for reply in burst if reply.status == 201}
    wrong = []
    if unkeyed.status != 400:
        wrong.append(f"a payment without an Idempotency-Key got {unkeyed.shown()}, not 400")
    if count is None:
        shown = ", ".join(reply.shown() for reply in listed)
        wrong.append(f"GET /payments answered {shown} with no list of payments on every instance")
    elif count != 1:
        wrong.append(f"the user was charged {count} times for one payment (8 copies, 1 retry)")
    if len(fresh) > 1 and count in (None, 1):  # (a count above 1 has said so already)
        wrong.append(
            f"{len(fresh)} copies were answered as new payments (201 without Idempotent-Replayed)"
        )
    replayed = retry.headers.get("Idempotent-Replayed") == "true"
    if not (retry.status == 201 and replayed and _field(retry, "payment_id") in ids):
        got = f"{retry.shown()}{' replayed' if replayed else ''}"
        wrong.append(f"a retry got {got}, not the first answer replayed")
    if changed.status != 422:
        wrong.append(f"the key with another amount got {changed.shown()}, not 422")
    if _field(theirs, "payment_id") in ids:
        wrong.append(f"{other}, sending {user}'s key, got {user}'s payment replayed")
    elif theirs.status != 201 or theirs.headers.get("Idempotent-Replayed") == "true":
        wrong.append(f"{other}, sending {user}'s key, got {theirs.shown()}, not a payment")
    delay = f"every store call {STORE_DELAY * 1000:.0f} ms away"
    story = f"{DUPLICATES} copies of one payment at once to A, B, C ({delay}): {_tally(burst)}"
    if wrong:
        return False, f"{story}; {'; '.join(wrong)}"
    return True, f"{story}; 1 charge, a retry replayed, another body 422, a key per user"


def rolling(run: _Run) -> tuple[bool, str]:
    """4 logged-in users read their carts through the balancer while A, B, C restart one by one
    (SIGTERM, drain, start again): not one request may fail. How many requests a load sends in
    a while is noise, so a failure is told by when it came and what it was, not by a count."""
    users = tuple(run.user() for _ in range(LOAD_CLIENTS))
    try:
        load = SteadyLoad(
            run.cluster.url, "/cart", clients=LOAD_CLIENTS, users=users, timeout=REQUEST_SECONDS
        )
    except RuntimeError as exc:
        raise _GaveUp(str(exc)) from None
    with load:
        # some traffic first (bounded): a request that fails before any restart says that the
        # instances never shared what it needed
        poll(lambda: len(load.answers) >= 5 * LOAD_CLIENTS, 3.0)
        restarts_began = load.now()
        for index in range(len(run.urls)):
            run.cluster.restart(index)
            time.sleep(0.2)
    story = (
        f"{LOAD_CLIENTS} users read their carts through the balancer while A, B and C restarted "
        "one after another (SIGTERM, drain, start)"
    )

    def statuses(early: bool) -> str:
        seen = {
            "no answer" if answer.status is None else str(answer.status)
            for answer in load.answers
            if not answer.ok and (answer.sent < restarts_began) == early
        }
        return ", ".join(sorted(seen))

    before, during = statuses(True), statuses(False)
    if not load.answers:
        return False, f"{story}: the load got no answer at all"
    if not (before or during):
        return True, f"{story}: none of their requests failed"
    when = [f"before the restarts ({before})"] if before else []
    when += [f"during them ({during})"] if during else []
    return False, f"{story}: requests failed {' and '.join(when)}"


def liveness(run: _Run) -> tuple[bool, str]:
    """Redis cut off (the proxy in front of it refuses): every ``/healthz`` must say 200."""
    if run.outage_error:
        raise _GaveUp(run.outage_error)
    seen = run.outage["healthz"]
    shown = ", ".join(f"{run.name(url)} {reply.shown()}" for url, reply in seen)
    ok = bool(seen) and all(reply.status == 200 for _, reply in seen)
    return ok, f"Redis cut off: /healthz on {shown}"


def readiness(run: _Run) -> tuple[bool, str]:
    """With Redis up every ``/readyz`` must say 200; with Redis cut off, 503 where ``/me`` fails
    and 200 where it is served. (A missing or broken ``/readyz`` says no in both.)"""
    if run.outage_error:
        raise _GaveUp(run.outage_error)
    up = run.outage["readyz with Redis up"]
    seen = run.outage["readyz"]
    served = dict(run.outage["me"])
    not_ready = [run.name(url) for url, reply in up if reply.status != 200]
    wrong = [f"{', '.join(not_ready)} not ready with Redis up"] if not_ready else []
    wrong += [
        f"{run.name(url)}: /me {served[url].shown()} but /readyz {reply.shown()}"
        for url, reply in seen
        if reply.status != (200 if served[url].status == 200 else 503)
    ]
    before = ", ".join(f"{run.name(url)} {reply.shown()}" for url, reply in up)
    shown = ", ".join(
        f"{run.name(url)} /me {served[url].shown()}, /readyz {reply.shown()}" for url, reply in seen
    )
    evidence = f"Redis up: /readyz {before}; Redis cut off: {shown}"
    if wrong:
        evidence += f"; {'; '.join(wrong)}"
    return bool(seen) and bool(up) and not wrong, evidence


def _cut_redis(run: _Run) -> None:
    """Log a user in on each instance, cut Redis, ask each for ``/healthz``, ``/readyz`` and
    ``/me``; restore Redis. What liveness and readiness judge, measured once for both."""
    run.deadline = time.monotonic() + PROPERTY_SECONDS
    try:
        sessions = [(url, run.login(run.user(), url)) for url in run.urls]
        up = [(url, run.call(session, "GET", url + "/readyz")) for url, session in sessions]
        proxy = run.cluster.store_proxy
        proxy.cut("refuse")
        try:
            time.sleep(0.3)
            run.outage = {
                route: [
                    (url, run.call(session, "GET", url + "/" + route)) for url, session in sessions
                ]
                for route in ("healthz", "readyz", "me")
            }
        finally:
            proxy.restore()
        run.outage["readyz with Redis up"] = up
    except _GaveUp as exc:
        run.outage, run.outage_error = {}, f"not measured: {exc}"


CHECKS: dict[str, Callable[[_Run], tuple[bool, str]]] = {
    "errors": errors,
    "sessions": sessions,
    "quota": quota,
    "files": files,
    "jobs": jobs,
    "payments": payments,
    "rolling": rolling,
    "liveness": liveness,
    "readiness": readiness,
}


def _environment(name: str) -> dict[str, str]:
    """What the instances need to import ``name`` and the settings the audit relies on."""
    spec = importlib.util.find_spec(name)
    paths = [os.environ.get("PYTHONPATH", "")]
    if spec is not None and spec.origin:
        paths.insert(0, import_root(name, spec.origin))
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
        "RATE_LIMIT": str(RATE_LIMIT),
        "RATE_WINDOW": "3600",  # no window ends in the middle of the quota's requests
    }


def _settings(env: dict[str, str] | None) -> dict[str, str]:
    """The app settings a caller adds (``{"STATE": "memory"}``), checked: names like
    environment variables, text values, none of the audit's own."""
    settings = dict(env or {})
    for name, value in settings.items():
        if not (isinstance(name, str) and name.isidentifier() and name.isupper()):
            raise ValueError(f"setting names are upper-case like STATE, not {name!r}")
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(f"setting {name} must be text, not {value!r}")
        if name in AUDIT_OWNS:
            raise ValueError(f"{name} is the audit's to set (it relies on it), not the caller's")
    return settings


def audit(
    app: str,
    *,
    only: tuple[str, ...] | list[str] | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Audit:
    """Run ``app`` (a name of ``labs.apps.APPS`` or a module path such as ``"my_shop"``) as a
    3-instance cluster and check each of ``only`` (default: every one of :data:`PROPERTIES`).
    ``env`` adds settings to every instance's environment (``{"STATE": "memory"}``).
    Never raises on a wrong app: what went wrong is in the findings."""
    wanted = tuple(PROPERTIES if only is None else only)
    unknown = [name for name in wanted if name not in PROPERTIES]
    if unknown or not wanted:
        raise ValueError(f"properties are {', '.join(PROPERTIES)}; got {unknown or 'none'}")
    if not isinstance(workers, int) or not 0 <= workers <= 4:
        raise ValueError(f"workers must be a whole number from 0 to 4, not {workers!r}")
    settings = _settings(env)
    with tempfile.TemporaryDirectory(prefix="sbd-audit-disks-") as disks:
        return _audit(app, wanted, workers, settings, Path(disks))


def _audit(
    app: str, wanted: tuple[str, ...], workers: int, settings: dict[str, str], disks: Path
) -> Audit:
    started = time.monotonic()
    store = "redis-server" if os.environ.get("REDIS_URL") else "fakeredis over TCP"
    result = Audit(app, store)
    # Each instance its own "local disk" (TMPDIR), as on three machines: files one instance keeps
    # in a temporary directory are not another's, even at a fixed name.
    local_disks = {}
    for name in INSTANCE_IDS[:INSTANCES]:
        (disks / name).mkdir()
        local_disks[name] = {"TMPDIR": str(disks / name)}
    try:
        path = module_path(app)
        cluster = ProcessCluster(
            path,
            INSTANCES,
            balancer="python",
            s3=True,
            workers=workers,
            store_proxy="open",
            drain_seconds=0.5,
            start_timeout=20.0,
            env={**settings, **_environment(path)},
            instance_env=local_disks,
        )
    except Exception as exc:  # the learner's module may raise anything on import
        return _all_failed(
            result, wanted, f"cannot import {app}: {type(exc).__name__}: {exc}", started
        )
    running = False
    try:
        with cluster:
            running = True
            run = _Run(cluster)
            for name in wanted:
                if time.monotonic() - started > AUDIT_SECONDS:
                    why = f"not run: the audit's {AUDIT_SECONDS:g} s ran out (the app is slow)"
                    result.findings.append(Finding(name, False, why))
                    continue
                if name in ("liveness", "readiness") and not (run.outage or run.outage_error):
                    _cut_redis(run)
                result.findings.append(_judge(run, name))
    except (RuntimeError, OSError) as exc:  # ClusterError, WorkerError, a store that is not there
        if not running:
            message = f"the cluster did not start: {_shortened(str(exc))}"
            return _all_failed(result, wanted, message, started)
        done = {finding.name for finding in result.findings}
        why = f"not run: the audit could not go on: {_shortened(str(exc))}"
        result.findings += [Finding(name, False, why) for name in wanted if name not in done]
    result.seconds = time.monotonic() - started
    return result


def _judge(run: _Run, name: str) -> Finding:
    """One property's finding; whatever the app does, a finding, never an exception."""
    run.deadline = time.monotonic() + PROPERTY_SECONDS
    try:
        ok, evidence = CHECKS[name](run)
    except _GaveUp as exc:
        ok, evidence = False, str(exc)
    except (RuntimeError, OSError) as exc:  # e.g. an instance that would not restart (ClusterError)
        ok, evidence = False, f"the check could not go on: {_shortened(str(exc))}"
    return Finding(name, bool(ok), evidence)


def _shortened(text: str, most: int = 700) -> str:
    """``text`` at most ``most`` characters long: its first line and its end (a process's last
    output ends with what went wrong)."""
    if len(text) <= most:
        return text
    first = text.splitlines()[0][: most // 3]
    return f"{first} [...] {text[len(first) + 7 - most :]}"


def _all_failed(result: Audit, wanted: tuple[str, ...], why: str, started: float) -> Audit:
    result.findings = [Finding(name, False, why) for name in wanted]
    result.seconds = time.monotonic() - started
    return result
