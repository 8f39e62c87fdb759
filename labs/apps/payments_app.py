"""Lesson 10: payments that a retry cannot charge twice.

The app is ``labs/apps/stateless_app.py`` (login, ``/me``, cart, sessions in Redis) plus the
payment routes of COURSE_DESIGN §6b:

* ``POST /payments`` JSON ``{"amount_cents": int, "currency": "EUR"|"USD"|"GBP"}`` (logged in)
  → 201 ``{"payment_id", "amount_cents", "currency", "status": "confirmed"}``; 400 for a bad
  body (``amount_cents`` a whole number from 1 to :data:`MAX_AMOUNT_CENTS`) or a missing or
  malformed ``Idempotency-Key``, 401 without a session;
* ``GET /payments`` → 200 ``{"payments": [...]}``: every charge made for the user, duplicates
  included (how a lesson counts them).

**A payment is three steps**, each recorded in Redis before the next begins: *reserve* (hold the
amount), *charge* (the money moves: the charge is appended to the user's charges, and the
step recorded, in one ``MULTI``), *confirm*. ``STEP_DELAY`` (seconds) waits between them, so a
lesson can kill the instance between two steps; ``ANSWER_DELAY`` waits after the last one,
before answering (a slow answer: the client times out although the payment is done).

``config["IDEMPOTENCY"]`` (config, else environment, default ``"on"``):

* ``"off"``: the anti-pattern. Every request is a new payment: a client that retries after a
  timeout, or a balancer that resends a ``POST``, charges again.
* ``"on"``: every ``POST /payments`` carries an ``Idempotency-Key`` (1-255 printable ASCII
  characters, e.g. a UUID), scoped to the user. Its record, ``<prefix>idem:<user>:<sha256 of
  the key>``, holds a fingerprint of the body, the step reached and, once done, the answer:

  - the first request with a key takes a *lease* (``SET <prefix>idem-lease:... NX PX``,
    ``LEASE_SECONDS``, renewed at every step) and runs the steps;
  - the same key and body again: the stored status and body, with ``Idempotent-Replayed:
    true``; another body: 422; the same key while its lease is held: 409 (try again later);
  - a lease that lapsed (its holder died mid-payment): the next request with the key takes it
    over and *resumes from the recorded step*: a charge already made is not made again;
  - records expire ``IDEMPOTENCY_TTL`` seconds (24 h) after the first request.

As Stripe does: keys up to 255 characters, scoped to the account (here the user), kept at least
24 hours, the body compared with the first request's, a concurrent request refused with 409,
nothing saved for a request refused before it started (validation). Where it differs: a reused
key with another body is 422 (the IETF draft on the ``Idempotency-Key`` header), not 400; only
a completed payment's answer is stored and replayed (a request that failed on the way, e.g. a
503 while Redis was away, is resumed by its retry, as Stripe's API v2 does, not replayed).

``config["IDEMPOTENCY_LAYER"]`` (a module path, e.g. exercise 10's ``my_idempotency``) replaces
the app's own key handling with a learner's: the module's ``idempotent(pay)`` wraps the bare
payment ``pay(user, body) -> (status, answer)``, which charges at every call, and returns
``handle(store, user, key, body) -> (status, answer, replayed)``, which the route answers with.
The app still checks the key and the body first (a 400 never reaches the layer).

While an instance makes a payment, ``<prefix>paying:<user>`` names it (for at most the lease),
so that a lesson or a check can kill the instance in the middle of a payment.

Other settings (config, else environment): ``KEY_PREFIX`` (the cluster's prefix).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from redis import Redis
from redis.exceptions import WatchError
from werkzeug.exceptions import BadRequest, Conflict

from labs.apps import stateless_app
from labs.apps.stateless_app import session_user
from labs.apps.web import choice_setting, error, float_setting, int_setting, json_body, text_setting
from labs.learner_code import plugged_module
from labs.redis_store import lazy_redis

MODES = ("off", "on")
CURRENCIES = ("EUR", "USD", "GBP")
MAX_AMOUNT_CENTS = 1_000_000  # 10,000.00: a lab shop, not a bank
MAX_KEY_CHARS = 255
STEPS = ("reserved", "charged", "confirmed")
DEFAULT_LEASE_SECONDS = 10
DEFAULT_IDEMPOTENCY_TTL = 24 * 3600
MAX_DELAY_SECONDS = 10.0
CHARGES_TTL_SECONDS = 30 * 24 * 3600  # the lab's ledger: a month, then Redis forgets it
EXTENSION = "payments"


def payment_body() -> dict[str, Any]:
    """``{"amount_cents", "currency"}`` from the request, checked; a 400 otherwise."""
    body = json_body()
    amount = body.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BadRequest("'amount_cents' must be a whole number of cents")
    if not 1 <= amount <= MAX_AMOUNT_CENTS:
        raise BadRequest(f"'amount_cents' must be from 1 to {MAX_AMOUNT_CENTS}")
    currency = body.get("currency")
    if currency not in CURRENCIES:
        raise BadRequest(f"'currency' must be one of {', '.join(CURRENCIES)}")
    extra = sorted(set(body) - {"amount_cents", "currency"})
    if extra:
        raise BadRequest(f"unknown field {extra[0][:40]!r}")
    return {"amount_cents": amount, "currency": currency}


def idempotency_key() -> str:
    """The request's ``Idempotency-Key``: 1-255 printable ASCII characters; a 400 otherwise."""
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        raise BadRequest("send an Idempotency-Key header (a UUID, new for each payment)")
    if len(key) > MAX_KEY_CHARS or not all("!" <= char <= "~" for char in key):
        raise BadRequest(f"the Idempotency-Key must be 1-{MAX_KEY_CHARS} printable characters")
    return key


