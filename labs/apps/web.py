"""The HTTP plumbing every lab app shares (COURSE_DESIGN §6).

Each app module keeps only its idea (where sessions live, how tokens are
checked); this module gives them all the same manners:

* every response carries ``X-Instance: <id>``;
* every error is JSON ``{"error": "..."}`` with a 4xx code, including 404, 405,
  413 (body too large) and 415; a shared store that is down is a JSON 503; an
  unexpected bug is a JSON 500 that names no internals;
* ``/healthz`` and ``/readyz`` come from :func:`add_health_routes`;
* request bodies are read by one reader, :func:`json_body`, that bounds their size (413) and
  nesting depth, and refuses what is not valid JSON text (no lone surrogates, no NaN), then
  validated by :func:`credentials` and :func:`cart_item`: bad input is a clear 400, never a
  traceback;
* only a store that cannot be reached (a connection error or a timeout) is a 503: every number
  a client sends is bounded before it reaches the store;
* settings are read by :func:`int_setting`, which refuses a value out of range at start-up,
  naming the setting.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import TimeoutError as StoreTimeoutError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from labs.apps.probes import Instance
from labs.learner_code import plugged_module

MAX_BODY_BYTES = 16 * 1024
MAX_JSON_DEPTH = 20  # a login or a cart item is one flat object; 20 leaves room, 1,000 does not
USERNAME_MAX = 64
SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # used with fullmatch: no "\n"
QTY_MAX = 99
CART_MAX_LINES = 50
STORE_DOWN = "the shared store (Redis) is unavailable"


class InsecureDefaultWarning(UserWarning):
    """A secret fell back to its development default."""


def error(status: int, message: str) -> tuple[Response, int]:
    """A JSON error response: ``{"error": message}`` with ``status``."""
    return jsonify(error=message), status


def create_base_app(name: str, instance_id: str, config: dict[str, Any] | None = None) -> Flask:
    """A Flask app wired to the course's contract: X-Instance header, JSON errors, size limit."""
    app = Flask(name)
    app.url_map.merge_slashes = False  # "/cart//items" is a 404, not a redirect to an HTML page
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["INSTANCE_ID"] = instance_id
    app.json.sort_keys = False
    if config:
        app.config.update(config)

    @app.after_request
    def tag_instance(response: Response) -> Response:
        response.headers["X-Instance"] = instance_id
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response, status = error(exc.code or 500, exc.description or exc.name)
        response.status_code = status
        for name, value in exc.get_headers():  # keep e.g. Allow on a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(StoreConnectionError)
    @app.errorhandler(StoreTimeoutError)
    def store_down(exc: Exception) -> tuple[Response, int]:
        return error(503, STORE_DOWN)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:  # pragma: no cover - a bug
        app.logger.exception("unhandled error")
        return error(500, "internal error")

    return app


def add_health_routes(app: Flask, store: Any = None) -> None:
    """``/healthz`` (liveness: this process is alive) and ``/readyz`` (readiness: it can serve).

    Each route asks a probe of :mod:`labs.apps.probes` (or of the module ``PROBES`` names: the
    app's config, else the environment) and answers 200 for True, a JSON 503 for False. A store
    error inside a probe is a 503 naming the store, as on any route.
    """
    instance_id = app.config["INSTANCE_ID"]
    probes = plugged_module(
        "PROBES", text_setting(app.config, "PROBES", "labs.apps.probes"), ("liveness", "readiness")
    )
    instance = Instance(instance_id, store)

    @app.get("/healthz")
    def healthz() -> Response | tuple[Response, int]:
        if not probes.liveness(instance):
            return error(503, "not alive: the liveness probe said no")
        return jsonify(status="ok", instance=instance_id)

    @app.get("/readyz")
    def readyz() -> Response | tuple[Response, int]:
        if not probes.readiness(instance):
            if instance.draining:
                return error(503, "draining: not taking new requests")
            return error(503, "not ready: the readiness probe said no")
        return jsonify(status="ready", instance=instance_id)


def int_setting(config: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """Setting ``name`` (the app's config, else the environment, else ``default``) as a whole
    number from ``low`` to ``high``; anything else stops the app at start-up, naming it."""
    value = config.get(name)
    if value is None:
        value = os.environ.get(name) or default
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
        value = int(value)
    return whole_number(name, value, low, high)


def choice_setting(
    config: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]
) -> str:
    """Setting ``name`` (the app's config, else the environment, else ``default``), one of
    ``choices``; anything else stops the app at start-up, naming it (``STATE`` and its kin)."""
    value = config.get(name) or os.environ.get(name) or default
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def text_setting(config: Mapping[str, Any], name: str, default: str = "") -> str:
    """Setting ``name`` as text: the app's config, else the environment, else ``default``."""
    return str(config.get(name) or os.environ.get(name) or default)


