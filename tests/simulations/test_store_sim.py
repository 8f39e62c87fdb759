"""The store scenario (lesson 02): a shared store's cost per request, and its incidents."""

from __future__ import annotations

import math

import pytest

from simulations.cli import main
from simulations.scenarios.store.model import (
    StoreScenario,
    _Queue,
    by_instances,
    expected_response_ms,
    replicate_store,
    run_store,
)


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    first, again, other = run_store(3, seed=5), run_store(3, seed=5), run_store(3, seed=6)
    assert first == again
    assert other.response.mean != first.response.mean


@pytest.mark.parametrize("instances", [1, 8, 16])
@pytest.mark.parametrize("store", ["memory", "shared"])
def test_theory_lies_in_the_interval_of_ten_replications(instances: int, store: str) -> None:
    run = replicate_store(10, instances, store=store, requests=10_000, warmup=1_000)
    low, high = run["interval"]["mean_ms"]
    assert low <= run["expected_ms"] <= high, run["interval"]
    assert high - low < 0.1 * run["expected_ms"]  # and the interval says something


def test_the_store_costs_each_request_its_calls() -> None:
    memory, shared = (run_store(4, store=where, calls=3) for where in ("memory", "shared"))
    scenario = shared.scenario
    floor = scenario.calls * (scenario.rtt_ms + scenario.store_ms)  # no queue at all
    assert shared.response.mean - memory.response.mean > floor
    assert shared.store_share_ms > floor
    assert memory.store_utilization == 0 and memory.store_share_ms == 0


def test_the_store_is_as_busy_as_its_load_says_and_it_grows_with_n() -> None:
    runs = [run_store(n, calls=2) for n in (2, 4, 8)]
    for run in runs:
        assert run.store_utilization == pytest.approx(run.scenario.store_load, rel=0.05)
    assert runs[0].store_share_ms < runs[1].store_share_ms < runs[2].store_share_ms


def test_theory_is_infinite_when_the_store_cannot_keep_up() -> None:
    assert expected_response_ms(StoreScenario(instances=25, store_ms=0.5)) == math.inf
    assert math.isfinite(expected_response_ms(StoreScenario(instances=25, store="memory")))
    assert math.isnan(expected_response_ms(StoreScenario(incident="down")))


def test_a_store_that_is_down_fails_the_requests_of_the_outage_and_only_those() -> None:
    run = run_store(4, incident="down", incident_at=10, incident_for=2, requests=8_000)
    for start, served, failed, _ in run.timeline:
        if start >= 10 and start + 0.5 <= 11.5:  # the outage, less the queueing at either end
            assert served == 0 and failed > 150, start
        if start >= 12.5 or start + 0.5 <= 9.5:  # one queued at 9.99 s reaches it at 10
            assert failed == 0, start
    per_second = run.scenario.instances * run.scenario.rate
    assert run.failed == pytest.approx(2 * per_second, rel=0.1)


def test_a_store_slowed_past_its_capacity_fails_like_a_down_one_and_a_little_longer() -> None:
    # load 0.2 × 10 = 2: the store falls behind; its backlog outlives the slowdown a little
    settings = {"incident_at": 10, "incident_for": 2, "requests": 8_000}
    slow = run_store(4, incident="slow", **settings)
    down = run_store(4, incident="down", **settings)
    after = [failed for start, _, failed, _ in slow.timeline if start >= 12.0]
    assert sum(after) > 0 and sum(after[2:]) == 0  # failures end within a second
    assert abs(slow.failed - down.failed) < 0.15 * down.failed
    gentle = run_store(4, incident="slow", slow_factor=3, **settings)
    assert gentle.failed == 0  # load 0.6: slower, but it keeps up
    assert gentle.response.p99 > run_store(4, requests=8_000).response.p99


def test_the_slowdown_slows_the_store_not_the_calls_sent_during_it() -> None:
    store = _Queue(slow_from=10.0, slow_until=12.0, factor=10.0)
    assert store.take(0.0, 1.0) == 1.0  # before: full speed
    # 0.5 of work before the slowdown, 0.2 in its 2 s at a tenth of the speed, 0.3 after it
    assert store.take(9.5, 1.0) == pytest.approx(12.3)
    late = _Queue(slow_from=10.0, slow_until=12.0, factor=10.0)
    assert late.take(11.0, 1.0) == pytest.approx(12.0 + 0.9)  # 0.1 done slowly, 0.9 after
    assert late.take(20.0, 1.0) == 21.0 and late.busy == pytest.approx(1.9 + 1.0)


def test_a_timeout_shorter_than_the_store_fails_every_request() -> None:
    run = run_store(2, store_ms=2.0, rtt_ms=1.0, timeout_ms=0.5, requests=500, warmup=0)
    assert run.served == 0 and run.failed == 500 and run.failure_rate == 1.0


def test_by_instances_keeps_the_other_settings() -> None:
    runs = by_instances([1, 2], replications=2, calls=2, requests=2_000, warmup=100)
    assert [run["instances"] for run in runs] == [1, 2]
    assert all(run["calls"] == 2 and run["interval"]["replications"] == 2 for run in runs)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"warmup": 20_000}, "warmup must be below"),
        ({"rtt_ms": -1.0}, "rtt_ms"),
        ({"slow_factor": 0.5}, "slow_factor"),
        ({"calls": 100, "requests": 1_000_000}, "store calls"),
        ({"store": "disk"}, "store"),
    ],
)
def test_bad_settings_are_refused_with_the_knob(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StoreScenario(**settings)


def test_the_command_line_prints_theory_and_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "--instances", "2", "--requests", "3000", "--replications", "3"]) == 0
    out = capsys.readouterr().out
    assert "theory" in out and "mean ms" in out and "store busy" in out
