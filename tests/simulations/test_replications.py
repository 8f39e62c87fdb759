"""Replications, warm-up and intervals: how sure a simulated number is."""

from __future__ import annotations

import json
import math
import random
from array import array

import pytest

from simulations import run_balance
from simulations.cli import main
from simulations.engine.metrics import ResponseStats, Samples, percentile
from simulations.engine.workload import numpy_streams
from simulations.replications import (
    mean_interval,
    merge,
    replicate,
    replication_seeds,
    student_t_quantile,
)
from simulations.scenarios.balance.cli import run as run_balance_json
from simulations.scenarios.balance.model import BalanceScenario


@pytest.mark.parametrize(
    "df, quantile",  # Student's t, 97.5th percentile, from published tables
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)],
)
def test_student_t_quantiles_match_the_tables(df: int, quantile: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(quantile, abs=5e-5)


def test_the_interval_of_a_mean_covers_the_truth_about_95_percent_of_the_time() -> None:
    rng = random.Random(5)
    trials = 2_000
    covered = sum(
        low <= 10.0 <= high
        for low, high in (
            mean_interval([rng.gauss(10.0, 3.0) for _ in range(5)]) for _ in range(trials)
        )
    )
    assert 0.935 <= covered / trials <= 0.965  # a z interval (1.96) would cover only ~88%


def test_an_interval_needs_two_values() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])


def test_replication_seeds_are_distinct_and_the_first_ones_do_not_depend_on_r() -> None:
    seeds = replication_seeds(7, 10)
    assert len(set(seeds)) == 10 and 7 not in seeds
    assert replication_seeds(7, 3) == seeds[:3]
    assert replication_seeds(-7, 3) != replication_seeds(7, 3)  # a negative seed is its own


def test_negative_seeds_give_their_own_streams() -> None:
    (positive,), _ = numpy_streams(3, 1)
    (negative,), _ = numpy_streams(-3, 1)
    assert positive.random() != negative.random()


def test_one_replication_is_exactly_one_run() -> None:
    scenario = BalanceScenario(requests=2_000, seed=4)
    assert replicate(run_balance_json, scenario, 1) == run_balance_json(scenario)


def test_replications_sum_counts_average_the_rest_and_give_intervals() -> None:
    scenario = BalanceScenario(requests=3_000, seed=4, arrival_rate=3.6)
    merged = replicate(run_balance_json, scenario, 4)
    runs = [
        run_balance_json(BalanceScenario(requests=3_000, seed=seed, arrival_rate=3.6))
        for seed in replication_seeds(4, 4)
    ]
    assert merged["seed"] == 4 and merged["requests"] == 3_000  # the settings, as given
    assert merged["requests_completed"] == 12_000  # a count: summed
    assert merged["served"] == [sum(run["served"][i] for run in runs) for i in range(4)]
    assert merged["mean_response"] == pytest.approx(sum(r["mean_response"] for r in runs) / 4)
    low, high = merged["interval"]["mean_response"]
    assert low < merged["mean_response"] < high
    assert (low, high) == pytest.approx(mean_interval([r["mean_response"] for r in runs]), 1e-5)
    assert merged["interval"]["replications"] == 4 and merged["interval"]["warmup"] == 0
    assert "load" not in merged["interval"]  # the same in every replication: no interval
    assert json.loads(json.dumps(merged, allow_nan=False)) == merged


def test_intervals_from_replications_cover_the_theory_where_one_run_misses_it() -> None:
    # Random routing at load 0.9 is four M/M/1 queues: the mean response time is 10 s. One short
    # run misses it by far more than 3%; ten replications with a warm-up bracket it.
    theory = 10.0
    one = run_balance("random", 4, 3.6, 1.0, 8_000, seed=42).mean_response
    assert abs(one / theory - 1) > 0.03
    scenario = BalanceScenario(arrival_rate=3.6, requests=8_000, seed=42, warmup=1_000)
    low, high = replicate(run_balance_json, scenario, 10)["interval"]["mean_response"]
    assert low <= theory <= high
    assert high - low < 0.5 * theory  # and the interval says something


def test_merge_refuses_what_it_cannot_combine() -> None:
    with pytest.raises(TypeError, match="cannot merge 'events'"):
        merge([{"events": [{"a": 1}]}, {"events": []}], {})


