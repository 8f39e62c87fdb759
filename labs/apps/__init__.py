"""The lab apps, one module each, and the HTTP plumbing they share (COURSE_DESIGN §6, §6b).

``APPS`` names every app: clusters, experiments, notebooks and checks take one of these short
names (``LocalCluster("stateless")``, ``ProcessCluster("jwt")``), or a module path of their own
(a learner's ``my_shop``). Every app module exposes ``create_app(instance_id="A", redis=None,
config=None) -> Flask``.

* ``stateful_app``: sessions and carts in the instance's memory, on purpose (lessons 01, 04);
* ``stateless_app``: sessions and carts in Redis (lesson 02 on);
* ``jwt_app``: signed tokens, with a Redis denylist for revocation (lesson 07);
* ``race_app``: the stateless app whose "current user" sits in a class attribute (``STATE``
  "memory") or in ``flask.g`` ("shared") (lesson 08);
* ``quota_app``: the stateless app plus ``GET /quota`` (a fixed-window rate limit), a cached
  product read and a like counter, each in the instance or in Redis (lesson 08);
* ``files_app``: uploads kept on the instance's disk (``STATE`` "memory") or in object storage
  through the S3 API ("shared") (lesson 09);
* ``jobs_app``: background jobs in a queue and a thread of the instance ("memory"), or in a
  Redis Streams queue that separate worker processes serve ("shared") (lesson 09);
* ``events_app``: a server-sent event stream per user, fanned out inside the instance
  ("memory") or through Redis ("shared") (lesson 09);
* ``payments_app``: payments in three recorded steps, with or without an ``Idempotency-Key``
  (``IDEMPOTENCY`` "on" or "off") (lesson 10);
* ``cookie_app``: the whole session (user and cart) in the browser's cookie, signed or encrypted
  (``COOKIE_SESSION``), no store at all (lesson 12);
* ``shop_app``: the capstone's starter, every route of §6 and §6b with every kind of state in
  the instance, on purpose, each kind a swappable part (lesson 13).

``from_environment`` builds an app for a server that passes no arguments (a container's
gunicorn, ``deploy/``): the instance id comes from ``INSTANCE_ID``, else the host's name.

What they share: ``web`` (``X-Instance``, JSON errors, health routes, body parsing),
``users`` (the demo users, hashed), ``cart`` (a cart in a Redis hash, changed atomically),
``draining`` (is this instance shutting down?), ``probes`` (what ``/healthz`` and ``/readyz``
check; ``deep_probes``: lesson 11's liveness that pings Redis, the anti-pattern).
"""

from __future__ import annotations

import importlib
import os
import re
import socket
from types import ModuleType
from typing import Any

APPS: dict[str, str] = {
    "stateful": "labs.apps.stateful_app",
    "stateless": "labs.apps.stateless_app",
    "jwt": "labs.apps.jwt_app",
    "race": "labs.apps.race_app",
    "quota": "labs.apps.quota_app",
    "files": "labs.apps.files_app",
    "jobs": "labs.apps.jobs_app",
    "events": "labs.apps.events_app",
    "payments": "labs.apps.payments_app",
    "cookie": "labs.apps.cookie_app",
    "shop": "labs.apps.shop_app",
}


def module_path(app: str) -> str:
    """The module path of ``app``: a name from ``APPS``, or already a dotted module path."""
    if app in APPS:
        return APPS[app]
    if "." in app or app.isidentifier():
        return app
    raise ValueError(f"unknown lab app {app!r}: use one of {', '.join(APPS)} or a module path")


def app_module(app: str | ModuleType) -> ModuleType:
    """The module of ``app`` (a name from ``APPS``, a module path, or the module itself)."""
    if isinstance(app, ModuleType):
        return app
    path = module_path(app)
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as missing:
        if missing.name and path.startswith(missing.name):
            names = ", ".join(APPS)
            raise ValueError(f"no lab app {app!r}: use one of {names} or a module path") from None
        raise


INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # a DNS label, or close


def from_environment(app: str = "stateless") -> Any:
    """The app ``app`` (a name from ``APPS`` or a module path) with its instance id taken from
    the environment: ``INSTANCE_ID`` (compose sets one per service; Kubernetes the pod's name,
    through the downward API), else this host's name (a container's hostname is its id). The
    image's gunicorn command is ``labs.apps:from_environment('stateless')``: one command for
    every replica, each answering with its own ``X-Instance``."""
    given = os.environ.get("INSTANCE_ID", "").strip()
    instance_id = given or socket.gethostname()
    if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        source = "INSTANCE_ID" if given else "the host name"
        raise ValueError(
            f"{source} {instance_id!r} cannot be an instance id (it goes in the X-Instance "
            "header): use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter "
            "or a digit"
        )
    return app_module(app).create_app(instance_id=instance_id)
