"""The store scenario, lesson 12: read replicas, shards and a cache in the instance, against
theory, and the lesson 02 runs they must leave alone."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from simulations import (
    SCALING_VARIANTS,
    StoreScenario,
    compare_scaling,
    expected_response_ms,
    max_instances_before_saturation,
    replicate_store,
    run_store,
)
from simulations.cli import main
from simulations.engine.workload import numpy_streams

NEW_KNOBS = {"read_share": 0.8, "read_replicas": 0, "shards": 1, "cache_hit": 0.0}


def measured(result) -> dict:
    """A run's dict without the echo of its settings: what the run measured."""
    fields = {f.name for f in dataclasses.fields(StoreScenario)}
    return {k: v for k, v in result.to_dict().items() if k not in fields}


# --- the defaults are lesson 02's model ------------------------------------------------------


def test_asking_for_more_streams_leaves_the_first_ones_alone() -> None:
    # what keeps lesson 02's runs as they were: the old four streams draw the same numbers
    four, _ = numpy_streams(11, 4)
    eight, _ = numpy_streams(11, 8)
    assert [g.random(3).tolist() for g in four] == [g.random(3).tolist() for g in eight[:4]]


def test_the_new_knobs_at_their_defaults_are_the_defaults() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(StoreScenario)}
    assert {name: fields[name] for name in NEW_KNOBS} == NEW_KNOBS
    settings = {"instances": 6, "calls": 2, "requests": 3_000, "warmup": 300, "seed": 4}
    assert run_store(**settings) == run_store(**settings, **NEW_KNOBS)


@pytest.mark.parametrize("read_share", [0.0, 0.35, 1.0])
def test_without_replicas_or_a_cache_the_read_share_changes_nothing(read_share: float) -> None:
    settings = {"instances": 8, "calls": 3, "requests": 3_000, "warmup": 300, "seed": 2}
    plain, other = run_store(**settings), run_store(**settings, read_share=read_share)
    assert measured(other) == measured(plain)
    assert other.timeline == plain.timeline
    assert expected_response_ms(other.scenario) == expected_response_ms(plain.scenario)


def test_the_knobs_do_nothing_when_sessions_live_in_memory() -> None:
    settings = {"instances": 4, "store": "memory", "requests": 2_000, "warmup": 200}
    plain = run_store(**settings)
    other = run_store(**settings, read_replicas=3, shards=4, cache_hit=0.5)
    assert measured(other) == measured(plain)
    assert other.scenario.store_load == 0 and other.store_work == 0


# --- bad knobs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "knob"),
    [
        ({"read_share": 1.5}, "read_share"),
        ({"read_share": -0.1}, "read_share"),
        ({"read_replicas": 9}, "read_replicas"),
        ({"read_replicas": -1}, "read_replicas"),
        ({"read_replicas": 1.5}, "read_replicas"),
        ({"shards": 0}, "shards"),
        ({"shards": 17}, "shards"),
        ({"cache_hit": 1.01}, "cache_hit"),
        ({"cache_hit": math.nan}, "cache_hit"),
    ],
)
def test_bad_knobs_are_refused_with_their_name(settings: dict, knob: str) -> None:
    with pytest.raises(ValueError, match=knob):
        StoreScenario(**settings)


@pytest.mark.parametrize("threshold", [0, -1.0, math.inf, "high"])
def test_a_bad_saturation_threshold_is_refused_with_its_name(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        max_instances_before_saturation(StoreScenario(), threshold)  # type: ignore[arg-type]


# --- theory -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "knobs",
    [
        {"read_replicas": 2},
        {"read_replicas": 1, "read_share": 0.5},
        {"shards": 4},
        {"cache_hit": 0.8},
        {"read_replicas": 3, "shards": 2, "cache_hit": 0.5},
    ],
    ids=lambda knobs: ",".join(f"{k}={v}" for k, v in knobs.items()),
)
def test_theory_lies_in_the_interval_of_ten_replications(knobs: dict) -> None:
    # one call per request: every store queue is M/M/1 (Poisson splitting), the formula exact
    run = replicate_store(10, 16, requests=10_000, warmup=1_000, **knobs)
    low, high = run["interval"]["mean_ms"]
    assert low <= run["expected_ms"] <= high, run["interval"]
    assert high - low < 0.05 * run["expected_ms"]  # and the interval says something