def test_merge_keeps_a_warning_once_and_nested_numbers_key_by_key() -> None:
    merged = merge(
        [{"warning": "unstable", "theory": {"mean": 1.0}}, {"theory": {"mean": 3.0}}], {}
    )
    assert merged == {"warning": "unstable", "theory": {"mean": 2.0}}


def test_the_command_line_reports_replications_and_refuses_them_where_they_do_not_apply(
    capsys,
) -> None:
    argv = ["balance", "--requests", "2000", "--replications", "3", "--warmup", "500"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["requests_completed"] == 6_000 and result["warmup"] == 500
    assert result["interval"]["replications"] == 3 and result["interval"]["warmup"] == 500
    assert main(argv) == 0
    assert "95% intervals over 3 replications, the first 500 requests" in capsys.readouterr().out
    assert main(["balance", "--replications", "0"]) == 2
    assert main(["balance", "--requests", "100", "--warmup", "100"]) == 2
    assert "warmup must be below the 100 requests" in capsys.readouterr().err
    assert main(["crashes", "--replications", "2"]) == 2  # its events cannot be averaged
    capsys.readouterr()
    assert main(["balance", "--requests", "1500000", "--replications", "2"]) == 2
    assert "3,000,000 requests over all replications" in capsys.readouterr().err


def test_the_warm_up_leaves_out_exactly_the_first_requests() -> None:
    full = run_balance("round_robin", 3, 2.4, 1.0, 3_000, seed=1)
    warm = run_balance("round_robin", 3, 2.4, 1.0, 3_000, seed=1, warmup=1_000)
    assert warm.requests_completed == full.requests_completed == 3_000
    assert warm.response.count == 2_000
    # the same run: the measured times are the full run's times of requests 1000 and later,
    # which round robin sends to instance number % 3, served in order there
    per_instance = [list(range(k, 3_000, 3)) for k in range(3)]
    kept = sorted(
        time
        for k, numbers in enumerate(per_instance)
        for number, time in zip(numbers, full_times(full, k), strict=True)
        if number >= 1_000
    )
    assert sorted(warm.response_times) == kept


def full_times(result, instance: int) -> list[float]:
    part = result.response_times.parts[instance]
    return list(part)


def test_samples_read_several_arrays_as_one_sequence() -> None:
    parts = [array("d", [3.0, 1.0]), array("d"), array("d", [2.0])]
    samples = Samples(parts)
    assert len(samples) == 3 and list(samples) == [3.0, 1.0, 2.0]
    assert samples[0] == 3.0 and samples[2] == 2.0 and samples[-1] == 2.0
    assert samples == [3.0, 1.0, 2.0] and samples != [3.0, 1.0]
    with pytest.raises(IndexError):
        samples[3]
    with pytest.raises(TypeError):
        samples[0:2]


@pytest.mark.parametrize("split", [1, 3, 7])
def test_stats_over_parts_equal_stats_over_one_sorted_list(split: int) -> None:
    rng = random.Random(split)
    values = [rng.lognormvariate(0, 2) for _ in range(3_001)]
    parts = [array("d", values[k::split]) for k in range(split)]
    stats, ordered = ResponseStats.of(Samples(parts)), sorted(values)
    assert (stats.p50, stats.p95, stats.p99) == tuple(percentile(ordered, q) for q in (50, 95, 99))
    assert stats.mean == math.fsum(values) / len(values)


def test_estimate_and_the_interval_table_say_the_mean_and_its_interval() -> None:
    from simulations.replications import estimate, interval_table

    low, high = mean_interval([1.0, 2.0, 3.0])
    assert estimate([1.0, 2.0, 3.0], unit=" s") == (f"2.0 s (95% interval {low:.1f} to {high:.1f})")
    rows = interval_table(
        "setup", {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}, [("x", float, "{:.1f}")], width=16
    ).splitlines()
    assert rows[0] == "mean (95% interval) over 3 runs"
    assert rows[1].startswith("setup") and rows[1].endswith("x")
    assert rows[3].startswith("a") and rows[3].endswith(f"2.0 ({low:.1f}–{high:.1f})")
    with pytest.raises(ValueError, match="same number of runs"):
        interval_table("setup", {"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, [], width=10)
    with pytest.raises(ValueError, match="at least 2"):
        interval_table("setup", {"a": [1.0]}, [], width=10)