def fingerprint(body: dict[str, Any]) -> str:
    """What "the same body" means: the checked fields, in a canonical form, hashed."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance; every instance given the same Redis shares the charges and the keys."""
    config = dict(config or {})
    store = redis if redis is not None else lazy_redis()
    app = stateless_app.create_app(instance_id, store, config)
    mode = choice_setting(config, "IDEMPOTENCY", "on", MODES)
    prefix = text_setting(config, "KEY_PREFIX")
    step_delay = float_setting(app.config, "STEP_DELAY", 0.0, MAX_DELAY_SECONDS)
    answer_delay = float_setting(app.config, "ANSWER_DELAY", 0.0, MAX_DELAY_SECONDS)
    lease_ms = 1000 * int_setting(app.config, "LEASE_SECONDS", DEFAULT_LEASE_SECONDS, 1, 300)
    key_ttl = int_setting(
        app.config, "IDEMPOTENCY_TTL", DEFAULT_IDEMPOTENCY_TTL, 60, 30 * 24 * 3600
    )
    ttl = stateless_app.session_ttl(app.config)
    layer = text_setting(config, "IDEMPOTENCY_LAYER")
    app.extensions[EXTENSION] = {"mode": mode, "layer": layer}

    def charges_key(user: str) -> str:
        return f"{prefix}payments:{user}"

    def run_steps(
        user: str,
        body: dict[str, Any],
        payment_id: str,
        done: str,
        record: str,
        lease: str,
        token: str,
    ) -> dict[str, Any]:
        """Reserve, charge, confirm: each step after ``done`` (the step already recorded),
        each recorded with the payment before the next begins."""
        answer = {"payment_id": payment_id, **body, "status": "confirmed"}
        for step in STEPS[STEPS.index(done) + 1 if done else 0 :]:
            with store.pipeline(transaction=True) as pipe:
                try:
                    if lease:  # the step happens only while this attempt holds the lease
                        pipe.watch(lease)
                        if pipe.get(lease) != token:
                            raise WatchError
                    pipe.multi()
                    if step == "charged":  # the money moves, and the step says so, together
                        charge = {"payment_id": payment_id, **body, "instance": instance_id}
                        pipe.rpush(charges_key(user), json.dumps(charge))
                        pipe.expire(charges_key(user), CHARGES_TTL_SECONDS)
                    if record:
                        pipe.hset(record, mapping={"step": step, "payment_id": payment_id})
                        pipe.pexpire(lease, lease_ms)  # renewed: this attempt is alive
                    pipe.execute()
                except WatchError:  # our lease lapsed, and another attempt took it over
                    raise Conflict(
                        "another attempt with this Idempotency-Key took over; retry"
                    ) from None
            if step != STEPS[-1]:
                time.sleep(step_delay)  # a kill now lands between two steps
        return answer

    def pay_once(user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The payment with no protection of its own: every call charges."""
        paying = f"{prefix}paying:{user}"
        store.set(paying, instance_id, px=lease_ms)
        answer = run_steps(user, body, "pay_" + secrets.token_hex(8), "", "", "", "")
        store.delete(paying)
        return 201, answer

    handle = None
    if mode == "on" and layer:
        handle = plugged_module("IDEMPOTENCY_LAYER", layer, ("idempotent",)).idempotent(pay_once)
        if not callable(handle):
            raise ValueError(f"{layer}.idempotent(pay) must return a function, not {handle!r}")

    def layered(user: str) -> Response:
        """``POST /payments`` through the learner's layer: its answer, checked."""
        key, body = idempotency_key(), payment_body()
        outcome = handle(store, user, key, body)
        if not (isinstance(outcome, tuple) and len(outcome) == 3):
            raise TypeError(f"handle() must return (status, answer, replayed), not {outcome!r}")
        status, answer, replayed = outcome
        response = Response(json.dumps(answer), int(status), mimetype="application/json")
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        time.sleep(answer_delay)
        return response

    @app.post("/payments")
    def pay() -> Response | tuple[Response, int]:
        user = session_user(store, ttl)
        if handle is not None:
            return layered(user)
        if mode == "off":
            _, answer = pay_once(user, payment_body())
            time.sleep(answer_delay)  # done, but the answer is slow: the client may give up
            return jsonify(answer), 201
        key = idempotency_key()
        body = payment_body()  # refused before anything is saved: a 400 is never replayed
        digest = hashlib.sha256(key.encode()).hexdigest()
        record, lease = f"{prefix}idem:{user}:{digest}", f"{prefix}idem-lease:{user}:{digest}"
        token = secrets.token_hex(8)
        holds = bool(store.set(lease, token, nx=True, px=lease_ms))
        stored = store.hgetall(record)
        if stored and stored.get("fp") != fingerprint(body):
            if holds:
                store.delete(lease)
            return error(422, "this Idempotency-Key was used with another body")
        if stored.get("state") == "done":
            if holds:
                store.delete(lease)
            response = Response(stored["body"], int(stored["status"]), mimetype="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        if not holds:
            return error(409, "a request with this Idempotency-Key is in progress; retry later")
        if not stored:
            first = {"fp": fingerprint(body), "state": "running", "step": ""}
            store.pipeline(transaction=True).hset(record, mapping=first).expire(
                record, key_ttl
            ).execute()
        payment_id = stored.get("payment_id") or "pay_" + secrets.token_hex(8)
        answer = run_steps(user, body, payment_id, stored.get("step", ""), record, lease, token)
        text = json.dumps(answer)
        pipe = store.pipeline(transaction=True)
        pipe.hset(record, mapping={"state": "done", "status": 201, "body": text})
        pipe.delete(lease)
        pipe.execute()
        time.sleep(answer_delay)  # done and stored: a retry from now on is replayed
        return Response(text, 201, mimetype="application/json")

    @app.get("/payments")
    def payments() -> Response:
        user = session_user(store, ttl)
        charges = [json.loads(item) for item in store.lrange(charges_key(user), 0, -1)]
        return jsonify(payments=charges)

    return app
