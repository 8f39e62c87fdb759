"""Lesson 02 exercise: move a shopping cart from the instance's memory to Redis.

The learner gets ``CartService``, one instance's cart logic, which keeps carts in a dict of
its own (the starter below, also the notebook's starter cell). They rewrite it so the cart
lives in Redis, where the login session already is: the hash ``session:<session id>`` with a
field ``user`` and a TTL, exactly as ``labs/apps/stateless_app.py`` stores it.

The check runs the lesson's experiment on the learner's class: two instances, A and B, each
``CartService(store)`` with its own connection to one shared Redis, and a round-robin balancer
sending a user's requests to A, B, A, B, ... Then it restarts an instance, lets two instances
add to one cart at the same moment (deterministically: B's whole add runs right after A's
first read from Redis, so a read-then-write loses B's item, an atomic change does not), looks
inside Redis, and checks that nothing the cart wrote lives forever (every key keeps a TTL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis

from labs.checking import CheckReport
from labs.interleaving import Interleaving

STARTER = '''\
class CartService:
    # EXERCISE STARTER: this instance keeps carts in its own memory. Move them to Redis.
    def __init__(self, store):
        self.store = store  # a Redis client: every instance has one, to the same server
        self.carts = {}  # session id -> {sku: qty}   <- state that lives in this instance!

    def add_item(self, session_id, sku, qty):
        """Add qty of sku to the session's cart; return the whole cart, {sku: qty}."""
        cart = self.carts.setdefault(session_id, {})
        cart[sku] = cart.get(sku, 0) + qty
        return cart

    def get_cart(self, session_id):
        """The session's cart, {sku: qty} ({} when empty)."""
        return self.carts.get(session_id, {})
