"""Exercise 10, one solution: one JSON record per (user, key) in Redis, claimed with SET NX.

``SET record running NX EX lease`` is the claim: of all the instances that receive the same key at
once, exactly one wins it, and its claim lapses by itself if the instance dies mid-payment. The
winner pays, then overwrites the record with the answer, kept a day. Everyone else reads the
record: another body is a 422, a payment still running a 409, a finished one its answer, replayed.
"""

import json

TTL_SECONDS = 24 * 3600  # how long a key's answer is kept (Stripe: at least 24 hours)
LEASE_SECONDS = 2  # how long a running request holds its key: longer than a payment takes


def idempotent(pay):
    """Wrap ``pay(user, body) -> (status, answer)``: ``handle(store, user, key, body)``."""

    def handle(store, user, key, body):
        record = f"idem:{user}:{key}"  # scoped to the user: bob's key is not alice's
        running = json.dumps({"state": "running", "body": body})
        if store.set(record, running, nx=True, ex=LEASE_SECONDS):  # won the key: pay, once
            status, answer = pay(user, body)
            done = {"state": "done", "body": body, "status": status, "answer": answer}
            store.set(record, json.dumps(done), ex=TTL_SECONDS)
            return status, answer, False
        raw = store.get(record)
        if raw is None:  # the lease lapsed a moment ago: its retry takes the key over
            return 409, {"error": "a request with this key is in progress; retry"}, False
        stored = json.loads(raw)
        if stored["body"] != body:
            return 422, {"error": "this Idempotency-Key was used with another body"}, False
        if stored["state"] == "running":
            return 409, {"error": "a request with this key is in progress; retry"}, False
        return stored["status"], stored["answer"], True

    return handle
