"""Everything shared, but readiness always says no: with Redis up, every /readyz is 503, so a
balancer that trusts it has no instance to send to. (During a Redis outage it is right by
accident: the audit asks with Redis up too.)"""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from . import with_part


def never() -> bool:
    return False


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, readiness=lambda store, config: never)
