"""The HPA rule (tolerance, stabilization window, min/max) and the spike scenario."""

from __future__ import annotations

import pytest

from simulations.scenarios.autoscale.autoscaler import (
    HorizontalAutoscaler,
    clamp,
    desired_replicas,
    stabilized,
)
from simulations.scenarios.autoscale.model import AutoscaleScenario, run_autoscale

# --- the rule, as pure functions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (4, 0.9, 0.6, 6),  # 4 × 1.5 = 6 exactly (not 7 from 1.5000000000000002)
        (5, 1.0, 0.6, 9),  # ceil(8.33)
        (10, 0.3, 0.6, 5),
        (3, 0.1, 0.6, 1),  # ceil(0.5)
        (4, 0.0, 0.6, 0),  # idle: the clamp, not the rule, keeps a minimum
        (7, 0.6, 0.6, 7),
    ],
)
def test_desired_replicas_is_ceil_of_current_times_ratio(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert desired_replicas(current, metric, target) == expected


def test_the_tolerance_band_keeps_the_current_count() -> None:
    assert desired_replicas(10, 0.66, 0.6) == 10  # ratio 1.1: on the edge, still no change
    assert desired_replicas(10, 0.54, 0.6) == 10  # ratio 0.9
    assert desired_replicas(10, 0.67, 0.6) == 12  # ratio 1.117: ceil(11.17)
    assert desired_replicas(10, 0.53, 0.6) == 9  # ratio 0.883: ceil(8.83)
    assert desired_replicas(10, 0.66, 0.6, tolerance=0.0) == 11
    assert desired_replicas(10, 0.9, 0.6, tolerance=0.6) == 10


def test_bad_rule_inputs_are_refused() -> None:
    for args in [(4, 0.5, 0.0), (4, -0.1, 0.6), (-1, 0.5, 0.6)]:
        with pytest.raises(ValueError):
            desired_replicas(*args)


def test_stabilization_takes_the_highest_recommendation_of_the_window() -> None:
    history = [(0.0, 9), (100.0, 7), (200.0, 5)]
    assert stabilized(history, 250.0, 300.0, 3) == 9  # 9 from t=0 is still in the window
    assert stabilized(history, 301.0, 300.0, 3) == 7  # t=0 fell out
    assert stabilized(history, 250.0, 300.0, 12) == 12  # scaling up passes straight through
    assert stabilized(history, 250.0, 0.0, 3) == 3  # no window: follow the rule at once


def test_clamp_keeps_min_and_max() -> None:
    assert [clamp(n, 2, 10) for n in (0, 1, 2, 6, 10, 11, 40)] == [2, 2, 2, 6, 10, 10, 10]


def test_the_autoscaler_scales_up_at_once_and_down_only_after_the_window() -> None:
    hpa = HorizontalAutoscaler(target=0.5, min_replicas=2, max_replicas=8)
    assert hpa.recommend(0.0, 4, 1.0) == 8  # ceil(4 × 2) = 8, at once
    assert hpa.recommend(15.0, 8, 1.0) == 8  # wants 16, the max says 8
    assert hpa.recommend(30.0, 8, 0.1) == 8  # wants 2, but 16 was asked 15 s ago
    assert hpa.recommend(299.0, 8, 0.1) == 8
    assert hpa.recommend(316.0, 8, 0.1) == 2  # every high recommendation is > 300 s old
    assert hpa.recommend(331.0, 2, 0.0) == 2  # wants 0: the min says 2


def test_bad_autoscaler_settings_are_refused() -> None:
    for settings in [
        {"target": 0},
        {"tolerance": 1.5},
        {"min_replicas": 5, "max_replicas": 4},
        {"min_replicas": 0},
        {"stabilization_window": -1},
    ]:
        with pytest.raises(ValueError):
            HorizontalAutoscaler(**settings)


# --- the spike scenario -------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_run():
    return run_autoscale()


def test_the_cluster_starts_right_for_the_base_load_and_waits_for_the_spike(default_run) -> None:
    s = default_run.scenario
    assert s.initial_replicas == 6  # 3.25 req/s / (1 req/s × 0.6) = 5.4 → 6
    assert default_run.first_scale_out >= s.spike_at  # seed 0: steady until the spike
    # A new instance serves exactly one boot time after the autoscaler asked for it.
    assert default_run.first_new_ready - default_run.first_scale_out == s.boot_time
    assert default_run.peak_replicas > 2 * s.initial_replicas
    spike_end = s.spike_at + s.spike_duration
    assert default_run.first_scale_in >= spike_end  # the 300 s window holds the instances
    assert default_run.final_replicas < default_run.peak_replicas


def test_replicas_stay_within_min_and_max() -> None:
    result = run_autoscale(max_replicas=9, min_replicas=3, spike_factor=0.2, spike_at=200)
    running = [r + b for r, b in zip(result.timeline.ready, result.timeline.booting, strict=True)]
    assert max(running) <= 9 and min(result.timeline.ready) >= 3
    assert all(3 <= d.desired <= 9 for d in result.decisions)
    capped = run_autoscale(max_replicas=9)
    assert capped.peak_replicas == 9


def test_without_a_stabilization_window_scale_in_comes_much_sooner() -> None:
    patient = run_autoscale(store="shared", policy="least_connections")
    hasty = run_autoscale(store="shared", policy="least_connections", stabilization_window=0)
    assert hasty.first_scale_in < patient.first_scale_in - 200
    assert hasty.instances_retired > patient.instances_retired  # it also flaps more


def test_a_longer_boot_time_means_a_worse_spike() -> None:
    quick = run_autoscale(store="shared", policy="least_connections", boot_time=5)
    slow = run_autoscale(store="shared", policy="least_connections", boot_time=120)
    assert slow.spike_response.p99 > 2 * quick.spike_response.p99


def test_memory_scale_in_loses_sessions_draining_or_not_shared_loses_none() -> None:
    drained = run_autoscale(store="memory", policy="sticky")
    stopped = run_autoscale(store="memory", policy="sticky", drain=False)
    shared = run_autoscale(store="shared", policy="least_connections", drain=False)
    assert drained.sessions_lost > 0 and drained.users_forced_to_login > 0
    # Draining finishes requests, not sessions: the very same sessions are lost either way.
    assert stopped.sessions_lost == drained.sessions_lost
    assert drained.failed_requests == 0
    assert shared.sessions_lost == shared.session_misses == shared.users_forced_to_login == 0
    assert shared.failed_requests > 0  # no draining: what a stopped instance held fails
    drained_shared = run_autoscale(store="shared", policy="least_connections")
    assert drained_shared.failed_requests == 0


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"drain": False},
        {"store": "shared", "policy": "round_robin", "drain": False},
        {"spike_factor": 0.3, "policy": "least_connections", "drain": False},
    ],
    ids=str,
)
def test_accounting_every_request_ends_and_lost_sessions_left_with_their_instance(
    config: dict,
) -> None:
    from simulations.scenarios.autoscale.model import draw_requests

    result = run_autoscale(**config)
    assert result.requests == len(draw_requests(AutoscaleScenario(**config)))
    assert result.requests == result.requests_completed + result.failed_requests
    assert result.failed_requests == result.failed_in_flight + result.failed_queued
    assert result.failed_no_instance == 0
    assert result.users_forced_to_login <= result.session_misses
    removed = {(e.time, e.instance) for e in result.events if e.kind in ("drain", "stop")}
    assert all((time, instance) in removed for time, _, instance in result.lost_sessions)
    assert result.sessions_lost == len(result.lost_sessions)
    if result.scenario.store == "shared":
        assert result.sessions_lost == 0


