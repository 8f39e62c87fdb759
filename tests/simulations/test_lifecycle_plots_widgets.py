"""Lessons 04–05's figures draw what the results say, and their explorers redraw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from simulations import compare_stores, run_autoscale, run_deploy
from simulations.explorer import explorers
from simulations.plotting import plot_damage
from simulations.scenarios.autoscale.plots import plot_autoscale
from simulations.scenarios.autoscale.widget import AutoscaleExplorer
from simulations.scenarios.crashes.plots import plot_crash
from simulations.scenarios.crashes.widget import CrashesExplorer
from simulations.scenarios.deploy.plots import plot_deploy

PNG = b"\x89PNG"


def small(fig: plt.Figure) -> bool:
    width, height = fig.get_size_inches()
    return width <= 9 and height <= 4


def test_plot_crash_draws_one_line_per_setup_from_the_timeline() -> None:
    setups = compare_stores(crash_at=50, users=200)
    fig = plot_crash(setups)
    try:
        sessions_ax, misses_ax = fig.axes
        # the right panel's title, label and data are one metric: session misses (requests)
        assert misses_ax.get_ylabel() == "session misses so far"
        assert misses_ax.get_title().startswith("Session misses")
        lines = [line for line in sessions_ax.get_lines() if line.get_label() in setups]
        assert [line.get_label() for line in lines] == list(setups)
        for line, result in zip(lines, setups.values(), strict=True):
            assert list(line.get_ydata()) == result.timeline.sessions
        misses = [line for line in misses_ax.get_lines() if line.get_label() in setups]
        for line, result in zip(misses, setups.values(), strict=True):
            assert list(line.get_ydata()) == result.timeline.session_misses
        assert [t.get_text() for t in misses_ax.texts] == [
            f"{r.session_misses:,}" for r in setups.values()
        ]  # each line ends with the run's total, as the table prints it
        # lines that overlap stay visible: no two setups share a width and a line style
        styles = {(line.get_linewidth(), str(line.get_linestyle())) for line in lines}
        assert len(styles) == len(lines)
        assert small(fig)
    finally:
        plt.close(fig)


def test_plot_damage_labels_every_bar_with_its_count() -> None:
    runs = {"memory": run_deploy(users=80), "shared": run_deploy(users=80, store="shared")}
    fig = plot_damage(runs)
    try:
        lost = fig.axes[0]
        texts = [text.get_text() for text in lost.texts]
        assert texts == [str(runs["memory"].sessions_lost), "0"]
        assert small(fig)
    finally:
        plt.close(fig)


def test_plot_autoscale_and_plot_deploy_show_the_run() -> None:
    spike = run_autoscale(seed=3)
    deploy = run_deploy(users=80)
    for fig, title_has in (
        (plot_autoscale(spike), f"{spike.initial_replicas} → {spike.peak_replicas}"),
        (plot_deploy(deploy), f"took {deploy.deploy_time:.0f} s"),
    ):
        try:
            assert title_has in fig.axes[0].get_title()
            assert small(fig)
        finally:
            plt.close(fig)


def test_the_explorers_redraw_when_a_control_changes() -> None:
    crash = CrashesExplorer(users=200)
    first = bytes(crash.image.value)
    assert first.startswith(PNG)
    crash.controls["store"].value = "shared"
    assert bytes(crash.image.value) != first and "shared sessions" in crash.summary.value
    crash.controls["instances"].value = 2
    crash.controls["crashes"].value = 5  # more than there are: every instance crashes
    assert "2 of 2 instances crash" in crash.summary.value
    spike = AutoscaleExplorer()
    before = spike.summary.value
    spike.controls["store"].value = "shared"
    assert spike.summary.value != before and bytes(spike.image.value).startswith(PNG)


def test_the_explorers_are_registered_for_the_bench() -> None:
    assert explorers()["crashes"] is CrashesExplorer
    assert explorers()["autoscale"] is AutoscaleExplorer


def test_lesson_05_legends_sit_right_of_the_data_and_the_deploy_marks_what_is_not_counted() -> None:
    spike = plot_autoscale(run_autoscale(store="shared", policy="least_connections"))
    deploy_result = run_deploy()
    deploy = plot_deploy(deploy_result)
    try:
        for fig in (spike, deploy):
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            for ax in fig.axes:
                legend = ax.get_legend()
                assert legend is not None and legend.get_window_extent(renderer).x0 >= ax.bbox.x1
        (ax,) = deploy.axes
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert "draining (not counted)" in labels
        assert "replicas + maxSurge = 5" in labels
        assert ax.get_ylim()[1] > deploy_result.max_present, "room for every instance drawn"
    finally:
        plt.close(spike)
        plt.close(deploy)
