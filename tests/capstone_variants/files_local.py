"""Everything shared but uploads: they still go to a temporary directory on the instance's own
disk, so a file uploaded to A is 404 on B, and gone when A restarts."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.files_app import DiskFiles

from . import with_part


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, files=lambda store, config: DiskFiles())