def test_base_readings_stop_at_the_first_change_and_before_the_spike() -> None:
    grew = next(
        r
        for seed in range(20)
        if (
            r := run_autoscale(store="shared", policy="least_connections", seed=seed)
        ).scale_outs_between(0, r.scenario.spike_at)
    )
    readings = grew.base_readings
    first = grew.scale_outs_between(0, grew.scenario.spike_at)[0]
    before = [d for d in grew.decisions if d.time <= first]
    assert readings == [d.utilization for d in before]  # up to and including the first ask
    assert readings[-1] > grew.scenario.target * (1 + grew.scenario.tolerance)  # that ask
    assert all(d.ready + d.booting == grew.initial_replicas for d in before)
    calm = run_autoscale(store="shared", policy="least_connections", spike_at=120, seed=1)
    assert len(calm.base_readings) <= 120 / calm.scenario.sync_period  # never past the spike


def test_same_seed_same_result() -> None:
    assert run_autoscale(seed=7).to_dict() == run_autoscale(seed=7).to_dict()
    assert run_autoscale(seed=7).to_dict() != run_autoscale(seed=8).to_dict()


@pytest.mark.parametrize(
    "bad",
    [
        {"store": "disk"},
        {"spike_factor": 1},
        {"spike_factor": 0},
        {"spike_at": 1200},
        {"min_replicas": 9, "max_replicas": 4},
        {"tolerance": 1},
        {"sync_period": 0},
        {"boot_time": -1},
        {"users": 0},
    ],
)
def test_bad_scenarios_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        AutoscaleScenario(**bad)