def test_each_queue_is_as_busy_as_its_load_says() -> None:
    run = replicate_store(5, 16, calls=2, read_replicas=2, shards=2, requests=8_000, warmup=500)
    assert run["primary_utilization"] == pytest.approx(run["primary_load"], rel=0.05)
    assert run["replica_utilization"] == pytest.approx(run["replica_load"], rel=0.05)
    s = StoreScenario(16, calls=2, read_replicas=2, shards=2)
    # 2 shards, each: the writes to its primary, the reads split over its 2 replicas
    total = 16 * s.rate * s.calls * s.store_ms / 1_000
    assert s.primary_load == pytest.approx(total / 2 * (1 - s.read_share))
    assert s.replica_load == pytest.approx(total / 2 * s.read_share / 2)
    assert s.store_load == max(s.primary_load, s.replica_load)
    assert run["store_work"] == pytest.approx(total, rel=0.05)  # the same work, spread out


def test_the_call_shares_add_up_to_every_call() -> None:
    for replicas in (0, 1, 4):
        for share in (0.0, 0.3, 1.0):
            for hit in (0.0, 0.6, 1.0):
                s = StoreScenario(read_replicas=replicas, read_share=share, cache_hit=hit)
                assert sum(s.call_shares) == pytest.approx(1.0)
                assert s.call_shares[2] == pytest.approx(share * hit)


@pytest.mark.parametrize("threshold", [0.5, 0.8, 1.0])
@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_the_saturation_n_is_the_last_below_the_threshold(threshold: float, variant: str) -> None:
    s = StoreScenario(calls=3, **SCALING_VARIANTS[variant])
    n = max_instances_before_saturation(s, threshold)
    assert n is not None and n >= 1
    assert dataclasses.replace(s, instances=n).store_load < threshold
    assert dataclasses.replace(s, instances=n + 1).store_load >= threshold


def test_saturation_orders_the_variants_as_their_busiest_queue_says() -> None:
    n = {
        label: max_instances_before_saturation(StoreScenario(calls=3, **knobs), 1.0)
        for label, knobs in SCALING_VARIANTS.items()
    }
    # busiest queue per instance: 0.15, 0.15 × 0.8 / 2, 0.15 / 4, 0.15 × (1 − 0.8 × 0.8)
    loads = (0.15, 0.06, 0.0375, 0.054)
    assert n == {k: math.ceil(1 / load) - 1 for k, load in zip(n, loads, strict=True)}
    assert max_instances_before_saturation(StoreScenario(store="memory")) is None
    assert max_instances_before_saturation(StoreScenario(read_share=1.0, cache_hit=1.0)) is None
    assert max_instances_before_saturation(StoreScenario(store_ms=1_000.0)) == 0


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_the_simulated_response_time_blows_up_where_theory_says(variant: str) -> None:
    knobs = {"calls": 3, "requests": 20_000, "warmup": 2_000, **SCALING_VARIANTS[variant]}
    n = max_instances_before_saturation(StoreScenario(**knobs), 1.0)
    assert n is not None
    below, past = (replicate_store(3, count, **knobs) for count in (n - 1, n + 2))
    assert below["store_load"] < 1 < past["store_load"]
    assert below["failed"] == 0 and past["failure_rate"] > 0.02  # the store's queue outgrows
    assert past["mean_ms"] > 3 * below["mean_ms"]  # the timeout, and everything queues
    low, high = below["interval"]["mean_ms"]  # below saturation theory still holds (about:
    assert 0.85 * low <= below["expected_ms"] <= 1.15 * high  # 3 calls are not Poisson)


# --- what each buys -----------------------------------------------------------------------------

HEAVY = {"instances": 5, "calls": 3, "requests": 10_000, "warmup": 1_000, "seed": 1}  # ρ = 0.75


def test_replicas_help_a_read_heavy_load() -> None:
    one = run_store(**HEAVY, read_share=0.9)
    copies = run_store(**HEAVY, read_share=0.9, read_replicas=2)
    assert copies.response.mean < 0.8 * one.response.mean
    assert copies.primary_utilization == pytest.approx(0.1 * one.primary_utilization, rel=0.15)
    assert copies.replica_utilization == pytest.approx(0.45 * one.primary_utilization, rel=0.1)


def test_replicas_do_nothing_for_a_write_only_load() -> None:
    one = run_store(**HEAVY, read_share=0.0)
    copies = run_store(**HEAVY, read_share=0.0, read_replicas=4)
    # every call a write: all to the primary, the very same calls in the very same order
    assert copies.response == one.response and copies.failed == one.failed
    assert copies.replica_utilization == 0 and copies.scenario.store_load == pytest.approx(0.75)
    assert expected_response_ms(copies.scenario) == pytest.approx(
        expected_response_ms(one.scenario)
    )


