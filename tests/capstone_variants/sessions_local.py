"""Everything shared but sessions and carts: they still live in the instance's dict, so a user
logged in on A is a stranger (401) on B."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.shop_app import MemorySessions

from . import with_part


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, sessions=lambda store, config: MemorySessions())
