"""The jobs model (lesson 09): background jobs under worker crashes, queued in memory or a broker.

Checked against what can be said exactly: without crashes and with every job shorter than its
lease nothing is redelivered; a fixed job longer than the lease runs twice, every one of them;
a job whose leases all run out is dead-lettered and yet ran each time; a redelivered job waited
at least the visibility timeout; a broker loses nothing; a memory queue loses what the crashes
find in it (crash rate × ∫ jobs held dt, inside the replications' 95% interval). Then bad knobs,
the command line (integer counts, same seed same JSON, every flag matters), the sweeps, the
figures and the explorer.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from cli_runs import json_output

from simulations import (
    JobsScenario,
    jobs_by_crash_rate,
    jobs_by_visibility,
    mean_interval,
    replicate_jobs,
    replication_seeds,
    run_jobs,
)
from simulations.cli import main
from simulations.scenarios.jobs.plots import plot_by_crash_rate, plot_by_visibility
from simulations.scenarios.jobs.widget import JobsExplorer, jobs_explorer

CALM = {"crash_rate": 0.0, "duration": 300.0}


def test_same_seed_same_run_and_another_seed_another() -> None:
    for queue in ("memory", "broker"):
        first = run_jobs(queue=queue, crash_rate=0.02, seed=3)
        assert run_jobs(queue=queue, crash_rate=0.02, seed=3) == first
        assert run_jobs(queue=queue, crash_rate=0.02, seed=4).latencies != first.latencies


@pytest.mark.parametrize("queue", ["memory", "broker"])
def test_without_crashes_and_short_jobs_every_job_runs_once(queue: str) -> None:
    result = run_jobs(
        queue=queue, service="fixed", service_time=2.0, visibility_timeout=2.5, **CALM
    )
    assert result.crashes == 0 and result.submitted > 500
    assert result.completed == result.executions == result.submitted
    assert result.lost == result.redelivered == result.duplicated == result.dead_lettered == 0
    assert result.unfinished == result.refused == 0
    assert min(result.latencies) >= 2.0 - 1e-9  # at least its own work


def test_a_fixed_job_longer_than_its_lease_runs_twice_every_time() -> None:
    # 1.5 s of work, a 1 s lease, workers to spare: redelivered at 1 s, acknowledged at 1.5 s by
    # the first run, finished again at 2.5 s by the second
    result = run_jobs(
        service="fixed", service_time=1.5, visibility_timeout=1.0, workers=16, arrival_rate=1.0,
        **CALM,
    )  # fmt: skip
    n = result.submitted
    assert (
        result.duplicated == result.redelivered == result.redelivered_jobs == result.completed == n
    )
    assert result.executions == 2 * n and result.lost == 0
    assert result.mean_latency == pytest.approx(1.5)  # the first run's completion counts


def test_without_crashes_the_jobs_longer_than_the_lease_are_redelivered() -> None:
    # exponential jobs (mean s), workers to spare: a job is delivered again exactly when it runs
    # past its lease V, P(S > V) = e^(−V/s)
    settings = {"workers": 16, "visibility_timeout": 2.0, **CALM}
    runs = [run_jobs(**settings, seed=seed) for seed in replication_seeds(9, 10)]
    low, high = mean_interval([run.redelivered_jobs / run.submitted for run in runs])
    assert low <= math.exp(-2.0) <= high, (low, high)
    assert all(0 < run.duplicated <= run.redelivered_jobs for run in runs)


def test_a_job_whose_leases_all_run_out_is_dead_lettered_yet_ran_each_time() -> None:
    result = run_jobs(
        service="fixed", service_time=10.0, visibility_timeout=1.0, max_attempts=3, workers=64,
        arrival_rate=1.0, **CALM,
    )  # fmt: skip
    n = result.submitted
    assert result.dead_lettered == result.duplicated == result.completed == n
    assert result.executions == 3 * n  # deliveries at 0, 1 and 2 s: all three finish


def test_a_redelivered_job_waited_at_least_the_visibility_timeout() -> None:
    for timeout in (2.0, 10.0, 30.0):
        result = run_jobs(crash_rate=0.02, visibility_timeout=timeout)
        assert result.redelivered_jobs > 10
        assert min(result.redelivered_latencies) >= timeout - 1e-9
        assert result.mean_redelivered_latency > timeout


@pytest.mark.parametrize("settings", [{}, {"crash_rate": 0.05}, {"visibility_timeout": 0.5}])
def test_a_broker_loses_nothing(settings: dict) -> None:
    result = run_jobs(**settings)
    assert result.lost == result.refused == 0
    assert result.completed + result.unfinished == result.submitted
    memory = run_jobs(queue="memory", **settings)
    assert memory.lost > 0
    assert memory.completed + memory.lost + memory.refused + memory.unfinished == memory.submitted
    assert memory.redelivered == memory.duplicated == memory.dead_lettered == 0


def test_memory_losses_are_crash_rate_times_the_jobs_held() -> None:
    # each crash (rate c per instance, independent of the queues) takes the N jobs it finds:
    # E[lost] = c × E[∫ N dt]; the run-by-run differences average to 0 within their interval
    settings = {"queue": "memory", "crash_rate": 0.02, "arrival_rate": 3.0}
    runs = [run_jobs(**settings, seed=seed) for seed in replication_seeds(5, 20)]
    low, high = mean_interval([run.lost - run.expected_lost for run in runs])
    assert low <= 0 <= high, (low, high)
    mean_lost = sum(run.lost for run in runs) / len(runs)
    assert mean_lost > 30  # enough losses for the check to mean something
    calmer = replicate_jobs(10, **{**settings, "crash_rate": 0.005})
    assert calmer["lost"] < sum(run.lost for run in runs[:10])  # fewer crashes, fewer losses


def test_with_every_instance_down_a_job_is_refused() -> None:
    result = run_jobs(queue="memory", workers=1, crash_rate=0.05, boot_time=20.0)
    assert result.refused > 100
    assert result.completed + result.lost + result.refused + result.unfinished == result.submitted


def test_workers_that_cannot_keep_up_leave_jobs_unfinished() -> None:
    result = run_jobs(arrival_rate=8.0, workers=2, service_time=1.0, duration=100.0)
    assert result.unfinished > 0 and result.end == pytest.approx(200.0)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"queue": "redis"}, "queue"),
        ({"workers": 0}, "workers"),
        ({"arrival_rate": 0}, "arrival_rate"),
        ({"service_time": -1}, "service_time"),
        ({"service": "pareto"}, "service"),
        ({"crash_rate": -0.1}, "crash_rate"),
        ({"visibility_timeout": 0}, "visibility_timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"duration": math.inf}, "duration"),
        ({"arrival_rate": 1e4, "duration": 1e3}, "jobs"),
        ({"crash_rate": 10, "workers": 1000, "duration": 10}, "crashes"),
        ({"arrival_rate": 100, "duration": 1000, "max_attempts": 50}, "deliveries"),
    ],
)
def test_bad_knobs_are_refused_with_a_clear_error(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        JobsScenario(**settings)


COUNTS = (
    "submitted", "completed", "lost", "refused", "redelivered", "redelivered_jobs", "duplicated",
    "dead_lettered", "unfinished", "executions", "crashes",
)  # fmt: skip


def test_cli_gives_the_models_json_with_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    result = json_output(capsys, ["jobs", "--queue", "memory", "--json"])
    assert result == run_jobs(queue="memory").to_dict()
    assert all(type(result[key]) is int for key in COUNTS)
    assert json_output(capsys, ["jobs", "--seed", "4", "--json"]) == json_output(
        capsys, ["jobs", "--seed", "4", "--json"]
    )
    assert main(["jobs", "--queue", "memory", "--visibility-timeout", "3"]) == 2
    assert "applies only to --queue broker" in capsys.readouterr().err
    assert main(["jobs", "--replications", "3"]) == 0
    assert "95% intervals over 3 replications" in capsys.readouterr().out


# each flag with a value, and the base run where it matters
FLAGS = {
    "--queue": ("memory", []),
    "--workers": ("3", []),
    "--arrival-rate": ("3", []),
    "--service-time": ("0.5", []),
    "--service": ("fixed", []),
    "--crash-rate": ("0.02", []),
    "--boot-time": ("1", []),
    "--visibility-timeout": ("1", []),
    "--max-attempts": ("2", ["--visibility-timeout", "1"]),
    "--duration": ("200", []),
    "--seed": ("3", []),
}


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_changes_the_result(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    value, base = FLAGS[flag]
    echoed = set(JobsScenario.__dataclass_fields__)
    before = json_output(capsys, ["jobs", "--duration", "300", *base, "--json"])
    after = json_output(capsys, ["jobs", "--duration", "300", *base, flag, value, "--json"])
    measured = [key for key in after if key not in echoed and after[key] != before[key]]
    assert measured, flag


def test_the_sweeps_and_their_figures() -> None:
    runs = jobs_by_visibility([1.0, 10.0], replications=3)
    memory, broker = runs["memory"], runs["broker"]
    assert [run["visibility_timeout"] for run in broker] == [1.0, 10.0]
    assert memory[0]["lost"] == memory[1]["lost"] > 0  # no lease: the same runs
    assert broker[0]["lost"] == broker[1]["lost"] == 0
    assert broker[0]["duplicated"] > 10 * max(broker[1]["duplicated"], 1)  # short leases
    assert broker[1]["mean_redelivered_latency"] > broker[0]["mean_redelivered_latency"] > 0
    assert "duplicated_share" in broker[0]["interval"]
    fig = plot_by_visibility(runs)
    try:
        assert len(fig.axes) == 4
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == ["queue in memory", "broker"]
    finally:
        plt.close(fig)
    rates = jobs_by_crash_rate([0.0, 0.02], replications=2)
    assert rates["memory"][0]["lost"] == 0 < rates["memory"][1]["lost"]
    assert rates["broker"][1]["redelivered"] > rates["broker"][0]["redelivered"]
    fig = plot_by_crash_rate(rates)
    try:
        (ax,) = fig.axes
        assert any("theory" in t.get_text() for t in ax.get_legend().get_texts())
    finally:
        plt.close(fig)


def test_explorer_shows_both_designs_and_redraws() -> None:
    explorer = JobsExplorer()
    assert "queue in memory: 10 of 1,217 jobs lost" in explorer.summary.value
    first = bytes(explorer.image.value)
    explorer.controls["visibility_timeout"].value = 1.0
    both = explorer.redraw()
    assert both.broker.scenario.visibility_timeout == 1.0 and both.memory.lost == 10
    duplicated_bar = explorer.view.bars["broker"][2]
    assert duplicated_bar.get_height() == pytest.approx(
        100 * both.broker.share(both.broker.duplicated)
    )
    assert bytes(explorer.image.value) != first
    explorer.controls["crash_rate"].value = 0.0
    assert "0 of" in explorer.summary.value and "lost in 0 crashes" in explorer.summary.value
    assert jobs_explorer().children
    assert json.dumps(both.broker.to_dict(), allow_nan=False)


def test_the_visibility_table_prints_every_timeout_with_its_counts() -> None:
    from simulations import jobs_by_visibility, visibility_table

    runs = jobs_by_visibility([1, 30], replications=2, duration=60)
    text = visibility_table(runs)
    memory = runs["memory"][0]
    assert f"{memory['lost']:,} of {memory['submitted']:,} jobs lost" in text
    assert f"{memory['expected_lost_share']:.2%}" in text
    rows = text.splitlines()[-2:]
    for row, run in zip(rows, runs["broker"], strict=True):
        cells = row.split()
        assert cells[:2] == [f"{run['visibility_timeout']:g}", "s"]
        assert cells[3:5] == [f"{run['redelivered']:,}", f"{run['duplicated']:,}"]
