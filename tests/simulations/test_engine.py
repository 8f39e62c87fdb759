"""The engine's building blocks and invariants, on small fast runs."""

from __future__ import annotations

import math
import random
from array import array

import numpy as np
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from simulations import (
    POLICY_NAMES,
    SERVICE_DISTRIBUTIONS,
    Instance,
    LeastConnections,
    LoadBalancer,
    Metrics,
    PowerOfD,
    Request,
    ResponseStats,
    RoundRobin,
    Sticky,
    percentile,
    run_balance,
)
from simulations.engine import metrics


def small(policy: str = "random", **overrides: object):
    settings = {"instances": 4, "arrival_rate": 2.8, "requests": 4_000, "seed": 3} | overrides
    return run_balance(policy, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", POLICY_NAMES)
@pytest.mark.parametrize("service_dist", SERVICE_DISTRIBUTIONS)
def test_every_arrival_completes_or_fails(policy: str, service_dist: str) -> None:
    result = small(policy, service_dist=service_dist, requests=2_000)
    assert result.requests_completed + result.requests_failed == 2_000
    assert result.requests_failed == 0  # every instance stays alive here
    assert sum(result.served) == result.requests_completed
    assert len(result.response_times) == result.requests_completed


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_same_seed_same_result_bit_for_bit(policy: str) -> None:
    assert small(policy).to_dict() == small(policy).to_dict()
    assert small(policy).response_times == small(policy).response_times


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_another_seed_gives_another_result(policy: str) -> None:
    assert small(policy, seed=1).to_dict() != small(policy, seed=2).to_dict()


def test_policies_with_the_same_seed_see_the_same_requests() -> None:
    # Common random numbers: the same arrivals and service times, only the routing differs,
    # so the total work done is identical (up to float summation order).
    work = [sum(u * r.duration for u in r.utilization) for r in map(small, POLICY_NAMES)]
    assert max(work) == pytest.approx(min(work), rel=1e-9)


def test_utilization_is_the_offered_load() -> None:
    # Work arriving = λ/(nμ) per instance; at 40,000 requests the total busy fraction's relative
    # standard error is under 1% (sum of 40,000 exponentials: 1/√40,000 = 0.5%), so 2% is safe.
    result = small("round_robin", requests=40_000)
    assert sum(result.utilization) / 4 == pytest.approx(0.7, rel=0.02)
    for value in result.utilization:
        assert 0.0 < value <= 1.0


def test_mean_queue_length_obeys_littles_law() -> None:
    # Σ L_i = (completed / duration) · W, exactly, since the system starts and ends empty.
    result = small("least_connections")
    throughput = result.requests_completed / result.duration
    assert sum(result.mean_queue_length) == pytest.approx(throughput * result.mean_response)


def test_round_robin_deals_requests_evenly() -> None:
    served = small("round_robin", requests=4_001).served
    assert max(served) - min(served) <= 1


def test_sticky_pins_users_round_robin_and_keeps_them() -> None:
    policy = Sticky()
    run_balance(policy, instances=4, arrival_rate=2.0, requests=3_000, users=10, seed=5)
    assert sorted(policy.pins) == list(range(10))  # every user pinned, once
    pool = sorted(set(policy.pins.values()), key=lambda instance: instance.index)
    assert len(pool) == 4
    # 10 users dealt in turn over 4 instances: 3, 3, 2, 2.
    assert policy.users_per_instance(pool) == [3, 3, 2, 2]


def test_sticky_with_few_users_overloads_an_instance_and_says_so() -> None:
    # 5 users on 4 instances: one instance gets 2 users = 2/5 of λ = 3.2 → 1.28 > μ = 1.
    result = small("sticky", arrival_rate=3.2, users=5, requests=3_000)
    assert result.warning and "sticky pins" in result.warning
    assert max(result.utilization) > 0.95


def test_users_changes_sticky_results() -> None:
    assert small("sticky", users=7).to_dict() != small("sticky", users=100).to_dict()


def test_choices_change_power_of_two_results() -> None:
    d2, d3 = small("power_of_two", choices=2), small("power_of_two", choices=3)
    assert d2.to_dict() != d3.to_dict()
    assert d3.mean_response < d2.mean_response  # asking more instances helps (4,000 requests)


def test_service_distributions_have_the_same_mean_but_not_the_same_spread() -> None:
    runs = {
        dist: small("random", service_dist=dist, requests=20_000) for dist in SERVICE_DISTRIBUTIONS
    }
    # Same mean service time: utilization ≈ 0.7 for all (2% = 4 standard errors at 20,000).
    for result in runs.values():
        assert sum(result.utilization) / 4 == pytest.approx(0.7, rel=0.03)
    # More variable service, longer queues (P–K): deterministic < exponential < lognormal.
    means = [runs[d].mean_response for d in ("deterministic", "exponential", "lognormal")]
    assert means == sorted(means)


def test_deterministic_service_at_low_load_is_just_the_service_time() -> None:
    result = small(
        "least_connections",
        service_dist="deterministic",
        arrival_rate=0.01,
        service_rate=2.0,
        requests=200,
    )
    assert min(result.response_times) == pytest.approx(0.5)
    assert result.mean_response == pytest.approx(0.5, rel=0.01)


def test_an_unstable_system_runs_to_the_end_and_warns() -> None:
    result = small("random", arrival_rate=5.0, requests=3_000)
    assert result.requests_completed == 3_000
    assert result.warning and "grow without bound" in result.warning
    assert result.theory.mean_response == float("inf")
    assert small("random").warning is None


def test_queue_trace_is_sampled_over_the_run() -> None:
    result = small("power_of_two")
    trace = result.queues
    assert len(trace.times) == len(trace.lengths) >= 100
    assert trace.times == sorted(trace.times)
    assert all(len(row) == 4 and min(row) >= 0 for row in trace.lengths)
    assert max(map(max, trace.lengths)) > 0
    assert trace.of_instance(2) == [row[2] for row in trace.lengths]


def test_a_function_is_a_policy() -> None:
    def always_last(queue_lengths: list[int], rng: random.Random) -> int:
        return len(queue_lengths) - 1

    result = run_balance(always_last, instances=3, arrival_rate=0.5, requests=500, seed=1)
    assert result.served == [0, 0, 500]
    assert result.policy == "always_last"


def test_a_function_policy_sees_queue_lengths() -> None:
    seen: list[list[int]] = []

    def spy(queue_lengths: list[int], rng: random.Random) -> int:
        seen.append(list(queue_lengths))
        return 0

    run_balance(spy, instances=2, arrival_rate=5.0, requests=50, seed=1)
    assert seen[0] == [0, 0]
    assert max(lengths[0] for lengths in seen) > 1  # instance 0 piles up; the function sees it
    assert all(lengths[1] == 0 for lengths in seen)


@pytest.mark.parametrize(("answer", "error"), [(7, IndexError), (-1, IndexError), ("0", TypeError)])
def test_a_function_policy_returning_nonsense_is_an_error(answer: object, error: type) -> None:
    with pytest.raises(error):
        run_balance(lambda q, rng: answer, instances=2, requests=10)


def make_instances(lengths: list[int]) -> tuple[simpy.Environment, list[Instance]]:
    env = simpy.Environment()
    metrics = Metrics(env, 10**6)
    pool = [Instance(env, index, metrics) for index in range(len(lengths))]
    for instance, length in zip(pool, lengths, strict=True):
        for number in range(length):
            instance.submit(Request(number, 0, 0.0, 1.0))
    return env, pool


def test_least_connections_joins_a_shortest_queue_breaking_ties_at_random() -> None:
    _, pool = make_instances([3, 1, 4, 1])
    rng = random.Random(0)
    picks = {LeastConnections().choose(pool, Request(0, 0, 0.0, 1.0), rng).index for _ in range(50)}
    assert picks == {1, 3}


def test_power_of_two_asks_distinct_instances_and_takes_the_shorter() -> None:
    _, pool = make_instances([5, 0])
    rng = random.Random(0)
    # With two instances, asking two distinct ones always finds the empty one.
    assert {PowerOfD(2).choose(pool, Request(0, 0, 0.0, 1.0), rng).index for _ in range(50)} == {1}
    _, pool = make_instances([2, 9, 1, 7, 3])
    picked = [PowerOfD(3).choose(pool, Request(0, 0, 0.0, 1.0), rng).index for _ in range(200)]
    # 9 and 7 are never the shortest of three distinct instances: one of 2, 1, 3 is asked too.
    assert set(picked) == {0, 2, 4}


def test_round_robin_skips_dead_instances_and_no_live_instance_fails_the_request() -> None:
    _, pool = make_instances([0, 0, 0])
    metrics = pool[0].metrics
    balancer = LoadBalancer(pool, RoundRobin(), random.Random(0), metrics)
    pool[1].alive = False
    balancer.refresh()
    for number in range(4):
        balancer.route(Request(number, 0, 0.0, 1.0))
    assert [instance.queue_length for instance in pool] == [2, 0, 2]
    for instance in pool:
        instance.alive = False
    balancer.refresh()
    balancer.route(Request(9, 0, 0.0, 1.0))
    assert metrics.failed == 1


def test_percentile_matches_numpy() -> None:
    rng = random.Random(4)
    values = sorted(rng.expovariate(1.0) for _ in range(1001))
    for q in (0, 1, 50, 95, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"instances": 0},
        {"arrival_rate": 0.0},
        {"service_rate": -1.0},
        {"requests": 0},
        {"users": 0},
        {"choices": 5},
        {"service_dist": "uniform"},
        {"seed": 1.5},
    ],
)
def test_nonsense_settings_are_rejected(overrides: dict) -> None:
    with pytest.raises(ValueError):
        small("power_of_two", **overrides)


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        run_balance("fastest", requests=10)


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_one_instance_is_one_queue_whatever_the_policy(policy: str) -> None:
    # the M/M/1 baseline a learner reaches by moving the instances slider to 1
    result = run_balance(policy, 1, 0.5, 1.0, 2000, seed=3)
    assert result.requests_completed == 2000
    assert result.served == [2000]
    assert result.response.mean == run_balance("random", 1, 0.5, 1.0, 2000, seed=3).response.mean


# --- exact percentiles without sorting everything ----------------------------------------------


@given(
    st.lists(
        st.floats(min_value=1e-6, max_value=1e6, allow_nan=False) | st.sampled_from([1.0, 2.5]),
        min_size=1,
        max_size=300,
    ),
    st.data(),
)
def test_order_statistics_are_exactly_the_sorted_values(values, data) -> None:
    ranks = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=6))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "SORT_AT_MOST", 4)  # take the bucket path even for a few values
        got = metrics.order_statistics(array("d", values), ranks)
    ordered = sorted(values)
    assert got == {rank: ordered[rank] for rank in ranks}


def test_response_stats_keep_8_bytes_a_request_and_agree_with_a_full_sort() -> None:
    rng = random.Random(3)
    times = array("d", (rng.lognormvariate(0, 2) for _ in range(100_000)))
    stats = ResponseStats.of(times)
    ordered = sorted(times)
    assert stats.p50 == percentile(ordered, 50) and stats.p99 == percentile(ordered, 99)
    assert stats.mean == math.fsum(ordered) / len(ordered)
    assert times.itemsize == 8
