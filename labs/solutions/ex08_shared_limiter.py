"""Reference solution for exercise 08: the rate limiter's count lives in Redis.

One key per user and fixed window, ``<key>:<window number>``. ``INCR`` counts and answers the
new count in one step (no instance reads a count that another is about to change), and
``EXPIRE ... NX`` gives a new key the window's lifetime (later hits leave it alone); both go in
one ``MULTI``/``EXEC`` transaction, so no key is ever left without its TTL. This is
``shared_hit`` in ``labs/apps/quota_app.py``.
In the notebook, this is the cell ``%%writefile my_limiter.py``.
"""

from __future__ import annotations

import math


def hit(store, key, limit, window, now):
    """Count one request of ``key`` in the fixed window holding ``now``:
    ``(allowed, count, retry_after)``."""
    number = int(now // window)
    counter = f"{key}:{number}"
    pipe = store.pipeline(transaction=True)
    count, _ = pipe.incr(counter).expire(counter, window, nx=True).execute()
    retry_after = max(1, math.ceil((number + 1) * window - now))
    return count <= limit, count, retry_after
