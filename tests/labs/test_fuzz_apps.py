"""Fuzzing every lab app in ``labs.apps.APPS`` (later lessons' apps included, found through
their routes): generated methods, paths, headers, cookies and bodies, sent by a logged-in user
or a stranger.

For every request: no 5xx; every error is JSON ``{"error": ...}``; and a rejected request
(any 4xx) changes nothing a user can see. What a user can see is every argument-less ``GET``
route of the app, asked by the victim before and after (sessions, carts, and, in later
lessons, files, jobs, payments and idempotency records). Not compared, on purpose:
``EXCEPTED`` below (counters that a request counts by design, and time-based TTL refreshes,
which the stateless app's sliding session applies to any authenticated request).

Runs against a fresh fakeredis per example, or the real server of ``REDIS_URL`` (flushed per
example), so CI runs it in both passes.
"""

from __future__ import annotations

import json
import string

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from lab_stores import SECRETS, fresh_store

from labs.apps import APPS, app_module

VICTIM = {"username": "alice", "password": "wonderland"}
# Read-only routes that are not the user's data, or whose answer changes by design.
EXCEPTED = {
    "/healthz",  # the process's own liveness
    "/readyz",  # readiness: draining, store up
    "/quota",  # lesson 08's rate limit: every request counts (its counter is the lesson)
}
# The events app's GET /events streams for STREAM_SECONDS; 0 makes it a poll (what is there
# already, then the end), so a snapshot or a fuzzed GET of it ends at once.
APP_CONFIG = {**SECRETS, "STREAM_SECONDS": 0}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=40,
)
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]  # valid in JSON ("\\ud800"), not text
TEXT = (
    st.text(max_size=20)
    | st.text(alphabet=st.characters(categories=["Cc", "Zs", "Nd", "Lo"]), max_size=6)
    | st.tuples(st.text(max_size=4), st.sampled_from(LONE_SURROGATES)).map("".join)
)
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# The fields each route reads (COURSE_DESIGN §6, §6b): drawn together, so a body gets past the
# first checks and reaches the code behind them. A route not listed gets any of them.
ROUTE_FIELDS = {
    "/login": ("username", "password"),
    "/cart/items": ("sku", "qty"),
    "/payments": ("amount_cents", "currency"),
    "/jobs": ("kind", "params"),
    "/events": ("message",),
}
ALL_FIELDS = tuple(name for names in ROUTE_FIELDS.values() for name in names)
NASTY_BODIES = [
    b"[" * 1000 + b"]" * 1000,
    b'{"username": "alice", "password": "\\ud800"}',
    b'{"sku": "book-1\\n", "qty": 1}',
    b'{"sku": "a", "qty": 99999999999999999999999}',
    b'{"qty": NaN}',
    b"\xff\xfe\x00",
    b"",
    b"null",
    b'{"username": "alice", "password": "wonderland", "username": "bob"}',
]


def visible_routes(app: Flask) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and not rule.arguments
        and rule.rule not in EXCEPTED
        and rule.endpoint != "static"
    )


def log_in(client: FlaskClient) -> dict[str, str]:
    """Log the victim in; the headers that carry their credentials (a JWT) if any."""
    answer = client.post("/login", json=VICTIM)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json().get("access_token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def snapshot(client: FlaskClient, auth: dict[str, str], paths: list[str]) -> dict:
    seen = {}
    for path in paths:
        answer = client.get(path, headers=auth)
        seen[path] = (answer.status_code, answer.get_json(silent=True))
    return seen


MULTIPART = "multipart/form-data; boundary=x"  # the boundary of multipart_bodies()


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    """A ``multipart/form-data`` body (boundary ``x``) for ``POST /files``: half the time one
    well-formed upload, else parts with odd names, file names, content types and framing."""
    names = st.sampled_from(["file", "file", "other", ""]) | TEXT
    filenames = st.none() | st.sampled_from(["a.png", "", "../../a", "C:\\a\\b.txt"]) | TEXT
    types = st.none() | st.sampled_from(["image/png", "text/html", "image/svg+xml", "bad"])
    if draw(st.booleans()):  # an upload that should get through (when sent logged in)
        names, filenames = st.just("file"), st.sampled_from(["a.png", "b.html", "r\u00e9.svg"])
        types = st.sampled_from(["image/png", "text/html", "image/svg+xml"])
        ending = b"\r\n--x--\r\n"
        count = 1
    else:
        types = types | HEADER_TEXT
        ending = draw(st.sampled_from([b"\r\n--x--\r\n", b"", b"\r\n--x"]))
        count = draw(st.integers(0, 3))
    parts = []
    for _ in range(count):
        head = f'Content-Disposition: form-data; name="{draw(names)}"'
        filename = draw(filenames)
        if filename is not None:
            head += f'; filename="{filename}"'
        content_type = draw(types)
        if content_type is not None:
            head += f"\r\nContent-Type: {content_type}"
        data = draw(st.binary(max_size=200))
        parts.append(b"--x\r\n" + head.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + data)
    return b"\r\n".join(parts) + ending


@st.composite
def bodies(draw: st.DrawFn, path: str) -> bytes:
    kind = draw(st.sampled_from(["json", "fields", "fields", "fields", "nasty", "bytes", "none"]))
    if path == "/files" and draw(st.booleans()):  # an upload route reads multipart, not JSON
        return draw(multipart_bodies())
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "fields":  # the route's own fields, mostly text, sometimes anything
        value = TEXT | TEXT | JSON_VALUES
        names = ROUTE_FIELDS.get(path)
        if names:
            fields = st.fixed_dictionaries({name: value for name in names})
        else:
            fields = st.fixed_dictionaries({}, optional={name: value for name in ALL_FIELDS})
        return json.dumps(draw(fields)).encode()
    if kind == "nasty":
        return draw(st.sampled_from(NASTY_BODIES))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    return b""


CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 4
    + [
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ]
)
HEADERS = st.dictionaries(
    st.sampled_from(["X-Anything", "Accept", "Idempotency-Key", "Authorization", "Origin"]),
    HEADER_TEXT,
    max_size=3,
)


