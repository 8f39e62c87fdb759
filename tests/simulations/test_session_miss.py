"""The session-miss model (lessons 01 and 02) against its theory, 1 − 1/N, and its figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from simulations.scenarios.session_miss.model import (
    POLICIES,
    STORES,
    SessionMissResult,
    expected_miss_rate,
    miss_rate_by_instances,
    replicate_miss_rates,
    session_miss_rate,
)
from simulations.scenarios.session_miss.plots import plot_miss_rates
from simulations.scenarios.session_miss.widget import (
    SessionMissExplorer,
    session_miss_explorer,
    summary,
)

# 2,000 requests: the miss count is (close to) Binomial(2000, 1 − 1/N), sd ≤ 0.0112 in rate;
# 0.05 is more than 4 sd, so a correct model fails this by chance less than once in 10^4 runs.
TOLERANCE = 0.05


@pytest.mark.parametrize("policy", ["round_robin", "random"])
@pytest.mark.parametrize("instances", [2, 3, 4, 6, 10])
def test_memory_sessions_miss_one_minus_one_over_n(policy: str, instances: int) -> None:
    result = session_miss_rate(instances, requests=2_000, policy=policy, seed=11)
    assert result.expected_miss_rate == pytest.approx(1 - 1 / instances)
    assert abs(result.miss_rate - result.expected_miss_rate) < TOLERANCE


def test_the_mean_over_seeds_is_unbiased() -> None:
    # 20 seeds x 1,000 requests at N = 4: the mean's sd is about 0.0031; 0.015 is ~5 sd.
    rates = [session_miss_rate(4, requests=1_000, policy="random", seed=s).miss_rate
             for s in range(20)]  # fmt: skip
    assert abs(sum(rates) / len(rates) - 0.75) < 0.015


@pytest.mark.parametrize("policy", POLICIES)
def test_one_instance_never_misses(policy: str) -> None:
    assert session_miss_rate(1, requests=500, policy=policy).misses == 0


@pytest.mark.parametrize("instances", [2, 5, 12])
def test_sticky_routing_never_misses(instances: int) -> None:
    result = session_miss_rate(instances, requests=1_000, policy="sticky")
    assert result.misses == 0 and result.expected_miss_rate == 0.0
    assert all(count > 0 for count in result.requests_per_instance)  # still spread over all


@pytest.mark.parametrize("policy", POLICIES)
def test_a_shared_store_never_misses(policy: str) -> None:
    result = session_miss_rate(6, requests=1_000, policy=policy, store="shared")
    assert result.misses == 0 and result.miss_rate == 0.0 == result.expected_miss_rate


def test_requests_are_counted_once_each() -> None:
    result = session_miss_rate(3, requests=1_234, users=7, seed=3)
    assert result.requests == 1_234 == sum(result.requests_per_instance)
    assert len(result.requests_per_instance) == 3
    # Round robin deals out the requests (and the 7 logins before them) in turn: counts differ
    # by at most one over requests + logins, so by at most 2 over requests alone.
    assert max(result.requests_per_instance) - min(result.requests_per_instance) <= 2


def test_the_same_seed_gives_the_same_result_bit_for_bit() -> None:
    runs = [session_miss_rate(5, requests=800, policy="random", seed=42) for _ in range(2)]
    assert runs[0] == runs[1]
    assert session_miss_rate(5, requests=800, policy="random", seed=43) != runs[0]


def test_every_argument_changes_the_result() -> None:
    base = dict(instances=4, requests=600, users=20, policy="random", store="memory", seed=1)
    reference = session_miss_rate(**base)
    for name, other in [("instances", 5), ("requests", 700), ("users", 21), ("seed", 2),
                        ("policy", "round_robin"), ("store", "shared")]:  # fmt: skip
        assert session_miss_rate(**{**base, name: other}) != reference, name


def test_the_sweep_runs_each_count_with_the_same_seed() -> None:
    sweep = miss_rate_by_instances([1, 2, 3], requests=300, seed=9)
    assert [r.instances for r in sweep] == [1, 2, 3]
    assert sweep[1] == session_miss_rate(2, requests=300, seed=9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(instances=0), "instances"),
        (dict(instances=2.0), "instances"),
        (dict(instances=True), "instances"),
        (dict(instances=2, requests=0), "requests"),
        (dict(instances=2, users=-1), "users"),
        (dict(instances=2, policy="least_connections"), "unknown policy"),
        (dict(instances=2, store="disk"), "unknown store"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        session_miss_rate(**kwargs)


def test_theory() -> None:
    assert expected_miss_rate(1) == 0.0
    assert expected_miss_rate(2) == 0.5
    assert expected_miss_rate(10, "random") == pytest.approx(0.9)
    assert expected_miss_rate(10, "sticky") == 0.0
    assert expected_miss_rate(10, "round_robin", "shared") == 0.0
    with pytest.raises(ValueError):
        expected_miss_rate(3, store="nowhere")


def test_the_figure_shows_each_label_with_intervals_and_the_theory() -> None:
    runs = {p: replicate_miss_rates(range(1, 5), 3, requests=200, policy=p) for p in POLICIES}
    fig = plot_miss_rates(runs)
    try:
        [ax] = fig.axes
        labels = [line.get_label() for line in ax.get_lines()]
        assert [label for label in labels if not label.startswith("_")] == [
            "theory, sessions in memory: 1 − 1/N"
        ]
        bars = ax.containers
        assert [c.get_label() for c in bars] == [f"{p} (95% interval)" for p in POLICIES]
        points, _, (ranges,) = bars[1].lines  # random: its rates and their intervals
        assert list(points.get_ydata()) == [run["miss_rate"] for run in runs["random"]]
        spans = [bound for segment in ranges.get_segments()[1:] for bound in segment[:, 1]]
        expected = [b for run in runs["random"][1:] for b in run["interval"]["miss_rate"]]
        assert spans == pytest.approx(expected)
        assert list(ax.get_xticks()) == [1, 2, 3, 4]
        assert fig.get_size_inches()[0] <= 9 and fig.get_size_inches()[1] <= 4
    finally:
        plt.close(fig)


def test_replicated_miss_rates_hold_the_theory_in_their_intervals() -> None:
    runs = replicate_miss_rates([2, 4, 8], 10, requests=1_000, policy="random", seed=3)
    for run in runs:
        low, high = run["interval"]["miss_rate"]
        assert low <= run["expected_miss_rate"] <= high
        assert run["requests"] == 1_000 and run["interval"]["replications"] == 10


def test_the_explorer_redraws_from_its_controls() -> None:
    explorer = SessionMissExplorer(requests=300, seed=0)
    first = explorer.redraw()
    assert (first.instances, first.policy, first.store) == (2, "round_robin", "memory")
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    explorer.controls["store"].value = "shared"
    assert "0 of 300" in explorer.text.value
    explorer.controls["instances"].value = 5
    assert explorer.redraw() == session_miss_rate(5, requests=300, store="shared", seed=0)
    assert set(STORES) == set(explorer.controls["store"].options)
    assert session_miss_explorer(requests=100) is not None


def test_the_summary_names_the_numbers() -> None:
    result = SessionMissResult(2, "random", "memory", 10, 100, 52, (50, 50), 0)
    assert summary(result) == (
        "2 instance(s), random, sessions in memory: 52 of 100 requests found no session "
        "(52.0%; theory 50.0%)"
    )
