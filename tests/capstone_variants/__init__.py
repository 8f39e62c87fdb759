"""Half-fixed capstone shops, for the checker's meta-tests: each is the reference solution
(:mod:`labs.solutions.capstone_shop`) with ONE part swapped for a broken one, and the checker
must name that one property, and only it.

Every module exposes ``create_app(instance_id="A", redis=None, config=None)`` and says in its
docstring what is still wrong. :func:`with_part` builds one: the solution's shared parts, one
replaced (given the store, so a part that needs it can have it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Flask
from redis import Redis

from labs.apps.shop_app import build_app
from labs.solutions.capstone_shop import shared_parts, store_of


def with_part(
    instance_id: str,
    redis: Redis | None,
    config: dict[str, Any] | None,
    **swapped: Callable[[Redis, dict[str, Any]], Any],
) -> Flask:
    """The solution's shop with each part named in ``swapped`` made by its function, called
    with ``(store, config)``: ``with_part(..., quota=lambda store, config: MemoryQuota())``."""
    store = store_of(redis)
    parts = shared_parts(instance_id, store, config)
    made = {name: make(store, dict(config or {})) for name, make in swapped.items()}
    return build_app(instance_id, config, dataclasses.replace(parts, **made))