@pytest.mark.parametrize("read_share", [0.0, 0.9])
def test_shards_help_reads_and_writes_alike(read_share: float) -> None:
    # with a replica per shard: write-only loads the primaries, read-heavy the replicas
    one = run_store(**HEAVY, read_share=read_share, read_replicas=1)
    four = run_store(**HEAVY, read_share=read_share, read_replicas=1, shards=4)
    # theory: the store's part of a request falls from 7.5 to 3.3 ms (write-only) and from 5.8
    # to 3.3 ms (read-heavy); the app's own 6.7 ms stays
    assert four.store_share_ms < 0.7 * one.store_share_ms
    assert four.response.mean < one.response.mean
    assert four.scenario.store_load == pytest.approx(one.scenario.store_load / 4)
    busiest = (four.store_utilization, one.store_utilization)
    assert busiest[0] == pytest.approx(busiest[1] / 4, rel=0.1)  # the users spread evenly
    assert four.store_work == pytest.approx(one.store_work, rel=0.05)  # the same work, split


@pytest.mark.parametrize(("cache_hit", "read_share"), [(0.8, 0.8), (0.5, 0.9), (0.9, 0.3)])
def test_a_cache_cuts_the_store_work_by_the_share_of_calls_it_answers(
    cache_hit: float, read_share: float
) -> None:
    settings = {**HEAVY, "read_share": read_share}
    plain = run_store(**settings)
    cached = run_store(**settings, cache_hit=cache_hit)
    cut = 1 - cached.store_work / plain.store_work
    assert cut == pytest.approx(cache_hit * read_share, abs=0.03)
    assert cached.store_utilization == pytest.approx(cached.scenario.store_load, rel=0.05)
    assert cached.response.mean < plain.response.mean


def test_with_the_primary_down_replicas_still_answer_the_reads() -> None:
    settings = {"incident": "down", "incident_at": 5.0, "incident_for": 2.0}
    settings |= {"requests": 8_000, "warmup": 0}
    alone = replicate_store(5, 4, **settings)
    copies = replicate_store(5, 4, **settings, read_replicas=2)  # one call: a write, p = 0.2
    outage = 5 * 2.0 * 4 * StoreScenario.rate  # requests sent during the 5 runs' outages
    assert alone["failed"] == pytest.approx(outage, rel=0.1)  # every one of them
    assert copies["failed"] == pytest.approx(0.2 * outage, rel=0.1)  # only the writes


def test_a_slow_primary_does_not_slow_its_replicas() -> None:
    settings = {"incident": "slow", "incident_at": 5.0, "incident_for": 2.0, "slow_factor": 20}
    settings |= {"requests": 8_000, "warmup": 0, "read_share": 1.0}
    alone = run_store(4, **settings)
    copies = run_store(4, **settings, read_replicas=1)  # all reads: the primary has no calls
    assert alone.failed > 500
    assert copies.failed == 0 and copies.primary_utilization == 0


# --- the sweep, the command line and the figure -----------------------------------------------


def test_compare_scaling_gives_each_variant_one_run_per_n() -> None:
    runs = compare_scaling([2, 4], replications=2, calls=2, requests=1_500, warmup=100)
    assert list(runs) == list(SCALING_VARIANTS)
    for label, series in runs.items():
        assert [run["instances"] for run in series] == [2, 4]
        for run in series:
            assert run["calls"] == 2 and run["interval"]["replications"] == 2
            assert {k: run[k] for k in SCALING_VARIANTS[label]} == SCALING_VARIANTS[label]
    mine = compare_scaling([3], {"write-only": {"read_share": 0.0, "read_replicas": 1}})
    assert list(mine) == ["write-only"] and mine["write-only"][0]["replica_utilization"] == 0


def test_the_command_line_takes_the_new_knobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "--read-replicas", "2", "--requests", "3000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["read_replicas"] == 2 and result["replica_load"] == pytest.approx(0.08)
    argv = ["store", "--requests", "3000"]
    assert main([*argv, "--shards", "2", "--cache-hit", "0.5"]) == 0
    table = capsys.readouterr().out
    assert "2 shard(s)" in table and "50% of them cached" in table and "primary busy" in table
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert "shard" not in plain and "primary" not in plain  # defaults: lesson 02's table
    assert main(["store", "--store", "memory", "--read-replicas", "1"]) == 2
    assert "applies only to" in capsys.readouterr().err


def test_the_scaling_figure_marks_where_each_variant_saturates() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simulations.scenarios.store.plots import plot_scaling, saturation_point

    runs = compare_scaling([2, 8, 20], replications=2, calls=3, requests=1_500, warmup=100)
    fig = plot_scaling(runs)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    marks = [line for line in ax.lines if line.get_linestyle() == ":" and len(line.get_xdata())]
    expected = [saturation_point(series[0]) for series in runs.values()]
    assert sorted(m.get_xdata()[0] for m in marks) == pytest.approx(
        sorted(x for x in expected if 2 <= x <= 20)
    )
    assert expected[0] == pytest.approx(1 / 0.15)  # one store, 3 calls: ρ = 0.15 N
    plt.close(fig)
