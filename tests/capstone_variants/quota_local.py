"""Everything shared but the quota: each instance still counts in its own memory, so behind N
instances a user gets N × ``RATE_LIMIT`` requests per window."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.shop_app import MemoryQuota

from . import with_part


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, quota=lambda store, config: MemoryQuota())
