"""Sticky sessions and hotspots: heavy-tailed users, affinity policies, scale-out and crash."""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import accumulate, pairwise
from statistics import mean
from types import SimpleNamespace

import pytest

from simulations.engine.workload import Request
from simulations.scenarios.sticky.affinity import ConsistentHash, HashSticky, users_moved
from simulations.scenarios.sticky.model import (
    STICKY_POLICIES,
    RequestStream,
    StickyScenario,
    compare_sticky,
    run_sticky,
)
from simulations.scenarios.sticky.users import UserActivity, pareto_shares, zipf_shares

SMALL = {"requests": 4000}  # 2000 s of traffic at the default 2 requests/s: a run takes ~0.06 s
SEEDS = range(1, 6)

# --- heavy-tailed activity -------------------------------------------------------------------


def test_zipf_shares_are_normalised_decreasing_and_follow_one_over_i_to_the_s() -> None:
    shares = zipf_shares(1000, 1.0)
    assert math.isclose(math.fsum(shares), 1.0)
    assert all(a > b for a, b in pairwise(shares))
    assert math.isclose(shares[0] / shares[9], 10.0)  # 1/1 against 1/10
    harmonic = math.fsum(1 / i for i in range(1, 1001))
    assert math.isclose(shares[0], 1 / harmonic)  # ≈ 13.4%: one user in a thousand


def test_zipf_with_s_zero_is_uniform() -> None:
    assert zipf_shares(5, 0.0) == [0.2] * 5


def test_pareto_shares_are_seeded_and_heavy_tailed() -> None:
    first = pareto_shares(1000, 1.2, random.Random(3))
    assert first == pareto_shares(1000, 1.2, random.Random(3))
    assert math.isclose(math.fsum(first), 1.0)
    # α = 1.2: the top 1% of users send far more than 1% of the traffic (typically 20–40%).
    assert math.fsum(sorted(first, reverse=True)[:10]) > 0.1


@pytest.mark.parametrize("bad", [{"users": 0}, {"users": 2.5}, {"s": -1.0}, {"s": math.nan}])
def test_zipf_rejects_bad_input(bad: dict) -> None:
    with pytest.raises(ValueError):
        zipf_shares(bad.get("users", 10), bad.get("s", 1.0))


def test_sampler_draws_users_with_their_shares() -> None:
    activity = UserActivity.zipf(100, 1.0)
    pick = activity.sampler(random.Random(1))
    counts = Counter(pick() for _ in range(50_000))
    assert set(counts) <= set(range(100))
    # User 0's share is 1/H_100 ≈ 19.3%; with 50,000 draws its standard error is ≈ 0.18
    # points, so ±1 point is over 5 standard errors.
    assert abs(counts[0] / 50_000 - activity.shares[0]) < 0.01
    assert counts[0] > counts[1] > counts[9]


# --- the scenario ------------------------------------------------------------------------------


def test_same_seed_same_result_and_policies_share_the_requests() -> None:
    first = run_sticky(policy="sticky", seed=3, **SMALL).to_dict()
    assert first == run_sticky(policy="sticky", seed=3, **SMALL).to_dict()
    runs = compare_sticky(seed=3, **SMALL)
    shares = {run.heaviest_user_share for run in runs.values()}
    assert len(shares) == 1  # common random numbers: the very same users ...
    assert len({round(sum(run.load), 9) for run in runs.values()}) == 1  # ... and the same work
    assert run_sticky(policy="sticky", seed=4, **SMALL).to_dict() != first


@pytest.mark.parametrize("policy", STICKY_POLICIES)
def test_every_request_completes_or_fails_even_with_scale_out_and_crash(policy: str) -> None:
    result = run_sticky(policy=policy, scale_out_at=600, crash_hottest_at=1200, **SMALL)
    assert result.requests_completed + result.requests_failed == 4000
    assert len(result.response_times) == result.requests_completed
    assert sum(result.requests_per_instance) == 4000
    assert result.new_instance == 4 and result.hottest_instance is not None
    for row in result.window_utilization:
        assert all(0.0 <= value <= 1.0 + 1e-9 for value in row)