@st.composite
def requests_to(draw: st.DrawFn, method: str, path: str) -> dict:
    """One request to ``method path`` (or, sometimes, a mangled ``path``), in full."""
    mangled = st.sampled_from(["/", "//", "/x", "?a=1", "%00", "/.."]).map(lambda tail: path + tail)
    return {
        "method": method,
        "path": draw(st.just(path) | st.just(path) | mangled),
        "data": draw(bodies(path)),
        "content_type": draw(
            st.just(MULTIPART) | CONTENT_TYPES if path == "/files" else CONTENT_TYPES
        ),
        "headers": draw(HEADERS),
        "as_victim": draw(st.booleans()),
        "cookie": draw(st.none() | st.none() | HEADER_TEXT),
    }


@st.composite
def any_requests(draw: st.DrawFn) -> dict:
    """Any method to any path: the routes an app does not have must answer as cleanly."""
    path = draw(st.text(alphabet=string.printable.strip() + "é%/", max_size=20))
    request = draw(requests_to(draw(st.sampled_from(METHODS)), "/" + path))
    return request


def app_routes() -> list[tuple[str, str, str]]:
    """(app, method, path) for every route every registered app declares."""
    found = []
    for name in APPS:
        app = app_module(name).create_app("A", redis=fresh_store(), config=APP_CONFIG)
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            path = rule.rule
            for argument in rule.arguments:
                path = path.replace(f"<{argument}>", "x1")
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((name, method, path))
    return found


def send_and_check(name: str, req: dict) -> None:
    """Set up the victim, send ``req``, and check the answer and what the victim can see."""
    app = app_module(name).create_app("A", redis=fresh_store(), config=APP_CONFIG)
    victim = app.test_client()
    auth = log_in(victim)
    victim.post("/cart/items", json={"sku": "pen", "qty": 2}, headers=auth)
    seen = visible_routes(app)
    before = snapshot(victim, auth, seen)
    session = victim.get_cookie("session")

    sender = victim if req["as_victim"] else app.test_client()
    headers = dict(req["headers"])
    if req["as_victim"] and "Authorization" not in headers:
        headers.update(auth)
    if req["cookie"] is not None:
        sender.set_cookie("session", req["cookie"])
    # The raw target goes into the WSGI environ as a server would put it: the test client
    # would read "//x" as a host name, which is not what a request line means.
    target, _, query = req["path"].partition("?")
    answer = sender.open(
        "/",
        method=req["method"],
        data=req["data"],
        content_type=req["content_type"],
        headers=headers,
        environ_overrides={
            "PATH_INFO": target.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
        },
    )
    assert answer.status_code < 500, (req, answer.get_data(as_text=True))
    if answer.status_code >= 400 and req["method"] != "HEAD":
        assert answer.is_json and "error" in answer.get_json(), (req, answer.data[:200])
    if answer.status_code >= 400:
        if session is not None:  # what the store holds is compared, not the browser's jar
            victim.set_cookie("session", session.value)
        assert snapshot(victim, auth, seen) == before, req


@pytest.mark.parametrize(("name", "method", "path"), app_routes())
def test_fuzz_a_route_never_answers_5xx_and_a_rejected_request_changes_nothing(
    name: str, method: str, path: str
) -> None:
    given(requests_to(method, path))(lambda req: send_and_check(name, req))()


@pytest.mark.parametrize("name", APPS)
def test_fuzz_any_method_and_path_answers_cleanly(name: str) -> None:
    given(any_requests())(lambda req: send_and_check(name, req))()
