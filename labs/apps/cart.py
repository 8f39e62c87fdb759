"""A cart in a Redis hash, changed safely by any number of instances at once.

Adding to a cart is *read, check, write*: read the cart, check the limits (at most ``QTY_MAX``
of one item, ``CART_MAX_LINES`` lines), write the new quantity. Done naively, two instances
serving the same user at the same moment both read 98 pens, both allow one more, and the cart
ends at 100 (or, if each writes the quantity it computed, at 99 with one add silently lost).
One process with one thread never sees this; a stateless service, where any instance may serve
any request, sees it under load.

Redis closes the gap with an optimistic transaction:

1. ``WATCH`` the cart's key, then read it;
2. check the limits in Python;
3. ``MULTI`` … ``EXEC`` the write.

If any other client changed the key between 1 and 3, ``EXEC`` does nothing and redis-py raises
``WatchError``; :meth:`redis.Redis.transaction` then starts again from the read, which now sees
the other request's add. Nobody waits on a lock, and a conflict costs one more round trip.
"""

from __future__ import annotations

from redis import Redis
from redis.client import Pipeline
from werkzeug.exceptions import Unauthorized

from labs.apps.web import add_to_cart


def cart_from_hash(fields: dict[str, str], prefix: str = "") -> dict[str, int]:
    """The cart in a Redis hash: every field that starts with ``prefix`` is ``sku -> qty``."""
    return {f.removeprefix(prefix): int(q) for f, q in fields.items() if f.startswith(prefix)}


def add_to_stored_cart(
    store: Redis,
    key: str,
    sku: str,
    qty: int,
    *,
    prefix: str = "",
    ttl: int | None = None,
    require: str | None = None,
) -> dict[str, int]:
    """Add ``qty`` of ``sku`` to the cart hash at ``key``, limits checked, atomically.

    Returns the cart after the add; a 400 (``BadRequest``) if it would break a limit.
    ``prefix``: the cart's fields are ``prefix + sku`` (the hash may hold other fields).
    ``ttl``: set the key's expiry again in the same transaction. ``require``: a field that
    must be in the hash, else 401; a session hash that vanished (logout on another instance,
    expiry) between the caller's check and this write is not brought back as a stray key.
    """

    def attempt(pipe: Pipeline) -> dict[str, int]:
        fields = pipe.hgetall(key)  # after WATCH: a read now, not a queued command
        if require is not None and require not in fields:
            raise Unauthorized("not logged in (the session expired or never existed)")
        items = add_to_cart(cart_from_hash(fields, prefix), sku, qty)
        pipe.multi()
        pipe.hincrby(key, prefix + sku, qty)
        if ttl is not None:
            pipe.expire(key, ttl)
        return items

    return store.transaction(attempt, key, value_from_callable=True)
