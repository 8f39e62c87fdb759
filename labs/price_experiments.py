"""Lesson 12's experiments: what statelessness costs, measured on the course's real apps.

* :func:`sessions_three_ways`: the same user, cart and requests on three session designs
  (``stateless_app``: an opaque id in the cookie, the session in Redis; ``jwt_app``: a signed
  token, the cart in Redis, a denylist for logout; ``cookie_app``: the whole session in the
  cookie, signed or encrypted). Per design: the store round trips and commands a request makes,
  the bytes its credential adds to every request and answer, whether a copy kept after logout
  still works, how many cart lines fit under the 4 KB a browser keeps, and what a key rotation
  does. Counts and bytes, not times: the same on any machine, so the lesson stores them.
* :func:`store_outage`: a real 3-instance cluster of each design behind the balancer, Redis cut
  through the loopback proxy (COURSE_DESIGN §5) for a while, then one instance killed. The
  stateless fleet answers 503 while Redis is gone, then survives the kill; the sticky stateful
  app does not need Redis and keeps serving, until the kill loses its users' sessions.
* :func:`availability_table`: the arithmetic behind both: a stateless request needs an instance
  *and* the store, so the store's availability caps the fleet's.

Every store and cluster these start is stopped before they return, also when they fail.
"""

from __future__ import annotations

import random
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from labs.apps import cookie_app, jwt_app, stateless_app
from labs.apps.users import login_body
from labs.apps.web import whole_number
from labs.cluster.clients import logged_in
from labs.cluster.process import ProcessCluster
from labs.redis_store import EmbeddedRedisServer

MAX_COOKIE_BYTES = cookie_app.MAX_COOKIE_BYTES
MAX_LINES = 10_000  # a cart this long is an attack, not a shop
# Lab secrets: printed nowhere, used nowhere else. Two of each, to rotate from the first to the
# second.
OLD_SECRET = "lesson-12-old-secret-of-32-bytes-or-more"
NEW_SECRET = "lesson-12-new-secret-of-32-bytes-or-more"
SKU_ALPHABET = string.ascii_letters + string.digits + "-_."


# --- Counting what a request asks of the store -------------------------------------------------