'''

SESSION_TTL = 1800
SESSIONS = {"alice": "session-id-of-alice", "bob": "session-id-of-bob"}
# The experiment: (instance, action, user, sku, qty, the cart the user must see afterwards).
STEPS: list[tuple[str, str, str, str, int, dict[str, int]]] = [
    ("A", "add", "alice", "book-1", 2, {"book-1": 2}),
    ("B", "get", "alice", "", 0, {"book-1": 2}),
    ("A", "add", "alice", "pen", 1, {"book-1": 2, "pen": 1}),
    ("B", "add", "alice", "book-1", 3, {"book-1": 5, "pen": 1}),
    ("A", "get", "alice", "", 0, {"book-1": 5, "pen": 1}),
    ("B", "get", "bob", "", 0, {}),
]
HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "shared": (
        "Each instance only sees its own self.carts. Every instance must read and write the "
        "same cart: keep it in Redis, next to the session, and change it there in one step.",
        'one field per item in the session\'s hash: self.store.hincrby(f"session:{session_id}", '
        'f"item:{sku}", qty), read back with hgetall (values are strings: int() them)',
    ),
    "start": ("CartService(store) must build one instance: keep __init__(self, store).", None),
    "in_redis": (
        "The cart must be in Redis, not in the process: a module-level dict is shared by the "
        "instances of *this* notebook, but not by two real processes.",
        None,
    ),
    "atomic": (
        "Two instances changed the same cart at once: one read the cart, the other added, then "
        "the first wrote back what it had read, and the other's item was lost. Change the cart "
        "in Redis in one step, so there is nothing to read first.",
        "HINCRBY on one field per item adds in one command; a JSON blob or HGET then HSET "
        "needs a transaction (WATCH/MULTI) or a Lua script",
    ),
    "ttl": (
        "A key without a TTL lives forever, long after its session expired; and the session "
        "key must keep its TTL and its user.",
        "keep the cart in the session's hash (hash commands keep the key's TTL), or give a "
        "separate cart key the session's TTL: store.expire(key, store.ttl(session_key)); "
        "never SET the session key itself",
    ),
}


def session_key(session_id: str) -> str:
    """Where the app keeps a login session (the same key as ``labs.apps.stateless_app``)."""
    return f"session:{session_id}"


def _fresh_store() -> tuple[Any, Callable[[], Any]]:
    """An empty Redis of the check's own, and a function making more clients to it."""
    server = fakeredis.FakeServer()

    def client() -> Any:
        return fakeredis.FakeRedis(server=server, decode_responses=True)

    return client(), client


def _race(report: CheckReport, cart_service: Callable[[Any], Any], connect: Any) -> None:
    """Two instances add to bob's cart at the same moment: both items must count."""
    bob = SESSIONS["bob"]
    first, second = Interleaving(connect()), connect()
    built = report.attempt(
        "start two instances for the race",
        lambda: (cart_service(first), cart_service(second)),
        *HINTS["start"],
    )
    if built is None:
        return
    on_a, on_b = built
    first.arm(lambda: on_b.add_item(bob, "mug", 3))
    story = "A and B add to bob's cart at the same moment (2 and 3 mugs)"
    ran, _ = _run(report, story, lambda: on_a.add_item(bob, "mug", 2), HINTS["atomic"])
    if not ran:
        return
    # A's add read nothing from Redis (nothing to interleave with): B adds right after it
    ran, _ = _run(report, "B's add", first.fire, HINTS["atomic"])
    if not ran:
        return
    ran, got = _run(report, "bob looks at the cart", lambda: on_b.get_cart(bob), HINTS["atomic"])
    if ran:
        ok = got.get("mug") == 5 if isinstance(got, dict) else False
        lost = "" if ok else f" (got {got!r}: one add was lost)"
        report.expect(ok, f"{story}: both count, 5 mugs{lost}", *HINTS["atomic"])


def _snapshot(store: Any) -> dict[str, Any]:
    """Every key and its value (hashes, strings, lists, sets), to see what the code wrote."""
    dump: dict[str, Any] = {}
    for key in sorted(store.keys("*")):
        kind = store.type(key)
        readers = {
            "hash": store.hgetall,
            "string": store.get,
            "list": lambda k: store.lrange(k, 0, -1),
            "set": store.smembers,
            "zset": lambda k: store.zrange(k, 0, -1, withscores=True),
        }
        dump[key] = (kind, readers[kind](key) if kind in readers else None)
    return dump


def _as_cart(value: object) -> object:
    """``value`` as a plain dict when it is a mapping (the learner may return a defaultdict)."""
    return dict(value) if isinstance(value, dict) else value


def _run(
    report: CheckReport, story: str, action: Callable[[], Any], hint: tuple[str, str | None]
) -> tuple[bool, Any]:
    """``(True, value)`` when ``action`` returned; ``(False, None)`` when it raised (reported)."""
    lines = len(report.lines)
    value = report.attempt(story, action, *hint)
    return len(report.lines) == lines, _as_cart(value)


def check_cart_in_redis(cart_service: Callable[[Any], Any], *, hint: bool = False) -> CheckReport:
    """Run two instances of ``cart_service`` behind round robin on one Redis; report ✓/✗."""
    report = CheckReport("Exercise 02 · Move the cart from memory to Redis", closer=hint)
    report.attempt("the check", lambda: _experiment(report, cart_service), *HINTS["shared"])
    return report.show()


def _experiment(report: CheckReport, cart_service: Callable[[Any], Any]) -> None:
    """The two-instance experiment, then a look inside Redis (adds lines to ``report``)."""
    store, connect = _fresh_store()
    for user, session_id in SESSIONS.items():  # what POST /login did for two users
        store.hset(session_key(session_id), "user", user)
        store.expire(session_key(session_id), SESSION_TTL)
    before = _snapshot(store)
    instances = {}
    for name in ("A", "B"):
        started, instances[name] = _run(
            report, f"start instance {name}", lambda: cart_service(connect()), HINTS["start"]
        )
        if not started:
            return

    for number, (name, action, user, sku, qty, expected) in enumerate(STEPS, start=1):
        service, session_id = instances[name], SESSIONS[user]
        if action == "add":
            story = f"request {number} → {name}: {user} adds {qty} × {sku}"
            call = lambda s=service, i=session_id, k=sku, q=qty: s.add_item(i, k, q)  # noqa: E731
        else:
            story = f"request {number} → {name}: {user} looks at the cart"
            call = lambda s=service, i=session_id: s.get_cart(i)  # noqa: E731
        ran, got = _run(report, story, call, HINTS["shared"])
        if ran:
            wrong = "" if got == expected else f" (got {got!r})"
            report.expect(got == expected, f"{story}: sees {expected}{wrong}", *HINTS["shared"])

    changed = [key for key, value in _snapshot(store).items() if before.get(key) != value]
    where = f"changed: {', '.join(changed)}" if changed else "nothing in Redis changed"
    report.expect(bool(changed), f"the cart is stored in Redis ({where})", *HINTS["in_redis"])

    alice = SESSIONS["alice"]
    started, newcomer = _run(
        report, "start instance C", lambda: cart_service(connect()), HINTS["start"]
    )
    if started:
        ran, seen = _run(
            report, "C looks at alice's cart", lambda: newcomer.get_cart(alice), HINTS["shared"]
        )
        if ran:
            wrong = "" if seen == STEPS[-2][5] else f" (got {seen!r})"
            message = f"a new instance C (a restart, a scale-out) sees alice's cart{wrong}"
            report.expect(seen == STEPS[-2][5], message, *HINTS["shared"])
    _race(report, cart_service, connect)
    _check_ttls(report, store)
    if started:
        store.flushdb()
        ran, empty = _run(
            report,
            "C, after Redis was emptied",
            lambda: newcomer.get_cart(alice),
            HINTS["in_redis"],
        )
        if ran:
            wrong = "" if empty == {} else f" (got {empty!r})"
            message = f"once Redis forgets the cart, so does every instance{wrong}"
            report.expect(empty == {}, message, *HINTS["in_redis"])


def _check_ttls(report: CheckReport, store: Any) -> None:
    """The sessions are intact and every key expires no later than its session."""
    for user, session_id in SESSIONS.items():
        key = session_key(session_id)
        kind = store.type(key)
        intact = kind == "hash" and store.hget(key, "user") == user
        report.expect(intact, f"{user}'s session is still a hash naming {user}", *HINTS["ttl"])
        ttl = store.ttl(key)
        message = f"{user}'s session still expires{_ttl_note(ttl)}"
        report.expect(0 < ttl <= SESSION_TTL, message, *HINTS["ttl"])
    for key in sorted(store.keys("*")):
        if key in {session_key(s) for s in SESSIONS.values()}:
            continue
        ttl = store.ttl(key)
        message = f"key {key} expires with its session{_ttl_note(ttl)}"
        report.expect(0 < ttl <= SESSION_TTL, message, *HINTS["ttl"])


def _ttl_note(ttl: int) -> str:
    """Nothing when the TTL is fine (its exact value depends on timing); else what is wrong."""
    if ttl == -1:
        return " (its TTL is -1: it never expires)"
    if ttl == -2:
        return " (the key is gone)"
    return "" if 0 < ttl <= SESSION_TTL else f" (its TTL, {ttl} s, outlives the session's)"