def float_setting(config: Mapping[str, Any], name: str, default: float, high: float) -> float:
    """Setting ``name`` (config, else environment, else ``default``) as seconds from 0 to
    ``high``; anything else stops the app at start-up, naming it."""
    value = config.get(name)
    if value is None:
        value = os.environ.get(name) or default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 <= seconds <= high:
        raise ValueError(f"{name} must be a number of seconds from 0 to {high:g}, got {value!r}")
    return seconds


def whole_number(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is a whole number (not a bool) from ``low`` to ``high``; otherwise a
    ``ValueError`` naming ``name`` and the range (settings and experiments' arguments alike)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def secret_from(config: dict[str, Any], name: str, development_default: str) -> str:
    """``config[name]``, else the ``name`` environment variable, else a loud development default."""
    value = config.get(name) or os.environ.get(name)
    if value:
        return str(value)
    warnings.warn(
        f"{name} is not set: using the INSECURE development default. "
        f"Set {name} in the environment or the app config before deploying.",
        InsecureDefaultWarning,
        stacklevel=3,
    )
    return development_default


@contextlib.contextmanager
def framing_errors_are_400() -> Iterator[None]:
    """Reading a body inside this: a client that broke the framing (a malformed chunk, a body
    cut short; gunicorn raises its own exceptions for these) is a 400, not a 500. HTTP errors
    (a 413) pass through as they are."""
    try:
        yield
    except HTTPException:
        raise
    except Exception:
        raise BadRequest("the body could not be read (malformed framing)") from None


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx that says what is wrong with it.

    The one reader of request bodies: at most ``MAX_BODY_BYTES`` (413, chunked bodies too),
    UTF-8, nested at most ``MAX_JSON_DEPTH`` deep (a deeper document would exhaust the parser's
    recursion), no ``NaN``/``Infinity``, no lone surrogates (``"\\ud800"`` is valid JSON but no
    text: it would fail later, in a password hash or a store).
    """
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json")
    with framing_errors_are_400():
        if request.content_length is None:  # chunked: no length to refuse up front
            raw = request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        else:  # announced: Flask refuses more than MAX_CONTENT_LENGTH with a 413 itself
            raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the JSON body must be an object")
    if not is_text(body):
        raise BadRequest("the JSON body holds a lone surrogate: not valid text")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float, refused if it overflows (``1e400`` would be infinity, which
    no JSON answer can hold)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def nesting_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in the JSON ``text``, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def is_text(value: Any) -> bool:
    """Every string in the parsed JSON ``value`` (keys included) encodes as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(is_text(key) and is_text(item) for key, item in value.items())
    if isinstance(value, list):
        return all(map(is_text, value))
    return True


def string_field(body: dict[str, Any], name: str, max_length: int = 256) -> str:
    """``body[name]`` as a non-empty string of at most ``max_length`` characters."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' must be a non-empty string")
    if len(value) > max_length:
        raise BadRequest(f"'{name}' is longer than {max_length} characters")
    return value


def credentials() -> tuple[str, str]:
    """``(username, password)`` from a login body, validated."""
    body = json_body()
    return string_field(body, "username", USERNAME_MAX), string_field(body, "password")


def cart_item() -> tuple[str, int]:
    """``(sku, qty)`` from a ``POST /cart/items`` body, validated."""
    body = json_body()
    sku = string_field(body, "sku", 64)
    if not SKU_PATTERN.fullmatch(sku):
        raise BadRequest("'sku' may hold letters, digits, '.', '_' and '-' only")
    qty = body.get("qty")
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= QTY_MAX:
        raise BadRequest(f"'qty' must be an integer from 1 to {QTY_MAX}")
    return sku, qty


def add_to_cart(items: dict[str, int], sku: str, qty: int) -> dict[str, int]:
    """``items`` with ``qty`` more of ``sku``; a 400 if the cart would grow too large."""
    if sku not in items and len(items) >= CART_MAX_LINES:
        raise BadRequest(f"a cart holds at most {CART_MAX_LINES} different items")
    new_qty = items.get(sku, 0) + qty
    if new_qty > QTY_MAX:
        raise BadRequest(f"at most {QTY_MAX} of one item per cart")
    return {**items, sku: new_qty}


def cart_json(user: str, items: dict[str, int]) -> Response:
    """The cart as every app returns it."""
    return jsonify(user=user, items=items, total_qty=sum(items.values()))
