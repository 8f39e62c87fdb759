"""Figures and the balance explorer: they draw what the results say, and the widget redraws."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from simulations import POLICY_NAMES, bench, explorer, replicate_policies, run_balance
from simulations.bench import bare_resource_model, bare_store_model
from simulations.cli import main
from simulations.explorer import explorers
from simulations.scenarios.balance.plots import plot_policy_comparison, plot_run
from simulations.scenarios.balance.widget import BalanceExplorer, balance_explorer

EXPLORERS = explorers()

PNG = b"\x89PNG"


def test_plot_run_draws_queues_and_response_times() -> None:
    result = run_balance("random", instances=3, arrival_rate=2.1, requests=2_000, seed=1)
    fig = plot_run(result)
    try:
        queues, responses = fig.axes
        lanes = queues.collections  # one filled lane per instance
        assert [lane.get_label() for lane in lanes] == ["instance 0", "instance 1", "instance 2"]
        height = max(map(max, result.queues.lengths))
        assert f"height: {height} requests" in queues.get_title()
        tops = [lane.get_paths()[0].vertices[:, 1] for lane in lanes]
        assert [round(top.max() - top.min()) for top in tops] == [
            max(result.queues.of_instance(i)) for i in range(3)
        ]
        labels = [line.get_label() for line in responses.get_lines()]
        assert any(label.startswith("theory mean") for label in labels)
        assert any(f"{result.response.p99:.2f}" in label for label in labels)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("metric", ["mean", "p99"])
def test_policy_comparison_has_one_line_per_policy_with_its_intervals(metric: str) -> None:
    runs = replicate_policies(3, ("random", "least_connections"), (0.5, 0.8), requests=1_000)
    fig = plot_policy_comparison(runs, metric)
    try:
        ax = fig.axes[0]
        bars = [c for c in ax.containers if c.get_label() in ("random", "least_connections")]
        assert [c.get_label() for c in bars] == ["random", "least_connections"]
        line, _, (ranges,) = bars[0].lines
        assert list(line.get_xdata()) == pytest.approx([0.5, 0.8])
        key = f"{metric}_response"
        assert list(line.get_ydata()) == [run[key] for run in runs["random"]]
        spans = [bound for segment in ranges.get_segments() for bound in segment[:, 1]]
        expected = [bound for run in runs["random"] for bound in run["interval"][key]]
        assert spans == pytest.approx(expected)
        theory_lines = [t for t in ax.get_lines() if t.get_label().startswith("theory")]
        assert len(theory_lines) == (3 if metric == "mean" else 0)
    finally:
        plt.close(fig)


def test_explorer_redraws_when_a_control_changes() -> None:
    explorer = BalanceExplorer(requests=1_000)
    first_image, first_summary = bytes(explorer.image.value), explorer.summary.value
    assert first_image.startswith(PNG)
    assert "random, 4 instances, load 80%" in first_summary
    explorer.controls["policy"].value = "least_connections"
    assert "least_connections" in explorer.summary.value
    assert bytes(explorer.image.value) != first_image
    explorer.controls["instances"].value = 8
    assert "8 instances" in explorer.summary.value


def test_explorer_redraw_returns_the_run_it_shows() -> None:
    explorer = BalanceExplorer(requests=500, seed=2)
    result = explorer.redraw()
    assert result.requests_completed == 500
    assert f"{result.response.p99:.2f}" in explorer.summary.value


def test_every_explorer_is_registered_for_the_bench() -> None:
    assert EXPLORERS["balance"] is BalanceExplorer
    # every scenario with a widget.py names its explorer, in lesson order
    assert list(EXPLORERS) == [
        "session_miss",
        "store",
        "balance",
        "crashes",
        "autoscale",
        "deploy",
        "sticky",
        "jwt",
        "races",
        "ratelimit",
        "jobs",
        "events",
        "retries",
        "health",
        "coldstart",
    ]
    assert balance_explorer(requests=200).children  # a displayable widget


def test_bare_models_simulate_the_same_system() -> None:
    # Both baselines are M/M/1 per instance under random routing: ≈ 3.33 s at ρ = 0.7
    # (20,000 requests: a few % of noise, so 15% is a loose but meaningful check).
    for model in (bare_store_model, bare_resource_model):
        assert model(4, 2.8, 1.0, 20_000, 1, "random") == pytest.approx(1 / 0.3, rel=0.15)
        assert model(4, 2.8, 1.0, 20_000, 1, "round_robin") < 2.6  # E_4/M/1: 2.24 s


def test_bench_reports_ratios_and_redraw_times(capsys, monkeypatch) -> None:
    # Time only this lesson's explorer here: the others' are timed by the real bench.
    monkeypatch.setattr(explorer, "explorers", lambda: {"balance": BalanceExplorer})
    monkeypatch.setattr(bench, "SCALING_SIZES", (2, 6))  # the real bench: 4, 400 and 4,000
    argv = ["bench", "--requests", "2000", "--repeat", "2", "--memory-requests", "20000"]
    assert main([*argv, "--startup-runs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["overhead"]) == set(POLICY_NAMES)  # against the lean model, every policy
    assert all(ratio > 0 for ratio in result["overhead"].values())
    assert result["means_agree"] == dict.fromkeys(POLICY_NAMES, True)  # the same system
    assert len(result["models"]) == 2 * 5 + 2 * 2  # engine and lean for all; context for two
    scaling = {row["policy"]: row for row in result["scaling"]}
    assert {"least_connections", "function (pick_at_random)", "bounded_load (lesson 06)"} <= set(
        scaling
    )
    assert all(list(row["us_per_request"]) == ["2", "6"] for row in scaling.values())
    assert all(row["growth"] > 0 for row in scaling.values())
    assert [row["context"] for row in scaling.values()].count(True) == 1  # SimPy alone
    assert [row["widget"] for row in result["redraws"]] == ["balance"]
    assert result["redraws"][0]["median_ms"] > 0
    assert result["memory"]["peak_mb"] > 5 and result["memory"]["bytes_per_request"] >= 0
    assert result["startup_ms"] > 0
    assert isinstance(result["within_budget"], bool)
    assert result["within_budget"] == (result["over_budget"] == [])
    table = bench.format_table(result)
    words_expected = ("overhead (sticky)", "means agree", "cost per request", "SimPy's own")
    for words in (*words_expected, "lean SimPy", "redraw balance", "memory:", "start-up:"):
        assert words in table


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_the_lean_baseline_simulates_the_same_system_as_the_engine(policy: str) -> None:
    # Same system, different random streams: the means agree within a few percent of noise.
    engine = [bench.engine_model(4, 3.2, 1.0, 20_000, seed, policy) for seed in range(3)]
    lean = [bench.lean_model(4, 3.2, 1.0, 20_000, seed, policy) for seed in range(3)]
    assert sum(lean) / 3 == pytest.approx(sum(engine) / 3, rel=0.15)


def extreme_values(control) -> list:
    """Every option of a dropdown, both ends of a slider, both states of a checkbox."""
    if hasattr(control, "options"):
        return [option[1] if isinstance(option, tuple) else option for option in control.options]
    if hasattr(control, "max"):
        return [control.min, control.max]
    return [not control.value, control.value]


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_every_control_setting_redraws_without_an_error(name: str) -> None:
    # A learner drags sliders to their ends: the explorer must draw something, not raise
    # (moving balance's instances to 1 once raised, as power_of_two's default d was 2).
    explorer = EXPLORERS[name]()
    for control_name, control in explorer.controls.items():
        first = control.value
        for value in extreme_values(control):
            control.value = value
            assert bytes(explorer.image.value[:4]) == PNG, (control_name, value)
            assert explorer.summary.value, (control_name, value)
        control.value = first


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_explorer_images_carry_twice_the_pixels_they_are_shown_at(name: str) -> None:
    shown = EXPLORERS[name]()
    width = int(shown.image.layout.width.removesuffix("px"))
    png = bytes(shown.image.value)
    natural = int.from_bytes(png[16:20], "big")  # the IHDR chunk: width, then height
    assert natural == explorer.SHARPNESS * width and width >= 500
    assert shown.image.layout.max_width == "100%"  # never wider than the notebook


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_every_control_label_is_shown_in_full(name: str) -> None:
    for control in EXPLORERS[name]().controls.values():
        if not isinstance(control, explorer.widgets.Checkbox):
            assert control.style.description_width == "initial", control.description


def test_a_control_that_does_not_apply_is_disabled_and_says_why() -> None:
    sticky = EXPLORERS["sticky"]()
    sticky.controls["policy"].value = "sticky"
    epsilon = sticky.controls["epsilon"]
    assert epsilon.disabled and "only when policy is bounded_load" in epsilon.tooltip
    sticky.controls["policy"].value = "bounded_load"
    assert not epsilon.disabled and epsilon.tooltip == ""
    jwt = EXPLORERS["jwt"]()
    jwt.controls["revocation"].value = "denylist"
    assert not jwt.controls["denylist_delay"].disabled
    jwt.controls["revocation"].value = "none"
    assert jwt.controls["denylist_delay"].disabled