class Tally:
    """Round trips (writes to the socket) and commands (replies read) since the last reset."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.round_trips = self.commands = 0

    def add(self, round_trips: int = 0, commands: int = 0) -> None:
        with self._lock:
            self.round_trips += round_trips
            self.commands += commands


def counted_client(url: str, tally: Tally) -> redis.Redis:
    """A client of the store at ``url`` whose connections count into ``tally``: one round trip
    per write to the socket (a pipeline is one), one command per reply read."""

    class Counted(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            tally.add(round_trips=1)
            super().send_packed_command(command, check_health)

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            tally.add(commands=1)
            return super().read_response(*args, **kwargs)

    pool = redis.ConnectionPool.from_url(
        url, connection_class=Counted, decode_responses=True, socket_timeout=5
    )
    return redis.Redis(connection_pool=pool)


# --- Three session designs --------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """A session design: its app module, its config, and its config after a key rotation with
    the old key kept (``rotated``) and without it (``replaced``); None: it has no key."""

    name: str
    module: Any
    config: dict[str, Any]
    rotated: dict[str, Any] | None
    replaced: dict[str, Any] | None
    carries_cart: bool  # the cart travels with every request (in the cookie)


def _jwt(keys: dict[str, str], active: str) -> dict[str, Any]:
    return {"JWT_KEYS": keys, "JWT_ACTIVE_KID": active}


def _cookie(mode: str, key: str, fallbacks: list[str] | None = None) -> dict[str, Any]:
    return {"COOKIE_SESSION": mode, "SECRET_KEY": key, "SECRET_KEY_FALLBACKS": fallbacks or []}


DESIGNS = (
    Design("Redis session", stateless_app, {}, None, None, False),
    Design(
        "JWT + denylist",
        jwt_app,
        _jwt({"k1": OLD_SECRET}, "k1"),
        _jwt({"k2": NEW_SECRET, "k1": OLD_SECRET}, "k2"),
        _jwt({"k2": NEW_SECRET}, "k2"),
        False,
    ),
    *(
        Design(
            f"{mode} cookie",
            cookie_app,
            _cookie(mode, OLD_SECRET),
            _cookie(mode, NEW_SECRET, [OLD_SECRET]),
            _cookie(mode, NEW_SECRET),
            True,
        )
        for mode in cookie_app.MODES
    ),
)


def design_named(name: str) -> Design:
    for design in DESIGNS:
        if design.name == name:
            return design
    raise ValueError(f"no session design {name!r}: choose one of {[d.name for d in DESIGNS]}")


def cart_skus(lines: int, length: int = 32, seed: int = 12) -> list[str]:
    """``lines`` SKUs of ``length`` characters, as random as a real catalogue's codes (a
    compressible ``item-1, item-2...`` would flatter a cookie), the same for the same seed."""
    rng = random.Random(seed)
    return [
        rng.choice(string.ascii_letters) + "".join(rng.choices(SKU_ALPHABET, k=length - 1))
        for _ in range(lines)
    ]


@dataclass(frozen=True)
class SessionCosts:
    """What one session design costs, with the same user and a cart of ``cart_lines`` lines."""

    design: str
    cart_lines: int
    me_round_trips: int  # store round trips of one GET /me
    me_commands: int  # store commands of one GET /me
    add_round_trips: int  # of one POST /cart/items
    request_bytes: int  # the credential (Cookie or Authorization value) on every request
    answer_bytes: int  # Set-Cookie bytes on every answer (0: none)
    copy_after_logout: int  # the status a copy of the credential gets after logout
    lines_in_4kb: int | None  # cart lines whose cookie still fits (None: not in the cookie)
    rotated_status: int | None  # an old session after a rotation that keeps the old key
    replaced_status: int | None  # ... and after one that drops it (None: no key to rotate)

    @property
    def revocable(self) -> bool:
        return self.copy_after_logout == 401


class _Credential:
    """How a client of each design proves who it is: a cookie, or a bearer token."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client, self.token = client, token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def value(self) -> tuple[str, str]:
        """``(header, value)`` this client sends to prove who it is."""
        if self.token:
            return "Authorization", f"Bearer {self.token}"
        cookie = self.client.get_cookie("session")
        return "Cookie", f"session={cookie.value}" if cookie else ""

    def copy_to(self, other: FlaskClient) -> _Credential:
        """``other`` holding the same credential (a stolen copy, or a second tab)."""
        header, value = self.value()
        if header == "Cookie" and value:
            other.set_cookie("session", value.partition("=")[2])
        return _Credential(other, self.token)


def _log_in(app: Flask, user: str = "alice") -> _Credential:
    client = app.test_client()
    answer = client.post("/login", json=login_body(user))
    if answer.status_code != 200:
        raise RuntimeError(f"{user} could not log in: {answer.status_code} {answer.get_json()}")
    return _Credential(client, answer.get_json().get("access_token"))


def _answer_bytes(answer: Any) -> int:
    return sum(len(value) for value in answer.headers.getlist("Set-Cookie"))


def _status(app: Flask, credential: _Credential) -> int:
    copy = credential.copy_to(app.test_client())
    return copy.client.get("/me", headers=copy.headers()).status_code


def lines_in_cookie(app: Flask, user: str = "alice", length: int = 32) -> int:
    """How many cart lines of ``length``-character SKUs a session cookie of ``app`` holds before
    it passes the 4 KB a browser keeps (counted past the app's own 50-line cart limit: this is
    the browser's limit, not the shop's)."""
    skus = cart_skus(MAX_LINES, length)
    fits = 0
    cart: dict[str, int] = {}
    for sku in skus:
        cart[sku] = 1
        if cookie_app.cookie_bytes(app, {"user": user, "cart": cart}) > MAX_COOKIE_BYTES:
            return fits
        fits += 1
    return fits


