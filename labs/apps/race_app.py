"""Lesson 08: "the current user" kept in the process, where every thread of a worker sees it.

The stateless app (``labs/apps/stateless_app.py``: sessions in Redis, the same routes) with one
change. A ``before_request`` hook finds out who is logged in, and ``GET /me`` answers with that
user after waiting ``IO_WAIT_SECONDS``: a stand-in for a database call (the lesson's experiment,
``labs/hidden_state.py``, sets 0.05 s; the default is 0, so that tests sending thousands of
requests stay quick). Where the hook keeps the user is ``STATE`` (the app's config, else the
environment):

* ``"memory"`` (the anti-pattern): in a class attribute, ``CurrentUser.name``: one per
  *process*. A gunicorn ``gthread`` worker serves several requests at once, in threads of one
  process, so while alice's request waits, bob's hook overwrites the name and alice is answered
  "bob". With one thread the requests never overlap, and neither does a test that sends one
  request at a time: the bug stays hidden until production traffic arrives.
* ``"shared"`` (the default, the fix): in ``flask.g``, which lives on the *application*
  context; Flask pushes a fresh one for every request, in the thread that serves it, so each
  request (and each thread) sees its own ``g``. The user comes from the shared store every
  time; nothing about one request outlives it in the process.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from redis import Redis
from werkzeug.exceptions import Unauthorized

from labs.apps import stateless_app
from labs.redis_store import lazy_redis

STATES = ("memory", "shared")
DEFAULT_IO_WAIT_SECONDS = 0.0
MAX_IO_WAIT_SECONDS = 10.0


class CurrentUser:
    """The anti-pattern: who "the current user" is, once per process, for every thread."""

    name: str | None = None


def query_database(seconds: float) -> None:
    """Stand-in for a database call: the thread waits, and other threads run meanwhile."""
    time.sleep(seconds)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance of the stateless app whose ``GET /me`` reads the user a hook remembered."""
    settings = {**os.environ, **(config or {})}
    state, io_wait = state_setting(settings), io_wait_setting(settings)
    store = redis if redis is not None else lazy_redis()
    app = stateless_app.create_app(instance_id, store, config)

    @app.before_request
    def remember_current_user() -> None:
        session_id = request.cookies.get(stateless_app.COOKIE, "")
        user = None
        if session_id and len(session_id) <= stateless_app.MAX_SESSION_ID_CHARS:
            user = store.hget(stateless_app.session_key(session_id), "user")
        if state == "memory":
            CurrentUser.name = user  # one attribute, shared by every thread of this process
        else:
            g.user = user  # this request's own

    def current_user() -> str | None:
        return CurrentUser.name if state == "memory" else g.user

    def me() -> Response:
        if current_user() is None:
            raise Unauthorized("not logged in")
        query_database(io_wait)
        return jsonify(user=current_user(), instance=instance_id)  # read back after the wait

    app.view_functions["me"] = me  # replaces the stateless app's GET /me
    return app


def state_setting(settings: dict[str, Any]) -> str:
    """``STATE``: ``"memory"`` or ``"shared"`` (the default); anything else stops the app."""
    state = settings.get("STATE") or "shared"
    if state not in STATES:
        raise ValueError(f"STATE must be one of {STATES}, got {state!r}")
    return state


def io_wait_setting(settings: dict[str, Any]) -> float:
    """``IO_WAIT_SECONDS``: from 0 to 10 seconds; anything else stops the app, naming it."""
    value = settings.get("IO_WAIT_SECONDS", DEFAULT_IO_WAIT_SECONDS)
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 <= seconds <= MAX_IO_WAIT_SECONDS:  # NaN fails this too
        raise ValueError(
            f"IO_WAIT_SECONDS must be from 0 to {MAX_IO_WAIT_SECONDS:g} seconds, got {value!r}"
        )
    return seconds
