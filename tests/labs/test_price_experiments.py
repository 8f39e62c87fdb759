"""Lesson 12's experiments measure what they say: store round trips counted on a real socket,
the bytes a credential adds, revocation, the 4 KB cookie, key rotation, and a real cluster of each
design through a Redis outage and a kill; bad arguments are refused before anything starts."""

from __future__ import annotations

import pytest

from labs import price_experiments as price
from labs.apps import cookie_app
from labs.price_experiments import (
    DESIGNS,
    OUTAGE_DESIGNS,
    Tally,
    availability_rows,
    counted_client,
    design_named,
    lines_in_cookie,
    measure_design,
    session_table,
    sessions_three_ways,
    store_outage,
)
from labs.redis_store import EmbeddedRedisServer


@pytest.fixture(scope="module")
def rows():
    return {row.design: row for row in sessions_three_ways()}


@pytest.fixture(scope="module")
def store_url():
    with EmbeddedRedisServer() as server:
        yield server.url


def test_the_counter_counts_round_trips_and_commands(store_url: str) -> None:
    tally = Tally()
    client = counted_client(store_url, tally)
    client.ping()  # the connection's own handshake is not a request's
    tally.reset()
    client.set("price:k", "v")
    assert (tally.round_trips, tally.commands) == (1, 1)
    tally.reset()
    client.pipeline(transaction=False).get("price:k").get("price:k").get("price:k").execute()
    assert (tally.round_trips, tally.commands) == (1, 3)
    tally.reset()
    client.pipeline().get("price:k").expire("price:k", 5).execute()  # MULTI, 2, EXEC
    assert (tally.round_trips, tally.commands) == (1, 4)
    client.delete("price:k")
    client.close()


def test_a_session_in_the_store_costs_a_round_trip_and_a_cookie_none(rows) -> None:
    assert rows["Redis session"].me_round_trips == 1  # HGET + EXPIRE in one pipeline
    assert rows["JWT + denylist"].me_round_trips == 1  # EXISTS on the denylist
    for name in ("signed cookie", "encrypted cookie"):
        assert rows[name].me_round_trips == rows[name].add_round_trips == 0
    for name in ("Redis session", "JWT + denylist"):
        assert rows[name].add_round_trips >= 2  # the cart's optimistic transaction


def test_a_cookie_carries_the_cart_both_ways_and_an_id_does_not(store_url: str) -> None:
    small = {d.name: measure_design(d, store_url, 0) for d in DESIGNS}
    large = {d.name: measure_design(d, store_url, 20) for d in DESIGNS}
    for name in ("Redis session", "JWT + denylist"):
        assert small[name].request_bytes == large[name].request_bytes
        assert large[name].answer_bytes == 0  # the id or token is set once, at login
    for name in ("signed cookie", "encrypted cookie"):
        assert large[name].request_bytes > small[name].request_bytes + 20 * 20
        assert large[name].answer_bytes > large[name].request_bytes  # sent back, with its flags
    assert large["encrypted cookie"].request_bytes > large["signed cookie"].request_bytes
    assert small["Redis session"].request_bytes < small["JWT + denylist"].request_bytes


def test_only_a_design_with_server_state_ends_a_kept_copy(rows) -> None:
    assert rows["Redis session"].copy_after_logout == 401
    assert rows["JWT + denylist"].copy_after_logout == 401
    assert rows["signed cookie"].copy_after_logout == 200
    assert rows["encrypted cookie"].copy_after_logout == 200


def test_the_4kb_limit_is_where_the_cookie_stops_fitting(rows) -> None:
    for mode in cookie_app.MODES:
        design = design_named(f"{mode} cookie")
        app = cookie_app.create_app("A", None, design.config)
        fits = lines_in_cookie(app)
        assert fits == rows[design.name].lines_in_4kb
        skus = price.cart_skus(fits + 1)
        cart = {sku: 1 for sku in skus}
        assert cookie_app.cookie_bytes(app, {"user": "alice", "cart": cart}) > 4093
        del cart[skus[-1]]
        assert cookie_app.cookie_bytes(app, {"user": "alice", "cart": cart}) <= 4093
    assert rows["encrypted cookie"].lines_in_4kb < rows["signed cookie"].lines_in_4kb
    assert rows["Redis session"].lines_in_4kb is None


def test_a_rotation_keeps_sessions_only_with_the_old_key(rows) -> None:
    assert rows["Redis session"].rotated_status is None  # an opaque id: no key
    for name in ("JWT + denylist", "signed cookie", "encrypted cookie"):
        assert (rows[name].rotated_status, rows[name].replaced_status) == (200, 401), name


