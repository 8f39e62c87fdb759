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


def legend_right_of_axes(ax) -> bool:  # type: ignore[no-untyped-def]
    """The axes' legend exists and sits entirely to the right of the axes (off the data)."""
    legend = ax.get_legend()
    figure = ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    return legend is not None and legend.get_window_extent(renderer).x0 >= ax.bbox.x1


def test_hotspot_legend_sits_off_the_data() -> None:
    fig = plot_hotspot(run_sticky(policy="sticky", requests=1000, crash_hottest_at=200))
    try:
        over_time, bars = fig.axes
        assert legend_right_of_axes(over_time)
        assert bars.get_legend() is None, "the mean is labelled beside its line"
        assert any(text.get_text().startswith("mean ") for text in bars.texts)
    finally:
        plt.close(fig)


def test_explorer_controls_are_named_after_the_knobs_whose_rules_they_follow() -> None:
    from simulations.knobs import applies, declared
    from simulations.scenarios.sticky.model import StickyScenario

    knobs = declared(StickyScenario)
    explorer = StickyExplorer(requests=300)
    own = set(explorer.controls) - set(knobs)
    assert own == {"load", "scale_out"}, "every other control is a scenario knob"

    def matters(name: str) -> bool:
        settings = {key: control.value for key, control in explorer.controls.items()}
        return applies(knobs[name][1], settings)

    assert not matters("epsilon"), "ε does nothing under the default sticky policy"
    explorer.controls["policy"].value = "bounded_load"
    assert matters("epsilon")
    assert matters("zipf_s")
    explorer.controls["activity"].value = "pareto"
    assert not matters("zipf_s")
    assert "bounded_load" in explorer.summary.value
