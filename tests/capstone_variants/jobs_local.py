"""Files shared, but jobs still queued in the instance and run by its own thread: another
instance answers 404 for the job, and a killed instance loses it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.jobs_app import MemoryJobs

from . import with_part


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, jobs=lambda store, config: MemoryJobs())
