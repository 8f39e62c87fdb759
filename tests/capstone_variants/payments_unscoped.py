"""Everything shared, payments idempotent, but the keys are NOT scoped per user: one record per
key for the whole shop, so bob, sending the key alice used with the same body, gets alice's
answer replayed (her payment id, and no charge of his own)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from labs.solutions.capstone_shop import IdempotentPayments
from labs.solutions.ex10_idempotency import idempotent

from . import with_part

EVERYONE = "shop"  # the one scope every user's keys share: the bug


class UnscopedPayments(IdempotentPayments):
    def pay(self, user: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        handle = idempotent(lambda _scope, body: self.ledger.charge(user, body))
        return handle(self.records, EVERYONE, key, body)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    def unscoped(store: Redis, config: dict[str, Any]) -> UnscopedPayments:
        return UnscopedPayments(store, config.get("KEY_PREFIX") or "", instance_id)

    return with_part(instance_id, redis, config, payments=unscoped)