def measure_design(design: Design, url: str, cart_lines: int = 10) -> SessionCosts:
    """:class:`SessionCosts` of ``design``, its apps talking to the store at ``url``."""
    tally = Tally()
    store = counted_client(url, tally)
    try:
        app = design.module.create_app("A", store, design.config)
        me = _log_in(app)
        for sku in cart_skus(cart_lines):
            added = me.client.post("/cart/items", json={"sku": sku, "qty": 1}, headers=me.headers())
            if added.status_code != 200:
                raise RuntimeError(f"{design.name}: adding to the cart gave {added.status_code}")
        me.client.get("/me", headers=me.headers())  # warm: the connection is open
        tally.reset()
        answer = me.client.get("/me", headers=me.headers())
        me_trips, me_commands = tally.round_trips, tally.commands
        _, credential = me.value()  # with the cart of cart_lines lines
        tally.reset()
        me.client.post("/cart/items", json={"sku": "one-more", "qty": 1}, headers=me.headers())
        add_trips = tally.round_trips
        kept = me.copy_to(app.test_client())
        logout = me.client.post("/logout", headers=me.headers())
        if logout.status_code not in (200, 204):
            raise RuntimeError(f"{design.name}: logout gave {logout.status_code}")
        after_logout = kept.client.get("/me", headers=kept.headers()).status_code
        rotated = replaced = None
        if design.rotated is not None and design.replaced is not None:
            old = _log_in(app)
            rotated = _status(design.module.create_app("A", store, design.rotated), old)
            replaced = _status(design.module.create_app("A", store, design.replaced), old)
            old.client.post("/logout", headers=old.headers())
        return SessionCosts(
            design=design.name,
            cart_lines=cart_lines,
            me_round_trips=me_trips,
            me_commands=me_commands,
            add_round_trips=add_trips,
            request_bytes=len(credential),
            answer_bytes=_answer_bytes(answer),
            copy_after_logout=after_logout,
            lines_in_4kb=lines_in_cookie(app) if design.carries_cart else None,
            rotated_status=rotated,
            replaced_status=replaced,
        )
    finally:
        store.close()
        store.connection_pool.disconnect()


def sessions_three_ways(cart_lines: int = 10) -> list[SessionCosts]:
    """Every design of :data:`DESIGNS` measured with the same user and cart, on a private
    fakeredis served over TCP (counts and bytes do not depend on the server, and a shared
    ``REDIS_URL`` keeps nothing of this: the carts of ``jwt_app`` live a week)."""
    lines = whole_number("cart_lines", cart_lines, 0, 40)
    with EmbeddedRedisServer() as server:
        return [measure_design(design, server.url, lines) for design in DESIGNS]


def _status_word(status: int | None) -> str:
    if status is None:
        return "no key"
    return "kept" if status == 200 else f"logged out ({status})"


