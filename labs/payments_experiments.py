"""Lesson 10's payments experiments: retries that charge twice, then keys that make it impossible.

Each function starts a real cluster of ``labs/apps/payments_app.py`` (gunicorn instances behind
the readable balancer), plays one story with clients that record every attempt
(:class:`labs.history.History`), stops everything, and returns the history checked against the
charges the service lists::

    run = retried_payments(keys=False)   # a slow answer, a client that retries: double charges
    print(run.verdict())
    run = retried_payments(keys=True)    # the same clients with an Idempotency-Key: one each
    run = duplicates_under_a_kill()      # 9 concurrent duplicates on 3 instances, one killed
    run = resume_after_a_kill()          # killed between charge and confirm, resumed elsewhere
    run = balancer_resends("all")        # the balancer itself resends a timed-out POST

What the clients see depends on timing (which attempt timed out, which got a 409), so the
verdicts say what the checker found, which does not: the number of charges per intent.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import requests

from labs.cluster import ProcessCluster
from labs.cluster.clients import attempt_payment, logged_in, pay_until_acknowledged, wait_until
from labs.cluster.process import nginx_config
from labs.history import History, Verdict, check
from labs.redis_store import connect

USER = "alice"
CLIENT_TIMEOUT = 0.5  # seconds a client waits for an answer before it retries
ANSWER_DELAY = 1.0  # the payments app answers this long after the charge: past the timeout
WAIT_SECONDS = 15.0  # every wait in here is bounded by this
BALANCER_TIMEOUT = 0.4  # seconds the balancer waits for an instance (nginx's proxy_read_timeout)


class PaymentsExperimentError(RuntimeError):
    """The experiment could not run as designed (a login refused, an answer that never came)."""


def _session(base: str) -> requests.Session:
    return logged_in(base, USER, PaymentsExperimentError)


@dataclass(frozen=True)
class PaymentsRun:
    """One experiment: its story, the checker's verdict, and what the clients saw."""

    story: str
    keys: bool
    verdict: Verdict
    history: History

    def statuses(self) -> list[list[str]]:
        """Per intent, what each attempt got: ``["timeout", "201"]``, ``["409", "201 replay"]``."""
        return [[attempt.label for attempt in intent.attempts] for intent in self.history.intents]

    def counts(self) -> str:
        return "\n".join(
            f"intent {number}: {', '.join(row)}" for number, row in enumerate(self.statuses())
        )

    def summary(self) -> str:
        """The scheduling-independent part: what the checker found."""
        v = self.verdict
        keyed = "with an Idempotency-Key" if self.keys else "without keys"
        return (
            f"{self.story}, {keyed}: {v.intents} payments intended, {v.charges} charges; "
            f"charged more than once: {v.double_charged}; acknowledged but missing: {v.lost}"
        )


def _charges(session: requests.Session, base: str) -> list[dict]:
    answer = session.get(base + "/payments", timeout=5)
    if answer.status_code != 200:
        raise PaymentsExperimentError(f"GET /payments answered {answer.status_code}")
    return answer.json()["payments"]


def retried_payments(keys: bool, intents: int = 2) -> PaymentsRun:
    """``intents`` payments, one after the other, each by a client that gives up after
    ``CLIENT_TIMEOUT`` and retries, against instances that answer ``ANSWER_DELAY`` after the
    charge. Without keys every retry is a new charge; with one, a replay."""
    env = {"IDEMPOTENCY": "on" if keys else "off", "ANSWER_DELAY": str(ANSWER_DELAY)}
    history = History()
    with ProcessCluster("payments", instances=2, balancer="python", env=env) as cluster:
        session = _session(cluster.url)
        for _ in range(intents):
            intent = history.new_intent(key=str(uuid.uuid4()) if keys else "")
            pay_until_acknowledged(history, session, [cluster.url], intent, CLIENT_TIMEOUT)
        time.sleep(ANSWER_DELAY)  # the last slow answers finish: their charges count too
        charges = _charges(session, cluster.instance_urls[0])
    return PaymentsRun("a slow answer, retried", keys, check(history, charges), history)


def _wait_for_step(cluster: ProcessCluster, wanted: str) -> str:
    """Wait until the cluster's (one) payment record has reached the step ``wanted``."""

    def reached() -> bool:
        records = store.keys(f"{cluster.key_prefix}idem:*")
        return bool(records) and store.hget(records[0], "step") == wanted

    with connect(cluster.redis_url) as store:
        wait_until(reached, f"the payment's {wanted!r} step", WAIT_SECONDS, PaymentsExperimentError)
    return wanted