# --- replications (lesson 05 reports the spread over ten runs, no picked seed) ------------


def test_replications_are_single_runs_with_the_derived_seeds() -> None:
    from simulations.replications import replication_seeds
    from simulations.scenarios.autoscale.model import replicate_autoscale

    runs = replicate_autoscale(3, users=12, duration=600, spike_at=100, spike_duration=200, seed=5)
    seeds = replication_seeds(5, 3)
    assert [r.scenario.seed for r in runs] == seeds
    again = run_autoscale(users=12, duration=600, spike_at=100, spike_duration=200, seed=seeds[1])
    assert runs[1].to_dict() == again.to_dict()
    assert len({r.response.mean for r in runs}) == 3, "independent runs differ"
    for bad in (0, 101):
        with pytest.raises(ValueError, match="replications"):
            replicate_autoscale(bad)


def test_scale_outs_before_and_after_the_spike_come_from_the_decisions() -> None:
    result = run_autoscale(store="shared", policy="least_connections", seed=1)
    spike_at = result.scenario.spike_at
    asked = [d.time for d in result.decisions if d.desired > d.ready + d.booting]
    assert result.scale_outs_between(0, spike_at) == [t for t in asked if t < spike_at]
    assert result.spike_scale_out == min(t for t in asked if t >= spike_at)
    assert result.spike_scale_out not in result.scale_outs_between(0, spike_at)
    # a tolerance band wider than any reading: the autoscaler never asks for more
    calm = run_autoscale(store="shared", policy="least_connections", tolerance=0.99, seed=1)
    assert calm.spike_scale_out is None and calm.scale_outs_between(0, 1e9) == []


def test_damage_table_gives_each_setup_its_mean_and_interval() -> None:
    from simulations.replications import mean_interval
    from simulations.scenarios.autoscale.model import damage_table, replicate_autoscale

    small = dict(users=12, duration=600, spike_at=100, spike_duration=200)
    runs = {
        "memory, drain": replicate_autoscale(3, store="memory", policy="sticky", **small),
        "shared, no drain": replicate_autoscale(
            3, store="shared", policy="least_connections", drain=False, **small
        ),
    }
    rows = damage_table(runs).splitlines()
    assert rows[0] == "mean (95% interval) over 3 runs"
    assert rows[3].startswith("memory, drain") and rows[4].startswith("shared, no drain")
    lost = [r.sessions_lost for r in runs["memory, drain"]]
    low, high = mean_interval(lost)
    assert f"{sum(lost) / 3:.1f} ({low:.1f}–{high:.1f})" in rows[3]
    with pytest.raises(ValueError, match="same number of runs"):
        damage_table({"a": runs["memory, drain"], "b": runs["shared, no drain"][:2]})
    with pytest.raises(ValueError, match="at least 2"):
        damage_table({"a": runs["memory, drain"][:1]})