@pytest.mark.parametrize("seed", SEEDS)
def test_sticky_is_more_imbalanced_and_slower_than_round_robin_on_zipf_users(seed: int) -> None:
    sticky = run_sticky(policy="sticky", seed=seed, **SMALL)
    robin = run_sticky(policy="round_robin", seed=seed, **SMALL)
    assert sticky.imbalance > robin.imbalance
    assert sticky.p99_response > robin.p99_response
    assert sticky.heaviest_user_instances == 1  # every request of the heaviest user, one place
    assert robin.heaviest_user_instances == 4


def test_sticky_imbalance_is_well_above_round_robins_on_average() -> None:
    sticky = [run_sticky(policy="sticky", seed=seed, **SMALL).imbalance for seed in SEEDS]
    robin = [run_sticky(policy="round_robin", seed=seed, **SMALL).imbalance for seed in SEEDS]
    # Round robin splits the work almost evenly (its imbalance is 1 + noise of a few %);
    # pinned Zipf users leave one instance 15–45% above the mean in these runs.
    assert mean(robin) < 1.08
    assert mean(sticky) > mean(robin) + 0.15


def test_equally_active_users_make_sticky_almost_even() -> None:
    skewed = run_sticky(policy="sticky", zipf_s=1.2, seed=2, **SMALL).imbalance
    even = run_sticky(policy="sticky", zipf_s=0.0, seed=2, **SMALL).imbalance
    assert even < 1.1 < skewed  # the hot spot comes from the heavy tail, not from pinning alone


def test_imbalance_matches_the_load_it_is_computed_from() -> None:
    result = run_sticky(policy="sticky", seed=5, **SMALL)
    assert math.isclose(result.imbalance, max(result.load) / mean(result.load))
    # Offered load = work / time; at λ = 2, μ = 1 the four instances share 2 units of work/s.
    assert math.isclose(sum(result.load), 2.0, rel_tol=0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_scale_out_new_instance_gets_far_less_than_its_share_under_sticky(seed: int) -> None:
    sticky = run_sticky(policy="sticky", scale_out_at=500, seed=seed, **SMALL)
    robin = run_sticky(policy="round_robin", scale_out_at=500, seed=seed, **SMALL)
    assert sticky.fair_share == robin.fair_share == 1 / 5
    # Round robin gives the new instance exactly every 5th request; sticky only new users.
    assert abs(robin.new_instance_share - 0.2) < 0.005
    assert sticky.new_instance_share < 0.35 * sticky.fair_share


def test_scale_out_hash_mod_n_reshuffles_users_while_consistent_hashing_moves_few() -> None:
    modulo = run_sticky(policy="sticky_hash", scale_out_at=500, seed=1, **SMALL)
    ring = run_sticky(policy="consistent_hash", scale_out_at=500, seed=1, **SMALL)
    cookie = run_sticky(policy="sticky", scale_out_at=500, seed=1, **SMALL)
    # Active users moved: ~4/5 of them under mod n, ~1/5 on the ring, none with cookies.
    assert modulo.session_misses > 2.5 * ring.session_misses > 0
    assert cookie.session_misses == 0


def test_crash_of_the_hottest_instance_logs_out_exactly_its_sticky_users() -> None:
    crash_at = 1000.0
    result = run_sticky(policy="sticky", crash_hottest_at=crash_at, seed=2, **SMALL)
    hottest = result.hottest_instance
    # Independent count: sticky's first request goes round robin over the 4 instances, so the
    # k-th distinct user to show up is pinned to instance k mod 4.
    stream = RequestStream.draw(result.scenario)
    first_seen: dict[int, int] = {}
    work = [0.0] * 4
    for arrived, user, service in zip(
        accumulate(stream.gaps), stream.users, stream.service_times, strict=True
    ):
        if arrived >= crash_at:
            break
        work[first_seen.setdefault(user, len(first_seen)) % 4] += service
    assert hottest == max(range(4), key=work.__getitem__)  # "hottest": most work sent to it
    pinned_there = {user for user, order in first_seen.items() if order % 4 == hottest}
    assert result.sessions_lost == len(pinned_there) > 0
    assert result.requests_failed > 0  # its queue died with it
    # Only the users who send another request after the crash are sent to log in, once each.
    later = {
        user
        for arrived, user in zip(accumulate(stream.gaps), stream.users, strict=True)
        if arrived >= crash_at
    }
    came_back = len(pinned_there & later)
    assert 0 < came_back < len(pinned_there)
    assert result.users_forced_to_login == result.session_misses == came_back
    assert result.to_dict()["users_forced_to_login"] == came_back


def test_crash_loses_no_session_when_sessions_are_shared() -> None:
    result = run_sticky(policy="sticky", crash_hottest_at=1000, sessions="shared", seed=2, **SMALL)
    assert result.sessions_lost == result.session_misses == result.users_forced_to_login == 0
    robin = run_sticky(policy="round_robin", crash_hottest_at=1000, seed=2, **SMALL)
    assert robin.scenario.session_store == "shared" and robin.sessions_lost == 0
    assert robin.users_forced_to_login == 0


def test_round_robin_with_memory_sessions_misses_most_of_them() -> None:
    result = run_sticky(policy="round_robin", sessions="memory", seed=2, **SMALL)
    # A user's next request lands on the instance holding their session 1 time in 4, at best.
    assert result.session_misses > 0.6 * (4000 - 1000)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5])
