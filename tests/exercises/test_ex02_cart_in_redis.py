"""Exercise 02's check fails on the starter as the lesson stores it, passes on the solution,
and catches the classic wrong ways to "move" a cart to Redis."""

from __future__ import annotations

import json

import pytest
from notebook_cells import run_starter, starter_sources

from labs.exercises.ex02_cart_in_redis import STARTER, check_cart_in_redis
from labs.solutions.ex02_cart_in_redis import CartService

NOTEBOOK = "02_externalize_state.ipynb"


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


def test_the_notebooks_starter_is_the_modules_starter() -> None:
    [source] = starter_sources(NOTEBOOK)
    assert source.strip() == STARTER.strip()


def test_the_check_fails_on_the_notebooks_starter() -> None:
    starter = run_starter(NOTEBOOK)["CartService"]
    report = check_cart_in_redis(starter)
    assert not report.passed
    problems = failed(report)
    assert problems[0].startswith("request 2 → B: alice looks at the cart")  # the lesson's bug
    assert any("nothing in Redis changed" in p for p in problems)
    assert "self.carts" in report.hint


def test_the_check_passes_on_the_solution() -> None:
    report = check_cart_in_redis(CartService)
    assert report.passed, report.text()
    assert len(report.lines) >= 12


CARTS: dict[str, dict[str, int]] = {}


class ModuleLevelDict:
    """Shared by every instance in *this* process only: looks right, is not in Redis."""

    def __init__(self, store) -> None:
        self.store = store

    def add_item(self, session_id, sku, qty):
        cart = CARTS.setdefault(session_id, {})
        cart[sku] = cart.get(sku, 0) + qty
        return dict(cart)

    def get_cart(self, session_id):
        return dict(CARTS.get(session_id, {}))


class CartKeyWithoutTTL:
    """In Redis, but in a key of its own that never expires."""

    def __init__(self, store) -> None:
        self.store = store

    def add_item(self, session_id, sku, qty):
        cart = self.get_cart(session_id)
        cart[sku] = cart.get(sku, 0) + qty
        self.store.set(f"cart:{session_id}", json.dumps(cart))
        return cart

    def get_cart(self, session_id):
        return json.loads(self.store.get(f"cart:{session_id}") or "{}")


class CartKeyWithTheSessionsTTL(CartKeyWithoutTTL):
    """The same with the session's TTL, but still GET, change, SET: not atomic."""

    def add_item(self, session_id, sku, qty):
        cart = super().add_item(session_id, sku, qty)
        self.store.expire(f"cart:{session_id}", self.store.ttl(f"session:{session_id}"))
        return cart


class OverwritesTheSession:
    """SETs the whole session as JSON: drops its TTL and breaks the hash the app reads."""

    def __init__(self, store) -> None:
        self.store = store

    def add_item(self, session_id, sku, qty):
        cart = self.get_cart(session_id)
        cart[sku] = cart.get(sku, 0) + qty
        self.store.set(f"session:{session_id}", json.dumps({"cart": cart}))
        return cart

    def get_cart(self, session_id):
        key = f"session:{session_id}"
        raw = self.store.get(key) if self.store.type(key) == "string" else None
        return json.loads(raw)["cart"] if raw else {}


class ReturnsStrings:
    """Reads the hash back as Redis gives it: quantities are strings."""

    def __init__(self, store) -> None:
        self.store = store

    def add_item(self, session_id, sku, qty):
        self.store.hincrby(f"session:{session_id}", f"item:{sku}", qty)
        return self.get_cart(session_id)

    def get_cart(self, session_id):
        fields = self.store.hgetall(f"session:{session_id}")
        return {k.removeprefix("item:"): v for k, v in fields.items() if k.startswith("item:")}


@pytest.fixture(autouse=True)
def empty_module_dict():
    CARTS.clear()
    yield
    CARTS.clear()


@pytest.mark.parametrize(
    ("attempt", "expected_problem"),
    [
        (ModuleLevelDict, "the cart is stored in Redis (nothing in Redis changed)"),
        (CartKeyWithoutTTL, "key cart:session-id-of-alice expires with its session"),
        (OverwritesTheSession, "alice's session is still a hash naming alice"),
        (ReturnsStrings, "request 1 → A: alice adds 2 × book-1"),
    ],
)
def test_the_classic_mistakes_fail(attempt: type, expected_problem: str) -> None:
    report = check_cart_in_redis(attempt)
    assert not report.passed
    assert any(p.startswith(expected_problem) for p in failed(report)), report.text()


def test_a_module_level_dict_is_caught_twice() -> None:
    problems = failed(check_cart_in_redis(ModuleLevelDict))
    assert any(p.startswith("once Redis forgets the cart") for p in problems)


class HashGetThenSet(ReturnsStrings):
    """One field per item in the session's hash, but HGET, add, HSET: not atomic."""

    def add_item(self, session_id, sku, qty):
        key = f"session:{session_id}"
        current = int(self.store.hget(key, f"item:{sku}") or 0)
        self.store.hset(key, f"item:{sku}", current + qty)
        return self.get_cart(session_id)

    def get_cart(self, session_id):
        return {k: int(v) for k, v in super().get_cart(session_id).items()}


class CartHashWithTheSessionsTTL:
    """Right, differently: a cart hash of its own, HINCRBY, and the session's TTL."""

    def __init__(self, store) -> None:
        self.store = store

    def add_item(self, session_id, sku, qty):
        key = f"cart:{session_id}"
        self.store.hincrby(key, sku, qty)
        self.store.expire(key, self.store.ttl(f"session:{session_id}"))
        return self.get_cart(session_id)

    def get_cart(self, session_id):
        return {sku: int(q) for sku, q in self.store.hgetall(f"cart:{session_id}").items()}


class JsonInATransaction(CartKeyWithTheSessionsTTL):
    """Right, differently: the JSON read-modify-write, made safe by WATCH/MULTI/EXEC."""

    def add_item(self, session_id, sku, qty):
        import redis

        key, session = f"cart:{session_id}", f"session:{session_id}"
        while True:
            with self.store.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    cart = json.loads(pipe.get(key) or "{}")
                    cart[sku] = cart.get(sku, 0) + qty
                    pipe.multi()
                    pipe.set(key, json.dumps(cart), ex=self.store.ttl(session))
                    pipe.execute()
                    return cart
                except redis.WatchError:
                    continue


@pytest.mark.parametrize("attempt", [CartKeyWithTheSessionsTTL, HashGetThenSet])
def test_a_read_then_write_loses_a_concurrent_add(attempt: type) -> None:
    for _ in range(3):  # the interleaving is the check's, not the scheduler's: every time
        assert not check_cart_in_redis(attempt).passed
    report = check_cart_in_redis(attempt)
    [problem] = failed(report)  # everything else about them is right
    assert "both count, 5 mugs" in problem and "one add was lost" in problem
    assert "HINCRBY" in report.code_hint


@pytest.mark.parametrize("attempt", [CartHashWithTheSessionsTTL, JsonInATransaction])
def test_right_carts_written_differently_pass(attempt: type) -> None:
    report = check_cart_in_redis(attempt)
    assert report.passed, report.text()


class Raises:
    def __init__(self, store) -> None:
        raise RuntimeError("not written yet")


class NoMethods:
    def __init__(self, store) -> None:
        self.store = store


@pytest.mark.parametrize("attempt", [Raises, NoMethods, None, 42, lambda: None])
def test_broken_code_is_reported_not_raised(attempt: object) -> None:
    report = check_cart_in_redis(attempt)
    assert not report.passed
    assert "raised" in report.text()
