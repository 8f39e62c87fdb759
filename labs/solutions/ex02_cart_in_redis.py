"""Reference solution for exercise 02: the cart lives in the session's Redis hash.

One field per item, ``item:<sku>``, in the hash ``session:<id>`` that already holds the user:
``HINCRBY`` adds atomically (two instances adding at once both count) and, like every hash
command, keeps the key's TTL, so the cart expires with its session and needs no key of its own.
This is what ``labs/apps/stateless_app.py`` does.
"""

from __future__ import annotations

from redis import Redis

ITEM = "item:"


class CartService:
    """One instance's cart logic; it remembers nothing itself, so any instance will do."""

    def __init__(self, store: Redis) -> None:
        self.store = store

    def add_item(self, session_id: str, sku: str, qty: int) -> dict[str, int]:
        self.store.hincrby(f"session:{session_id}", ITEM + sku, qty)
        return self.get_cart(session_id)

    def get_cart(self, session_id: str) -> dict[str, int]:
        fields = self.store.hgetall(f"session:{session_id}")
        return {f.removeprefix(ITEM): int(q) for f, q in fields.items() if f.startswith(ITEM)}