def test_the_table_shows_every_design(rows) -> None:
    table = session_table(list(rows.values())).splitlines()
    assert [line.split("  ")[0].strip() for line in table[2:]] == [d.name for d in DESIGNS]
    assert "WORKS (200)" in table[4] and "refused (401)" in table[2]


def test_the_measurement_leaves_the_private_store_empty(store_url: str) -> None:
    import redis

    measure_design(design_named("Redis session"), store_url, 3)
    keys = redis.Redis.from_url(store_url).keys("session:*")
    assert keys == []  # both logins logged out


@pytest.mark.parametrize("design", list(OUTAGE_DESIGNS))
def test_the_store_outage_on_a_real_cluster(design: str) -> None:
    run = store_outage(design, outage=0.6)
    assert run.before[0] == run.before[1] > 0
    assert run.after[0] == run.after[1] > 0
    if design.startswith("stateless"):
        assert run.during[0] == 0 < run.during[1]  # every request needed the store
        assert run.users_lost == 0
    else:
        assert run.during[0] == run.during[1] > 0  # the sticky instances need no store
        assert run.after_kill[price.USERS[0]] == 401  # its session died with its instance
        assert 1 <= run.users_lost < len(price.USERS)
    assert run.verdict().startswith(design)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: store_outage("memcached"), "design must be one of"),
        (lambda: store_outage(next(iter(OUTAGE_DESIGNS)), outage=0), "outage must be from"),
        (lambda: store_outage(next(iter(OUTAGE_DESIGNS)), outage=True), "outage must be from"),
        (lambda: sessions_three_ways(cart_lines=-1), "cart_lines"),
        (lambda: sessions_three_ways(cart_lines="many"), "cart_lines"),
        (lambda: design_named("cookie"), "no session design"),
        (lambda: availability_rows(instance=1.5), "instance availability"),
        (lambda: availability_rows(store=0), "store availability"),
        (lambda: availability_rows(instances=0), "instances"),
    ],
)
def test_bad_arguments_are_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_the_store_caps_a_stateless_fleet_and_a_replica_lifts_the_cap() -> None:
    (_, sticky), (_, fleet), (_, replicated) = availability_rows(0.99, 0.999, 3)
    assert sticky == 0.99
    assert fleet == pytest.approx((1 - 0.01**3) * 0.999) and fleet < 0.999
    assert replicated == pytest.approx((1 - 0.01**3) * (1 - 0.001**2)) and replicated > 0.999
    assert price.downtime(0.999) == "8.8 h" and price.downtime(0.99999) == "5.3 min"


def test_guesses_are_compared_with_the_measurement(rows) -> None:
    table = list(rows.values())
    blank = price.compare_guesses(price.empty_guesses(), table)
    assert blank.endswith("no guesses made: fill in the table") and "✓" not in blank
    guesses = price.empty_guesses()
    guesses["signed cookie"]["store_trips"] = 0  # right
    guesses["Redis session"]["copy_after_logout_works"] = True  # wrong
    guesses["JWT + denylist"]["store_trips"] = True  # True is not the number 1
    text = price.compare_guesses(guesses, table)
    assert text.endswith("1 of 3 guesses right")
    assert "store_trips ✓ (0)" in text and "copy_after_logout_works ✗ (False)" in text
    perfect = {row.design: price.measured_answers(row) for row in table}
    assert price.compare_guesses(perfect, table).endswith("16 of 16 guesses right")
    assert "must be a dict" in price.compare_guesses(["no"], table)
    assert "? (" in price.compare_guesses({"Redis session": "yes"}, table)


def test_a_growing_cookie_is_refused_before_the_browser_drops_it() -> None:
    encrypted = price.grow_cart("encrypted cookie", 64)
    assert encrypted.status == 413 and "4093" in encrypted.error
    assert encrypted.cookie_bytes <= 4093 and encrypted.cookie_kept
    assert encrypted.lines < 50  # the browser's limit comes before the shop's
    signed = price.grow_cart("signed cookie", 64)
    assert signed.status == 400 and signed.lines == 50  # compression: the shop's limit first
    assert signed.cookie_bytes <= 4093
    with pytest.raises(ValueError, match="keeps the cart in Redis"):
        price.grow_cart("Redis session")
    with pytest.raises(ValueError, match="sku_length"):
        price.grow_cart("signed cookie", 65)
