"""Round trips through real sockets: the bands lesson 02 states hold, in both CI passes (fakeredis
over TCP, and the real redis-server of REDIS_URL), at small sizes; a measurement leaves no key
behind; bad input is refused before anything starts."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import redis

from labs import roundtrips
from labs.redis_store import EmbeddedRedisServer, redis_url
from labs.roundtrips import (
    HOP,
    BandCheck,
    CallCost,
    CallCosts,
    RequestCosts,
    RoundTripError,
    band_checks,
    compare_calls,
    compare_requests,
)

STORE = "redis-server" if redis_url() else "fakeredis over TCP"


@pytest.fixture(scope="module")
def requests_measured() -> RequestCosts:
    return compare_requests(delays=(0.0, HOP), requests=60)


@pytest.fixture(scope="module")
def calls_measured() -> CallCosts:
    return compare_calls(calls=(1, 10, 50), delays=(HOP,), rounds=10)


def test_requests_are_measured_on_the_store_behind_a_real_socket(
    requests_measured: RequestCosts,
) -> None:
    measured = requests_measured
    assert measured.store == STORE and measured.requests == 60
    assert [delay for delay, _ in measured.through_hops] == [0.0, HOP]
    assert 0 < measured.stateful_us < measured.direct_us
    # the hop's sleep is a floor: a 1 ms hop costs the request at least 1 ms more
    assert measured.stateless_us(HOP) >= measured.stateless_us() + 1000


def test_calls_are_measured_for_every_count_and_path(calls_measured: CallCosts) -> None:
    measured = calls_measured
    assert measured.store == STORE and measured.rounds == 10
    assert {(cost.calls, cost.hop_delay) for cost in measured.costs} == {
        (k, hop) for k in (1, 10, 50) for hop in (None, HOP)
    }
    assert measured.cost(50, HOP).sequential_us >= 50 * 1000  # 50 round trips, each ≥ 1 ms
    assert measured.cost(1).sequential_us == measured.one_call_us()


def test_the_bands_of_lesson_02_hold(
    requests_measured: RequestCosts, calls_measured: CallCosts
) -> None:
    checks = band_checks(requests_measured, calls_measured)
    assert len(checks) == 3 + 2 * 5  # per k in (10, 50): 2 sequential, pipelined, 2 gains
    failing = [f"{check} (measured {check.measured:.2f})" for check in checks if not check.holds]
    assert not failing, failing


def test_a_band_can_fail() -> None:
    """Made-up measurements outside every band: each check says so."""
    requests = RequestCosts("made up", 10, 100.0, 105.0, ((0.0, 110.0), (HOP, 120.0)))
    calls = CallCosts(
        "made up",
        10,
        (
            CallCost(1, None, 100.0, 100.0),
            CallCost(1, HOP, 1000.0, 1000.0),
            CallCost(10, None, 100.0, 100.0),  # as cheap as one call, and no gain
            CallCost(10, HOP, 100_000.0, 200_000.0),  # ten times too slow, pipelining worse
        ),
    )
    checks = band_checks(requests, calls)
    assert [check.holds for check in checks] == [False] * len(checks)
    assert str(checks[0]).startswith("FAILS: straight to the store")
    assert BandCheck("x", 2.0, 1.0, math.inf).holds


def test_band_checks_need_the_hops_they_speak_of(
    requests_measured: RequestCosts, calls_measured: CallCosts
) -> None:
    no_zero_hop = RequestCosts("made up", 1, 1.0, 2.0, ((HOP, 3.0),))
    with pytest.raises(ValueError, match=r"need hops of 0 and 0\.001"):
        band_checks(no_zero_hop, calls_measured)
    straight_only = CallCosts("made up", 1, (CallCost(1, None, 1.0, 1.0),))
    with pytest.raises(ValueError, match=r"need a 0\.001 s hop"):
        band_checks(requests_measured, straight_only)


def test_asking_for_what_was_not_measured_is_an_error(
    requests_measured: RequestCosts, calls_measured: CallCosts
) -> None:
    with pytest.raises(ValueError, match=r"no measurement through a 0\.002 s hop"):
        requests_measured.stateless_us(0.002)
    with pytest.raises(ValueError, match="no measurement of 7 calls"):
        calls_measured.cost(7)


@pytest.fixture
def own_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The store the measurement will use, to look at: REDIS_URL's, or an embedded server of
    this test's own handed over in REDIS_URL."""
    if redis_url():
        client = redis.Redis.from_url(redis_url())
        yield client
        client.close()
    else:
        with EmbeddedRedisServer() as server:
            monkeypatch.setenv("REDIS_URL", server.url)
            client = redis.Redis.from_url(server.url)
            yield client
            client.close()


