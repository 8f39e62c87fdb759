"""Everything shared but payments: each instance keeps its own idempotency records and its own
ledger, and names a payment after its user and key. Each instance charges the first copy it sees
(three charges for one payment on three instances), yet every instance lists the same payment
id, so only its answers tell: more than one copy answered as a new payment."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.shop_app import confirmed

from . import with_part


class PerInstancePayments:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        self.ledger: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def pay(self, user: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        with self._lock:
            if (user, key) in self.records:
                first_body, answer = self.records[user, key]
                if first_body != body:
                    return 422, {"error": "this Idempotency-Key was used with another body"}, False
                return 201, answer, True
            named = hashlib.sha256(f"{user}:{key}".encode()).hexdigest()[:16]
            answer = {**confirmed(body), "payment_id": f"pay_{named}"}
            self.records[user, key] = (body, answer)
            self.ledger.setdefault(user, []).append({"payment_id": answer["payment_id"], **body})
            return 201, answer, False

    def charges(self, user: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.ledger.get(user, []))


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(
        instance_id, redis, config, payments=lambda store, config: PerInstancePayments()
    )
