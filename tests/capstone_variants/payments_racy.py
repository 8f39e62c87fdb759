"""Everything shared, payments scoped per user, but the key is checked by GET, then SET after
the charge: two separate round trips, not one atomic claim. Two duplicates arriving together
both read "no record", and both charge."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from redis import Redis

from labs.solutions.capstone_shop import RedisLedger
from labs.solutions.ex10_idempotency import TTL_SECONDS

from . import with_part


class CheckThenSetPayments:
    def __init__(self, store: Redis, prefix: str, instance_id: str) -> None:
        self.store, self.prefix = store, prefix
        self.ledger = RedisLedger(store, prefix, instance_id)

    def pay(self, user: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        record = f"{self.prefix}idem:{user}:{key}"
        raw = self.store.get(record)  # round trip 1: is there a record?
        if raw is not None:
            stored = json.loads(raw)
            if stored["body"] != body:
                return 422, {"error": "this Idempotency-Key was used with another body"}, False
            return stored["status"], stored["answer"], True
        # The gap: another request with this key, here now, also found no record.
        status, answer = self.ledger.charge(user, body)
        done = {"body": body, "status": status, "answer": answer}
        self.store.set(record, json.dumps(done), ex=TTL_SECONDS)  # round trip 2, too late
        return status, answer, False

    def charges(self, user: str) -> list[dict[str, Any]]:
        return self.ledger.charges(user)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    def racy(store: Redis, config: dict[str, Any]) -> CheckThenSetPayments:
        return CheckThenSetPayments(store, config.get("KEY_PREFIX") or "", instance_id)

    return with_part(instance_id, redis, config, payments=racy)