def test_bounded_load_never_exceeds_its_capacity_at_any_choice(epsilon: float) -> None:
    result = run_sticky(policy="bounded_load", epsilon=epsilon, seed=1, **SMALL)
    assert result.worst_excess is not None and result.worst_excess <= 0
    assert result.spilled > 0


def test_bounded_load_spills_less_as_epsilon_grows_and_huge_epsilon_is_consistent_hashing() -> None:
    spills = [run_sticky(policy="bounded_load", epsilon=e, **SMALL).spilled for e in (0.1, 0.5, 2)]
    assert spills[0] > spills[1] > spills[2]
    huge = run_sticky(policy="bounded_load", epsilon=1000.0, **SMALL)
    ring = run_sticky(policy="consistent_hash", **SMALL)
    assert huge.spilled == 0
    assert huge.requests_per_instance == ring.requests_per_instance
    assert huge.p99_response == ring.p99_response


def test_bounded_load_caps_the_hot_spot_of_the_default_case() -> None:
    runs = compare_sticky(
        ("sticky", "consistent_hash", "bounded_load", "round_robin"), requests=8000
    )
    bounded = runs["bounded_load"]
    assert bounded.imbalance < runs["sticky"].imbalance
    assert bounded.imbalance < runs["consistent_hash"].imbalance
    assert bounded.p99_response < runs["sticky"].p99_response
    assert bounded.p99_response < runs["consistent_hash"].p99_response
    assert bounded.heaviest_user_instances > 1  # the heavy user's overflow goes elsewhere


def test_window_utilization_adds_up_to_the_overall_utilization() -> None:
    result = run_sticky(policy="sticky", windows=10, seed=1, **SMALL)
    assert len(result.window_starts) == 10
    for row, overall in zip(result.window_utilization, result.utilization, strict=True):
        assert math.isclose(mean(row), overall, rel_tol=1e-9)


def test_busy_between_averages_the_windows_that_lie_within_the_span() -> None:
    result = run_sticky(policy="sticky", windows=10, seed=1, **SMALL)
    width = result.horizon / 10
    assert result.busy_between(0, result.horizon) == pytest.approx(result.utilization)
    middle = result.busy_between(2 * width + 1, 6 * width + 1)  # windows 3, 4 and 5 only
    for busy, row in zip(middle, result.window_utilization, strict=True):
        assert busy == pytest.approx(mean(row[3:6]))
    with pytest.raises(ValueError, match="no utilization window"):
        result.busy_between(width / 4, width / 2)


