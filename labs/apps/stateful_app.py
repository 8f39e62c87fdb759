"""Lesson 01: sessions and carts kept in the memory of the process. THE ANTI-PATTERN, ON PURPOSE.

!!! Do not copy this design into a service that runs more than one instance. !!!

Every ``create_app()`` call is one instance with its *own* ``sessions`` dictionary, made
inside the factory. A user who logs in on instance A has a session only in A's memory:

* the load balancer sends their next request to instance B, which has never heard of them:
  401, "logged out" (lesson 01);
* instance A restarts, crashes or is replaced by a deploy: every session on it is gone
  (lessons 04 and 05);
* sessions never expire, so memory only grows.

Everything else is as it should be (random session ids, HttpOnly cookies, a fresh id at every
login, validated input, JSON errors), so that the *only* difference from
``labs/apps/stateless_app.py`` is where the state lives. Compare the two files side by side.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import Unauthorized

from labs.apps.users import verify_password
from labs.apps.web import (
    add_health_routes,
    add_to_cart,
    cart_item,
    cart_json,
    create_base_app,
    credentials,
    error,
)

COOKIE = "session"
MAX_SESSION_ID_CHARS = 128  # a real id is 43 characters; anything far longer is garbage
MEMORY = "sessions"  # app.extensions[MEMORY]: this instance's sessions (to look inside)


def sessions_of(app: Flask) -> dict[str, dict[str, Any]]:
    """The sessions held in ``app``'s memory: ``{session id: {"user", "cart"}}``."""
    return app.extensions[MEMORY]


def create_app(
    instance_id: str = "A", redis: object = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance: its sessions live in a dict that only this instance can see.

    ``redis`` is accepted for the common contract and ignored: nothing here is shared.
    """
    app = create_base_app(__name__, instance_id, config)
    # THE STATE: session id -> {"user": name, "cart": {sku: qty}}, in this process's memory.
    sessions: dict[str, dict[str, Any]] = {}
    app.extensions[MEMORY] = sessions

    def current_session() -> dict[str, Any]:
        """The session named by the request's cookie, if *this* instance has it; else 401."""
        session_id = request.cookies.get(COOKIE, "")
        session = sessions.get(session_id) if len(session_id) <= MAX_SESSION_ID_CHARS else None
        if session is None:
            raise Unauthorized("not logged in (no session on this instance)")
        return session

    @app.post("/login")
    def login() -> Response | tuple[Response, int]:
        username, password = credentials()
        if not verify_password(username, password):
            return error(401, "invalid username or password")
        sessions.pop(request.cookies.get(COOKIE, ""), None)  # a fresh id at every login
        session_id = secrets.token_urlsafe(32)
        sessions[session_id] = {"user": username, "cart": {}}
        response = jsonify(user=username)
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="Lax",
            secure=bool(app.config["SESSION_COOKIE_SECURE"]),
        )
        return response

    @app.get("/me")
    def me() -> Response:
        return jsonify(user=current_session()["user"], instance=instance_id)

    @app.post("/logout")
    def logout() -> Response:
        current_session()
        sessions.pop(request.cookies[COOKIE], None)  # two logouts at once: both 204, never 500
        response = Response(status=204)
        response.delete_cookie(
            COOKIE, httponly=True, samesite="Lax", secure=bool(app.config["SESSION_COOKIE_SECURE"])
        )
        return response

    @app.get("/cart")
    def cart() -> Response:
        session = current_session()
        return cart_json(session["user"], session["cart"])

    @app.post("/cart/items")
    def add_item() -> Response:
        session = current_session()
        sku, qty = cart_item()
        session["cart"] = add_to_cart(session["cart"], sku, qty)
        return cart_json(session["user"], session["cart"])

    add_health_routes(app)  # nothing shared to check

    return app
