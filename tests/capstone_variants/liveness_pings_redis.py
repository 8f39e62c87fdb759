"""Everything shared, but liveness pings Redis (lesson 11's deep probe): when Redis is
unreachable every instance's ``/healthz`` fails at once, and the supervisor restarts the whole
fleet, which cannot bring Redis back."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask
from redis import Redis

from labs.apps import deep_probes
from labs.apps.probes import Instance

from . import with_part


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    def deep_liveness(store: Redis, config: dict[str, Any]) -> Any:
        return functools.partial(deep_probes.liveness, Instance(instance_id, store))

    return with_part(instance_id, redis, config, liveness=deep_liveness)