def test_hash_mod_n_moves_most_users_and_the_ring_about_one_in_n() -> None:
    assert users_moved("sticky_hash", 2_000, before=4, after=5) == pytest.approx(0.8, abs=0.03)
    assert users_moved("consistent_hash", 2_000, before=4, after=5) == pytest.approx(0.2, abs=0.04)
    assert users_moved("consistent_hash", 500, before=6, after=6) == 0
    # the same shares as the policies the simulation routes by, counted through them
    pools = {n: [SimpleNamespace(index=i) for i in range(n)] for n in (4, 5)}
    for policy, home in (
        ("sticky_hash", lambda p, pool, u: p.choose(pool, Request(u, u, 0.0, 1.0), random)),
        ("consistent_hash", lambda p, pool, u: p.home(pool, u)),
    ):
        make = HashSticky if policy == "sticky_hash" else ConsistentHash
        four, five = make(), make()
        moved = sum(
            home(four, pools[4], user).index != home(five, pools[5], user).index
            for user in range(300)
        )
        assert users_moved(policy, 300, before=4, after=5) == moved / 300
    for bad in ({"policy": "sticky"}, {"users": 0}, {"before": 2.5}, {"after": True}):
        kwargs = {"policy": "sticky_hash", "users": 10, "before": 4, "after": 5} | bad
        with pytest.raises(ValueError):
            users_moved(**kwargs)


def test_events_after_the_last_request_do_nothing() -> None:
    result = run_sticky(policy="sticky", scale_out_at=1e9, crash_hottest_at=1e9, **SMALL)
    assert result.new_instance is None and result.new_instance_share is None
    assert result.hottest_instance is None and result.sessions_lost == 0


def test_pareto_activity_runs_and_depends_on_alpha() -> None:
    light = run_sticky(policy="sticky", activity="pareto", pareto_alpha=3.0, **SMALL)
    heavy = run_sticky(policy="sticky", activity="pareto", pareto_alpha=1.1, **SMALL)
    assert heavy.heaviest_user_share > light.heaviest_user_share


@pytest.mark.parametrize(
    "bad",
    [
        {"policy": "magic"},
        {"instances": 0},
        {"users": -3},
        {"requests": 1.5},
        {"arrival_rate": 0},
        {"zipf_s": -0.5},
        {"epsilon": -0.1},
        {"vnodes": 0},
        {"scale_out_at": -5},
        {"crash_hottest_at": math.inf},
        {"sessions": "disk"},
        {"activity": "normal"},
        {"seed": "x"},
    ],
)
def test_bad_scenarios_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        StickyScenario(**bad)


def test_replicated_policies_serve_the_same_streams_run_by_run() -> None:
    from simulations.replications import replication_seeds
    from simulations.scenarios.sticky.model import replicate_sticky, spread_table

    runs = replicate_sticky(3, ("sticky", "round_robin"), requests=1500, seed=7)
    seeds = replication_seeds(7, 3)
    for policy, results in runs.items():
        assert [r.scenario.seed for r in results] == seeds
        assert all(r.policy == policy for r in results)
    for sticky, robin in zip(runs["sticky"], runs["round_robin"], strict=True):
        assert sticky.horizon == robin.horizon  # the very same arrivals
        assert sticky.heaviest_user_share == robin.heaviest_user_share
    assert len({r.horizon for r in runs["sticky"]}) == 3, "each run its own stream"
    assert runs["sticky"][2].to_dict() == run_sticky(requests=1500, seed=seeds[2]).to_dict()
    table = spread_table(runs).splitlines()
    assert table[0] == "mean (95% interval) over 3 runs"
    assert table[3].startswith("sticky") and table[4].startswith("round_robin")
    assert table[3].count("–") == 3, "an interval for each measure"


def test_replications_refuse_too_much_work_or_no_runs() -> None:
    from simulations.scenarios.sticky.model import replicate_sticky

    with pytest.raises(ValueError, match="requests over all runs"):
        replicate_sticky(100, requests=20_000)  # 6 policies × 100 × 20,000 > 2M
    with pytest.raises(ValueError, match="replications"):
        replicate_sticky(0)
