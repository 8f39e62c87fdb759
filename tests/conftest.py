"""Shared fixtures.

``store`` is the Redis the lab tests run against: a fresh fakeredis server per
test by default, or the real server named by ``REDIS_URL`` (flushed before and
after each test), so the same tests run unchanged in CI's real-Redis pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from labs.redis_store import connect


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    url = os.environ.get("REDIS_URL")
    if url:
        client = connect(url)
        client.flushdb()
        yield client
        client.flushdb()
        client.close()
    else:
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


@pytest.fixture
def store_factory(store: redis.Redis):
    """Another client on the same server as ``store`` (a second instance's connection)."""
    url = os.environ.get("REDIS_URL")

    def make() -> redis.Redis:
        if url:
            return connect(url)
        return fakeredis.FakeRedis(
            server=store.connection_pool.connection_kwargs["server"], decode_responses=True
        )

    return make
