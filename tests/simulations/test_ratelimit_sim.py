"""The rate-limit model (lesson 08): a fixed-window limit counted per instance, behind N of them.

Checked: a shared counter lets exactly L through per window, counters in memory behind round
robin exactly min(sent, N·L) (so N·L when the attack exceeds it), random routing somewhat less
(its exact expectation lies inside the replication intervals), the autoscaler adds instances
under the attack and so raises the client's effective limit (not with a shared counter), bad
knobs are refused, and the CLI, figures and explorer show what the runs say.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from simulations import (
    RateLimitScenario,
    limit_by_instances,
    replicate_ratelimit,
    run_ratelimit,
)
from simulations.cli import main
from simulations.scenarios.ratelimit.model import BOOT_TIME, SYNC_PERIOD, expected_capped
from simulations.scenarios.ratelimit.plots import plot_allowed, plot_limit_by_instances
from simulations.scenarios.ratelimit.widget import RateLimitExplorer, ratelimit_explorer


def test_same_seed_same_run_and_another_seed_another() -> None:
    first = run_ratelimit(attack_rate=8, instances=4, autoscale=True, seed=3)
    assert run_ratelimit(attack_rate=8, instances=4, autoscale=True, seed=3) == first
    other = run_ratelimit(attack_rate=8, instances=4, autoscale=True, seed=4)
    assert other.sent_per_window != first.sent_per_window


@pytest.mark.parametrize("balancer", ["round_robin", "random"])
@pytest.mark.parametrize("instances", [1, 3, 8])
@pytest.mark.parametrize("autoscale", [False, True])
def test_a_shared_counter_lets_exactly_the_limit_through(
    balancer: str, instances: int, autoscale: bool
) -> None:
    result = run_ratelimit(
        instances=instances, balancer=balancer, state="shared", autoscale=autoscale, seed=1
    )
    assert result.allowed_per_window == [20] * 30  # 50 req/s × 10 s ≫ 20 in every window
    assert result.effective_limit == 20.0 == result.theory_effective_limit
    # and below the limit, whatever was sent: min(sent, L) in each window
    quiet = run_ratelimit(instances=instances, balancer=balancer, state="shared", attack_rate=2)
    pairs = zip(quiet.allowed_per_window, quiet.sent_per_window, strict=True)
    assert all(allowed == min(sent, 20) for allowed, sent in pairs)
    assert any(sent < 20 for sent in quiet.sent_per_window)


@pytest.mark.parametrize("instances", [1, 2, 4, 8, 16])
def test_counters_in_memory_behind_round_robin_let_exactly_n_times_the_limit_through(
    instances: int,
) -> None:
    result = run_ratelimit(instances=instances, attack_rate=50, limit=20, seed=2)
    assert result.allowed_per_window == [instances * 20] * 30  # a·W = 500 ≥ N·L = 320
    assert result.effective_limit == instances * 20 == result.theory_effective_limit
    # near the threshold: exactly min(sent, N·L), window by window (the turn spreads evenly)
    near = run_ratelimit(instances=instances, attack_rate=2 * instances, limit=20, seed=2)
    pairs = list(zip(near.allowed_per_window, near.sent_per_window, strict=True))
    assert all(allowed == min(sent, instances * 20) for allowed, sent in pairs)
    assert any(sent < instances * 20 for _, sent in pairs)  # both sides of the cap occur
    assert any(sent > instances * 20 for _, sent in pairs)


def test_random_routing_lets_less_through_than_round_robin_near_the_threshold() -> None:
    settings = {"instances": 4, "attack_rate": 8, "limit": 20, "seed": 6}
    robin = run_ratelimit(**settings)
    spread = run_ratelimit(balancer="random", **settings)
    assert spread.allowed < robin.allowed
    cap = [min(sent, 80) for sent in spread.sent_per_window]
    assert all(a <= c for a, c in zip(spread.allowed_per_window, cap, strict=True))


@pytest.mark.parametrize(
    "settings",
    [
        {"instances": 4, "attack_rate": 8, "balancer": "random"},
        {"instances": 4, "attack_rate": 12, "balancer": "random"},
        {"instances": 4, "attack_rate": 8},
        {"instances": 2, "attack_rate": 2, "state": "shared"},
    ],
    ids=lambda s: "-".join(map(str, s.values())),
)
def test_theory_is_inside_the_replication_interval(settings: dict) -> None:
    run = replicate_ratelimit(10, seed=8, **settings)
    low, high = run["interval"]["effective_limit"]
    assert low <= run["theory_effective_limit"] <= high, (low, high)
    assert run["theory_effective_limit"] < settings["instances"] * 20  # below the plain cap


def test_expected_capped_is_the_poisson_sum() -> None:
    for mean, cap in [(3.0, 2), (7.5, 10), (80.0, 80), (500.0, 100), (2.0, 50)]:
        pmf, total = math.exp(-mean), 0.0
        for j in range(2000):  # E[min(X, cap)] term by term
            total += pmf * min(j, cap)
            pmf *= mean / (j + 1)
        assert expected_capped(mean, cap) == pytest.approx(total, rel=1e-9)
    assert expected_capped(2e6, 10**9) == 2e6 and expected_capped(2e6, 5) == 5.0


def test_the_autoscaler_loosens_the_attackers_own_limit() -> None:
    fixed = run_ratelimit(instances=2)
    scaled = run_ratelimit(instances=2, autoscale=True, max_instances=10)
    assert fixed.effective_limit == 40.0  # 2 × 20
    # 50 req/s at 20 req/s per instance, tracking 60%: ceil(2 × 1.25 / 0.6) = 5 instances,
    # asked for at the first sync (15 s), ready 30 s later: from the window of 45 s on, 5 × 20
    assert scaled.launched == 3 and scaled.final_instances == 5
    first_full = math.ceil((SYNC_PERIOD + BOOT_TIME) / 10)
    assert scaled.allowed_per_window[:4] == [40] * 4
    assert scaled.allowed_per_window[first_full - 1 :] == [100] * (30 - first_full + 1)
    assert scaled.effective_limit > 2 * fixed.effective_limit
    assert scaled.effective_limit == scaled.theory_effective_limit
    assert scaled.to_dict()["loosening"] == pytest.approx(scaled.effective_limit / 20)
    # the same attack with a shared counter: just as many instances, and still the limit
    shared = run_ratelimit(instances=2, autoscale=True, state="shared")
    assert shared.final_instances == 5 and shared.effective_limit == 20.0


def test_the_autoscaler_stays_within_its_bounds() -> None:
    capped = run_ratelimit(instances=2, autoscale=True, max_instances=3, attack_rate=100)
    assert max(capped.series_instances) == 3 and min(capped.series_instances) == 2
    assert capped.effective_limit <= 3 * 20
    idle = run_ratelimit(instances=3, autoscale=True, attack_rate=1)  # load far below target
    assert idle.launched == 0 and set(idle.series_instances) == {3}


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"instances": 0}, "instances"),
        ({"limit": 0}, "limit"),
        ({"limit": 2.5}, "limit"),
        ({"window": -1}, "window"),
        ({"attack_rate": math.inf}, "attack_rate"),
        ({"state": "redis"}, "state"),
        ({"balancer": "sticky"}, "balancer"),
        ({"autoscale": 1}, "autoscale"),
        ({"autoscale": True, "instances": 5, "max_instances": 4}, "max_instances"),
        ({"duration": 5, "window": 10}, "at least one window"),
        ({"attack_rate": 1e6, "duration": 1e4}, "attacker requests"),
        ({"window": 1e-3, "duration": 1e3, "attack_rate": 1}, "windows"),
    ],
)
def test_bad_knobs_are_refused_with_a_clear_error(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RateLimitScenario(**settings)


def test_cli_gives_the_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ratelimit", "--instances", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == run_ratelimit(instances=4).to_dict()
    assert result["effective_limit"] == 80.0 and result["allowed"] == 80 * 30
    assert main(["ratelimit", "--autoscale", "--state", "shared"]) == 0
    table = capsys.readouterr().out
    assert "1.00 × the limit" in table and "3 launched" in table
    assert main(["ratelimit", "--max-instances", "4"]) == 2  # needs --autoscale
    assert "needs --autoscale" in capsys.readouterr().err
    assert (
        main(["ratelimit", "--attack-rate", "8", "--balancer", "random", "--replications", "3"])
        == 0
    )
    assert "per window (mean)" in capsys.readouterr().out


def test_limit_by_instances_and_its_figure() -> None:
    runs = {
        "counter in memory": limit_by_instances([1, 2, 4], 3),
        "shared counter": limit_by_instances([1, 2, 4], 3, state="shared"),
    }
    assert [run["effective_limit"] for run in runs["counter in memory"]] == [20.0, 40.0, 80.0]
    assert [run["effective_limit"] for run in runs["shared counter"]] == [20.0] * 3
    fig = plot_limit_by_instances(runs)
    try:
        (ax,) = fig.axes
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels == ["N·L", "L", "counter in memory", "shared counter"]
    finally:
        plt.close(fig)


def test_allowed_figure_has_the_limit_lines_and_the_instances() -> None:
    runs = [run_ratelimit(autoscale=True), run_ratelimit(autoscale=True, state="shared")]
    fig = plot_allowed(runs)
    try:
        top, bottom = fig.axes
        levels = {line.get_ydata()[0] for line in top.get_lines() if len(line.get_ydata()) == 2}
        assert {20, 40, 100} <= levels  # L, N·L at the start (2) and at the end (5)
        steps = [line for line in bottom.get_lines()]
        assert [max(line.get_ydata()) for line in steps] == [5, 5]
    finally:
        plt.close(fig)


def test_explorer_redraws_and_greys_out_max_instances() -> None:
    explorer = RateLimitExplorer()
    assert explorer.controls["max_instances"].disabled  # autoscale is off by default
    explorer.controls["autoscale"].value = True
    assert not explorer.controls["max_instances"].disabled
    assert "launched 3 instance(s)" in explorer.summary.value
    explorer.controls["max_instances"].value = 1  # below instances: raised to it
    assert "launched 0 instance(s)" in explorer.summary.value
    explorer.controls["state"].value = "shared"
    result = explorer.redraw()
    assert result.effective_limit == 20.0
    assert list(explorer.view.limit.get_ydata()) == [20, 20]
    assert ratelimit_explorer().children
