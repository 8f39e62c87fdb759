"""Everything shared but uploads: they go to one fixed folder in the machine's temporary
directory. Three instances on one laptop would share it and seem to pass; on three machines (the
audit gives each instance a TMPDIR of its own) a file uploaded to A is 404 on B and C."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.files_app import DiskFiles

from . import with_part


class FixedFolderFiles(DiskFiles):
    def __init__(self) -> None:
        super().__init__()
        self.directory = os.path.join(tempfile.gettempdir(), "sbd-shop-uploads")
        os.makedirs(self.directory, exist_ok=True)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    return with_part(instance_id, redis, config, files=lambda store, config: FixedFolderFiles())