def session_table(rows: list[SessionCosts]) -> str:
    """The table the lesson asks the learner to fill in, filled in."""
    header = (
        f"{'design':<18}{'store trips':>12}{'bytes in':>10}{'bytes out':>10}"
        f"{'copy after logout':>19}{'lines in 4 KB':>15}  {'rotation: old key kept / dropped'}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        trips = f"{row.me_round_trips} + {row.add_round_trips}"
        copy = "refused (401)" if row.revocable else f"WORKS ({row.copy_after_logout})"
        fits = "no limit" if row.lines_in_4kb is None else str(row.lines_in_4kb)
        rotation = (
            "no key to rotate"
            if row.rotated_status is None
            else f"{_status_word(row.rotated_status)} / {_status_word(row.replaced_status)}"
        )
        lines.append(
            f"{row.design:<18}{trips:>12}{row.request_bytes:>10}{row.answer_bytes:>10}"
            f"{copy:>19}{fits:>15}  {rotation}"
        )
    return "\n".join(lines)


# --- The learner's table, filled in before the measurement -------------------------------------

GUESSES = ("store_trips", "bytes_grow_with_cart", "copy_after_logout_works", "fits_100_lines")


def empty_guesses() -> dict[str, dict[str, Any]]:
    """The table to fill in: one row per design, one ``None`` per guess."""
    return {design.name: dict.fromkeys(GUESSES) for design in DESIGNS}


def measured_answers(row: SessionCosts) -> dict[str, Any]:
    """The answers to :data:`GUESSES` that a measured row gives."""
    return {
        "store_trips": row.me_round_trips,
        "bytes_grow_with_cart": row.lines_in_4kb is not None,
        "copy_after_logout_works": not row.revocable,
        "fits_100_lines": row.lines_in_4kb is None or row.lines_in_4kb >= 100,
    }


def compare_guesses(guesses: Any, rows: list[SessionCosts]) -> str:
    """Each guess beside the measurement: ✓, ✗, or ``?`` where nothing was guessed. A guess
    table of the wrong shape is described, not raised."""
    if not isinstance(guesses, dict):
        return f"guesses must be a dict like empty_guesses(), not {type(guesses).__name__}"
    lines, right, made = [], 0, 0
    for row in rows:
        mine = guesses.get(row.design)
        mine = mine if isinstance(mine, dict) else {}
        cells = []
        for name, truth in measured_answers(row).items():
            guess = mine.get(name)
            if guess is None:
                cells.append(f"{name} ? ({truth})")
                continue
            made += 1
            ok = guess == truth and isinstance(guess, bool) == isinstance(truth, bool)
            right += ok
            cells.append(f"{name} {'✓' if ok else '✗'} ({truth})")
        lines.append(f"{row.design}: " + ", ".join(cells))
    lines.append(
        f"{right} of {made} guesses right" if made else "no guesses made: fill in the table"
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Growth:
    """A cart grown one line at a time through ``POST /cart/items`` until a request is refused."""

    design: str
    sku_length: int
    lines: int  # lines the cart held when the next one was refused
    status: int  # the refusal's status
    error: str  # and its message
    cookie_bytes: int  # the Set-Cookie value of the last accepted cart
    cookie_kept: bool  # after the refusal the browser holds the last accepted cart, unchanged


def _session_in(app: Flask, value: str) -> dict[str, Any]:
    """The session a cookie value carries (its bytes change at every refresh: a new timestamp,
    and for Fernet a new IV; the session they carry does not)."""
    return dict(cookie_app.serializer_of(app).loads(value))


def grow_cart(design: str, sku_length: int = 64) -> Growth:
    """Add lines of ``sku_length``-character SKUs to a cookie design's cart until the app refuses
    one: a 413 where the cookie would pass 4 KB, a 400 where the shop's own limit comes first."""
    chosen = design_named(design)
    if not chosen.carries_cart:
        raise ValueError(f"{design!r} keeps the cart in Redis: its cookie does not grow")
    length = whole_number("sku_length", sku_length, 1, 64)
    app = chosen.module.create_app("A", None, chosen.config)
    me = _log_in(app)
    last, held = 0, None
    for lines, sku in enumerate(cart_skus(MAX_LINES, length)):
        answer = me.client.post("/cart/items", json={"sku": sku, "qty": 1})
        cookie = me.client.get_cookie("session")
        if answer.status_code != 200:
            return Growth(
                design,
                length,
                lines,
                answer.status_code,
                answer.get_json()["error"],
                last,
                cookie is not None and _session_in(app, cookie.value) == held,
            )
        last, held = _answer_bytes(answer), _session_in(app, cookie.value) if cookie else None
    raise RuntimeError(f"{design}: {MAX_LINES} lines were all accepted")


# --- The store as a single point of failure -----------------------------------------------------

OUTAGE_DESIGNS = {
    "stateless, sessions in Redis": ("stateless", "round_robin"),
    "stateful, sticky sessions": ("stateful", "sticky"),
}
USERS = ("alice", "bob", "carol")


@dataclass(frozen=True)
class OutageRun:
    """Three users' requests through a cluster of ``design`` before, during and after a Redis
    outage, and each user's next request after one instance was killed."""

    design: str
    outage: float
    before: tuple[int, int]  # (answered 200, sent) before the outage
    during: tuple[int, int]  # while Redis was unreachable
    after: tuple[int, int]  # once Redis was back
    after_kill: dict[str, int]  # user -> status of their next GET /me after the kill
    killed: str  # the instance killed: the one that served the first user

    @property
    def users_lost(self) -> int:
        return sum(1 for status in self.after_kill.values() if status != 200)

    def summary(self) -> str:
        def share(counts: tuple[int, int]) -> str:
            ok, sent = counts
            return f"{ok}/{sent} ok" if sent else "none sent"

        kill = ", ".join(f"{user} {status}" for user, status in self.after_kill.items())
        return (
            f"{self.design}: before {share(self.before)}, Redis cut {self.outage:g} s "
            f"{share(self.during)}, after {share(self.after)}; {self.killed} killed -> {kill}"
        )

    def verdict(self) -> str:
        """What does not depend on timing: who answered during the outage, who kept a session."""
        during_ok, during_sent = self.during
        served = "all" if during_ok == during_sent else "none" if during_ok == 0 else "some"
        return (
            f"{self.design}: requests answered while Redis was down: {served}; "
            f"users who lost their session when {self.killed} died: {self.users_lost} of "
            f"{len(self.after_kill)}"
        )


def _ask(session: requests.Session, url: str) -> tuple[int, str | None]:
    try:
        answer = session.get(url + "/me", timeout=2)
    except requests.RequestException:
        return 0, None
    return answer.status_code, answer.headers.get("X-Instance")


def _phase(
    sessions: dict[str, requests.Session], url: str, seconds: float, seen: dict[str, str]
) -> tuple[int, int]:
    """Every user asks ``GET /me`` in turn for ``seconds``: (answered 200, sent)."""
    ok = sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for user, session in sessions.items():
            status, instance = _ask(session, url)
            sent += 1
            ok += status == 200
            if instance and status == 200:
                seen.setdefault(user, instance)
        time.sleep(0.02)
    return ok, sent


def store_outage(design: str, outage: float = 1.0) -> OutageRun:
    """Three users on a 3-instance cluster of ``design`` (a key of :data:`OUTAGE_DESIGNS`);
    Redis cut through the proxy for ``outage`` seconds, restored; then the instance that served
    the first user killed (``kill -9``), and every user asks once more."""
    if design not in OUTAGE_DESIGNS:
        raise ValueError(f"design must be one of {list(OUTAGE_DESIGNS)}, not {design!r}")
    if isinstance(outage, bool) or not isinstance(outage, (int, float)) or not 0.2 <= outage <= 10:
        raise ValueError(f"outage must be from 0.2 to 10 seconds, not {outage!r}")
    app, policy = OUTAGE_DESIGNS[design]
    with ProcessCluster(app, 3, policy=policy, store_proxy="open") as cluster:
        url = cluster.url
        sessions = {user: logged_in(url, user) for user in USERS}
        try:
            seen: dict[str, str] = {}
            before = _phase(sessions, url, 0.4, seen)
            cluster.store_proxy.cut()
            during = _phase(sessions, url, outage, seen)
            cluster.store_proxy.restore()
            time.sleep(0.2)  # the instances' next store call reconnects
            after = _phase(sessions, url, 0.4, seen)
            killed = seen.get(USERS[0], cluster.instance_ids[0])
            cluster.kill(killed)
            cluster.wait(killed, timeout=10)
            after_kill = {user: _ask(session, url)[0] for user, session in sessions.items()}
        finally:
            for session in sessions.values():
                session.close()
    return OutageRun(design, float(outage), before, during, after, after_kill, killed)


# --- Availability: instances × store --------------------------------------------------------------


def fleet_availability(instance: float, instances: int) -> float:
    """At least one of ``instances`` independent instances up."""
    return 1 - (1 - instance) ** instances


def availability_rows(
    instance: float = 0.99, store: float = 0.999, instances: int = 3
) -> list[tuple[str, float]]:
    """What a user's request can count on, by design, for independent failures with the given
    availabilities (shares of time up, from 0 to 1)."""
    for name, value in (("instance", instance), ("store", store)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{name} availability must be a share of time above 0 and at most 1")
    count = whole_number("instances", instances, 1, 100)
    fleet = fleet_availability(instance, count)
    replicated = fleet_availability(store, 2)  # a replica that takes over at once
    return [
        ("stateful, sticky: the user's own instance", instance),
        (f"stateless: any of {count} instances and the store", fleet * store),
        ("stateless, the store replicated (2 copies, failover at once)", fleet * replicated),
    ]


def downtime(availability: float) -> str:
    """The downtime a year at ``availability``."""
    minutes = (1 - availability) * 365 * 24 * 60
    return f"{minutes / 60:.1f} h" if minutes >= 120 else f"{minutes:.1f} min"


def availability_table(instance: float = 0.99, store: float = 0.999, instances: int = 3) -> str:
    rows = availability_rows(instance, store, instances)
    width = max(len(name) for name, _ in rows)
    return "\n".join(
        f"{name:<{width}}  {100 * value:8.4f} %   down {downtime(value)} a year"
        for name, value in rows
    )
