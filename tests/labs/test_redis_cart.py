"""Carts in Redis stay within their limits when two instances change them at the same moment.

Both Redis-backed apps add to a cart by reading it, checking the limits, then writing. The
race between two instances is forced here, not hoped for: a hook lets each request pass the
limit check and then waits until the other one has too, so both have read the same cart
before either writes. Without the WATCH/MULTI/EXEC transaction of ``labs/cart.py`` both
adds succeed and the cart ends above ``QTY_MAX``; with it, the second write is refused by
Redis, retried on a fresh read, and answered 400. Runs on fakeredis and on the real Redis at
``REDIS_URL``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType

import pytest
import redis
from flask import Flask

from labs.apps import cart, jwt_app, stateless_app
from labs.apps.users import demo_password
from labs.apps.web import QTY_MAX

SECRET = "test-secret-for-the-cart-race-0123456789abcdef"
APPS = {"stateless_app": stateless_app, "jwt_app": jwt_app}


def instance(module: ModuleType, store: redis.Redis, name: str, **config: object) -> Flask:
    if module is jwt_app:
        config = {"JWT_SECRET": SECRET, **config}
    app = module.create_app(name, redis=store, config=config or None)
    app.testing = True
    return app


def credentials(module: ModuleType, app: Flask, user: str = "alice") -> dict[str, str]:
    """Headers that prove ``user`` is logged in: a session cookie or a bearer token."""
    client = app.test_client()
    response = client.post("/login", json={"username": user, "password": demo_password(user)})
    assert response.status_code == 200
    if module is jwt_app:
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    return {"Cookie": f"session={client.get_cookie('session').value}"}


def add(app: Flask, headers: dict[str, str], sku: str = "pen", qty: int = 1):
    client = app.test_client(use_cookies=False)
    return client.post("/cart/items", json={"sku": sku, "qty": qty}, headers=headers)


@pytest.fixture(params=sorted(APPS))
def module(request: pytest.FixtureRequest) -> ModuleType:
    return APPS[request.param]


def run_on_both(work: Callable[[Flask], None], apps: tuple[Flask, Flask]) -> None:
    """``work(app)`` for each app, in two threads at once; wait for both."""
    threads = [threading.Thread(target=work, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"


def overlap_the_first_check_of_each_thread(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Make two requests pass the limit check on the same cart before either writes."""
    check = cart.add_to_cart
    barrier = threading.Barrier(2, timeout=10)
    waited: set[int] = set()

    def check_then_wait(items: dict[str, int], sku: str, qty: int) -> dict[str, int]:
        result = check(items, sku, qty)  # the real check: 400 if over a limit
        if threading.get_ident() not in waited:  # only the first try of each request waits
            waited.add(threading.get_ident())
            barrier.wait()
        return result

    monkeypatch.setattr(cart, "add_to_cart", check_then_wait)
    return barrier


def test_two_instances_at_once_cannot_overshoot_the_limit(
    module: ModuleType,
    store_factory: Callable[[], redis.Redis],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = instance(module, store_factory(), "A"), instance(module, store_factory(), "B")
    headers = credentials(module, a)
    assert add(a, headers, qty=QTY_MAX - 1).status_code == 200
    barrier = overlap_the_first_check_of_each_thread(monkeypatch)
    statuses: list[int] = []
    crashes: list[BaseException] = []

    def one_more(app: Flask) -> None:
        try:
            statuses.append(add(app, headers).status_code)
        except BaseException as exc:  # reported below, with the thread's result
            crashes.append(exc)

    run_on_both(one_more, (a, b))
    assert crashes == []
    assert not barrier.broken, "the two adds never overlapped, so the test proved nothing"
    assert sorted(statuses) == [200, 400]  # one fits; the other sees it on its retry
    cart = a.test_client(use_cookies=False).get("/cart", headers=headers).get_json()
    assert cart["items"] == {"pen": QTY_MAX}


def test_concurrent_adds_below_the_limit_all_count(
    module: ModuleType, store_factory: Callable[[], redis.Redis]
) -> None:
    """Conflicts are retried, not dropped: 2 instances x 15 adds = 30, whatever interleaving."""
    a, b = instance(module, store_factory(), "A"), instance(module, store_factory(), "B")
    headers = credentials(module, a)
    failures: list[int] = []

    def shop(app: Flask) -> None:
        for _ in range(15):
            status = add(app, headers).status_code
            if status != 200:
                failures.append(status)

    run_on_both(shop, (a, b))
    assert failures == []
    cart = b.test_client(use_cookies=False).get("/cart", headers=headers).get_json()
    assert cart["items"] == {"pen": 30}


def test_a_session_that_ends_during_an_add_is_not_brought_back(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logout on another instance between the session check and the write: 401, no stray key."""
    app = instance(stateless_app, store, "A")
    headers = credentials(stateless_app, app)
    key = stateless_app.session_key(headers["Cookie"].removeprefix("session="))
    parse = stateless_app.cart_item

    def parse_while_another_instance_logs_out() -> tuple[str, int]:
        store.delete(key)
        return parse()

    monkeypatch.setattr(stateless_app, "cart_item", parse_while_another_instance_logs_out)
    response = add(app, headers)
    assert response.status_code == 401
    assert "session expired" in response.get_json()["error"]
    assert store.exists(key) == 0


def test_a_jwt_cart_expires_a_while_after_its_last_change(
    store_factory: Callable[[], redis.Redis],
) -> None:
    store = store_factory()
    app = instance(jwt_app, store, "A", CART_TTL_SECONDS=3600)
    headers = credentials(jwt_app, app, "bob")
    assert add(app, headers).status_code == 200
    assert 3590 <= store.ttl("cart:bob") <= 3600
    store.expire("cart:bob", 10)
    assert add(app, headers).status_code == 200  # a change slides the expiry back
    assert store.ttl("cart:bob") > 3590


def test_a_cart_ttl_below_one_second_is_refused() -> None:
    with pytest.raises(ValueError, match="CART_TTL_SECONDS"):
        jwt_app.create_app("A", config={"JWT_SECRET": SECRET, "CART_TTL_SECONDS": 0})
