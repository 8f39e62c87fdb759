"""What lab tests share to make an app: a fresh store (fakeredis, or the real server of
``REDIS_URL``, flushed) and the secrets every app is given, so none falls back to its
development default."""

from __future__ import annotations

import os

import fakeredis
import redis

from labs.redis_store import connect

SECRETS = {
    "SECRET_KEY": "test-secret-key-of-32-bytes-or-more",
    "JWT_SECRET": "test-jwt-secret-of-32-bytes-or-more",
}


def fresh_store() -> redis.Redis:
    """An empty store: a new fakeredis server, or the ``REDIS_URL`` database flushed."""
    url = os.environ.get("REDIS_URL")
    if url:
        client = connect(url)
        client.flushdb()
        return client
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