def test_a_measurement_leaves_no_key_behind(own_store: redis.Redis) -> None:
    before = set(own_store.scan_iter())
    compare_requests(delays=(0.0,), requests=2)
    compare_calls(calls=(3,), delays=(), rounds=2)
    assert set(own_store.scan_iter()) <= before  # sessions logged out, call keys deleted


def test_a_failed_login_is_an_error_not_a_time() -> None:
    with pytest.raises(RoundTripError, match="login failed with 401"):
        compare_requests(delays=(), requests=1, user="mallory")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"requests": 0}, "requests must be a whole number from 1"),
        ({"requests": 2.5}, "requests must be a whole number"),
        ({"requests": True}, "requests must be a whole number"),
        ({"requests": "10"}, "requests must be a whole number"),
        ({"delays": (-0.001,)}, "between 0 and"),
        ({"delays": ("fast",)}, "a number of seconds"),
        ({"delays": 0.001}, "delays must be a list"),
        ({"delays": (0.001, 0.001)}, "must all differ"),
    ],
)
def test_bad_request_arguments_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_requests(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"calls": ()}, "calls must be a list"),
        ({"calls": "10"}, "calls must be a list"),
        ({"calls": (0,)}, "each count of calls must be a whole number from 1"),
        ({"calls": (roundtrips.MAX_CALLS + 1,)}, f"to {roundtrips.MAX_CALLS}"),
        ({"calls": (2.5,)}, "each count of calls must be a whole number"),
        ({"rounds": 0}, "rounds must be a whole number from 1"),
        ({"delays": (float("nan"),)}, "between 0 and"),
    ],
)
def test_bad_call_arguments_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_calls(**arguments)


# --- Lesson 12: the sweep of call counts and hops -----------------------------------------------


@pytest.fixture(scope="module")
def sweep_measured() -> CallCosts:
    return compare_calls(
        calls=roundtrips.LESSON_12_CALLS, delays=roundtrips.LESSON_12_HOPS, rounds=4
    )


def test_the_statements_of_lesson_12_hold(sweep_measured: CallCosts) -> None:
    checks = roundtrips.call_checks(sweep_measured)
    assert len(checks) == len(roundtrips.LESSON_12_HOPS) + 2
    failing = [f"{check} (measured {check.measured:.2f})" for check in checks if not check.holds]
    assert not failing, failing


def test_the_call_table_has_a_row_per_count_and_hop(sweep_measured: CallCosts) -> None:
    table = roundtrips.call_table(sweep_measured).splitlines()
    hops = len(roundtrips.LESSON_12_HOPS) + 1  # and straight to the store
    assert len(table) == 1 + hops * len(roundtrips.LESSON_12_CALLS)
    assert table[1].split()[:2] == ["none", "1"] and table[-1].split()[:3] == ["2", "ms", "50"]


def test_the_lesson_12_statements_can_fail() -> None:
    """A store that answered 50 calls in a row as fast as one, through a hop, fails two."""
    costs = CallCosts(
        "made up",
        1,
        tuple(
            CallCost(k, hop, 1000.0 * (1 if k == 1 else 2), 900.0)
            for k in (1, 50)
            for hop in (None, 0.001)
        ),
    )
    held = {check.statement: check.holds for check in roundtrips.call_checks(costs)}
    assert held == {
        "through a 1 ms hop, 50 calls in a row cost at least 50 hops": False,
        "through a 1 ms hop, each of 50 calls in a row costs 0.7-1.6x one call alone": False,
        "through a 1 ms hop, 50 pipelined calls cost at most 6 single calls (one round trip)": (
            True
        ),
    }
    with pytest.raises(ValueError, match="two call counts and one hop"):
        roundtrips.call_checks(CallCosts("made up", 1, costs.costs[:2]))