def duplicates_under_a_kill(clients: int = 9) -> PaymentsRun:
    """``clients`` duplicates of one payment (one key) on 3 instances: the first on A, which
    takes the lease; once A has reserved, the others at once, spread over B and C; then A is
    killed, before its charge. Each client retries on the other instances until it is
    answered. The checker expects one charge."""
    env = {"IDEMPOTENCY": "on", "STEP_DELAY": "0.3", "LEASE_SECONDS": "1"}
    history = History()
    with ProcessCluster("payments", instances=3, balancer="python", env=env) as cluster:
        a, b, c = cluster.instance_urls
        intent = history.new_intent(key=str(uuid.uuid4()))
        sessions = [_session(cluster.url) for _ in range(clients)]
        start = threading.Barrier(clients)

        def client(number: int) -> None:
            order = [a, b, c] if number == 0 else [[b, c], [c, b]][number % 2] + [a]
            if number:
                start.wait(timeout=WAIT_SECONDS)
            pay_until_acknowledged(history, sessions[number], order, intent, 3.0, pause=0.4)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        threads[0].start()
        _wait_for_step(cluster, "reserved")  # A holds the lease, and has not charged yet
        for thread in threads[1:]:
            thread.start()
        start.wait(timeout=WAIT_SECONDS)
        time.sleep(0.05)  # the duplicates are on their way to B and C
        cluster.kill(0)
        for thread in threads:
            thread.join(timeout=WAIT_SECONDS)
        charges = _charges(sessions[0], b)
    return PaymentsRun(
        f"{clients} duplicates on 3 instances, A killed", True, check(history, charges), history
    )


@dataclass(frozen=True)
class ResumeRun:
    """A payment whose instance died between the charge and the confirmation."""

    steps_before_kill: str  # the step recorded when A was killed
    answers: list[str]  # what the client's retries on B got, in order
    verdict: Verdict

    def summary(self) -> str:
        return (
            f"A killed after the step {self.steps_before_kill!r}; B resumed it: "
            f"{self.verdict.charges} charge(s), charged more than once: "
            f"{self.verdict.double_charged}, acknowledged: {self.verdict.acknowledged}"
        )


def resume_after_a_kill() -> ResumeRun:
    """A payment on A, killed once its charge is recorded and before it confirms; the client
    retries the same key on B, which waits for A's lease to lapse (409), then resumes from the
    recorded step: confirmed, charged once."""
    env = {"IDEMPOTENCY": "on", "STEP_DELAY": "0.5", "LEASE_SECONDS": "1"}
    history = History()
    with ProcessCluster("payments", instances=2, balancer="python", env=env) as cluster:
        a, b = cluster.instance_urls
        session = _session(a)
        intent = history.new_intent(key=str(uuid.uuid4()))
        first = threading.Thread(
            target=lambda: history.record(intent, attempt_payment(session, a, intent, 5.0))
        )
        first.start()
        step = _wait_for_step(cluster, "charged")
        cluster.kill(0)
        first.join(timeout=WAIT_SECONDS)
        pay_until_acknowledged(history, session, [b], intent, 5.0, pause=0.3)
        charges = _charges(session, b)
    answers = [attempt.label for attempt in intent.attempts[1:]]  # the first was A's
    return ResumeRun(step, answers, check(history, charges))


@dataclass(frozen=True)
class ResendRun:
    """One ``POST /payments`` through a balancer that gives up on a slow instance."""

    retry: str  # the balancer's setting: "idempotent" (nginx's default) or "all"
    status: int  # what the client got back
    resent: int  # times the balancer sent the POST to another instance
    charges: int

    def summary(self) -> str:
        return (
            f"retry={self.retry!r}: the client got {self.status}; the balancer resent the POST "
            f"{self.resent} time(s); charges made: {self.charges}"
        )


def balancer_resends(retry: str) -> ResendRun:
    """One payment, without keys, through the readable balancer with ``retry`` and an upstream
    timeout of ``BALANCER_TIMEOUT``, against instances that answer ``ANSWER_DELAY`` after the
    charge. With ``retry="all"`` the balancer resends the timed-out POST to the next instance."""
    env = {"IDEMPOTENCY": "off", "ANSWER_DELAY": str(ANSWER_DELAY)}
    with ProcessCluster(
        "payments",
        instances=2,
        balancer="python",
        retry=retry,
        upstream_timeout=BALANCER_TIMEOUT,
        env=env,
    ) as cluster:
        session = _session(cluster.url)
        body = {"amount_cents": 1_000, "currency": "EUR"}
        answer = session.post(cluster.url + "/payments", json=body, timeout=WAIT_SECONDS)
        time.sleep(ANSWER_DELAY)  # the slow answers finish: their charges were made before them
        # Straight to an instance: the balancer leaves out, for a while, one that timed out.
        charges = _charges(session, cluster.instance_urls[0])
        resent = cluster.balancer.retried["POST"]
    return ResendRun(retry, answer.status_code, resent, len(charges))


def nginx_retry_lines(retry: str) -> str:
    """The lines of the nginx configuration the cluster generates that decide whether a
    timed-out request is sent again, for ``retry`` (``"idempotent"``: nginx's default)."""
    config = nginx_config(
        [("A", 8001), ("B", 8002)], 8000, "round_robin", "/tmp", retry, BALANCER_TIMEOUT
    )
    wanted = ("proxy_next_upstream", "proxy_read_timeout")
    return "\n".join(
        line.strip() for line in config.splitlines() if line.strip().startswith(wanted)
    )
