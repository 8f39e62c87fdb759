"""Lesson 06's figures and explorer draw what the results say, and the explorer redraws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from simulations.explorer import explorers
from simulations.scenarios.sticky.model import compare_sticky, comparison_table, run_sticky
from simulations.scenarios.sticky.plots import plot_hotspot, plot_policy_comparison
from simulations.scenarios.sticky.widget import StickyExplorer, sticky_explorer, summary

PNG = b"\x89PNG"


def test_hotspot_figure_draws_every_instance_and_marks_the_scale_out() -> None:
    result = run_sticky(policy="sticky", requests=2000, scale_out_at=400, windows=8)
    fig = plot_hotspot(result)
    try:
        over_time, bars = fig.axes
        lines = [line for line in over_time.get_lines() if line.get_label().startswith("inst")]
        assert len(lines) == 5  # four instances and the new one
        assert any("(new)" in line.get_label() for line in lines)
        assert list(lines[1].get_ydata()) == result.window_utilization[1]
        assert [patch.get_height() for patch in bars.patches] == result.load
        assert f"{result.imbalance:.2f}" in bars.get_title()
    finally:
        plt.close(fig)


def test_policy_comparison_has_one_bar_per_policy_in_order() -> None:
    runs = compare_sticky(("sticky", "round_robin", "bounded_load"), requests=1500)
    fig = plot_policy_comparison(runs)
    try:
        imbalance, p99 = fig.axes
        assert [t.get_text() for t in imbalance.get_yticklabels()] == list(runs)
        assert [p.get_width() for p in imbalance.patches] == [r.imbalance for r in runs.values()]
        assert [p.get_width() for p in p99.patches] == [r.p99_response for r in runs.values()]
    finally:
        plt.close(fig)
    table = comparison_table(runs)
    assert table.splitlines()[2].startswith("sticky")
    assert f"{runs['bounded_load'].imbalance:.2f}" in table


def test_explorer_redraws_when_a_control_changes_and_is_registered() -> None:
    assert explorers()["sticky"] is StickyExplorer
    explorer = StickyExplorer(requests=1000)
    first_image = bytes(explorer.image.value)
    assert first_image.startswith(PNG)
    assert explorer.summary.value.startswith("sticky: imbalance")
    explorer.controls["policy"].value = "round_robin"
    assert explorer.summary.value.startswith("round_robin")
    assert bytes(explorer.image.value) != first_image
    explorer.controls["scale_out"].value = True
    assert "new instance got" in explorer.summary.value
    result = explorer.redraw()
    assert summary(result).splitlines()[0] in explorer.summary.value
    assert sticky_explorer(requests=300).children
