"""The health model (lesson 11): liveness and readiness probes through a Redis outage and a hang.

Checked against what can be said exactly: no trouble, no failure; a liveness probe on the
process restarts nothing during an outage and readiness brings the fleet back within one
readiness period; a liveness probe on Redis restarts every instance once the blip lasts
threshold × period, none when it is shorter than (threshold − 1) × period, and again and
again (with CrashLoopBackOff's wait) while Redis stays down; a hang is detected between
(k − 1) P and k P in every run; the outage seen and the time to recover lie in the band of
``theory_outage`` and average to its mean. Then where the failed requests go with and without a
readiness check, bad knobs, the command line (integer counts, same seed same JSON, every flag
matters), the sweeps, their table and figures, and the explorer.
"""

from __future__ import annotations

import json
import math
import statistics

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from cli_runs import json_output

from simulations import (
    HealthScenario,
    compare_designs,
    detection_band,
    detection_by_probe,
    health_table,
    outage_by_blip,
    replicate_health,
    replication_seeds,
    run_health,
    theory_detection_time,
    theory_outage,
)
from simulations.cli import main
from simulations.scenarios.health.model import BACKOFF_FIRST, DESIGNS, backoff_wait
from simulations.scenarios.health.plots import plot_amplification, plot_detection, plot_fleet
from simulations.scenarios.health.widget import HealthExplorer, health_explorer

DESIGN_KNOBS = [
    {"liveness": liveness, "readiness": readiness}
    for liveness in ("process", "dependency")
    for readiness in ("dependency", "none")
]


def runs(count: int, **settings: object) -> list:
    """``count`` runs of the same settings with independent seeds."""
    return [run_health(**settings, seed=seed) for seed in replication_seeds(11, count)]


@pytest.mark.parametrize("design", DESIGN_KNOBS, ids=lambda d: "+".join(d.values()))
def test_same_seed_same_run_and_another_seed_another(design: dict) -> None:
    first = run_health(**design, hang_at=50, seed=3)
    assert run_health(**design, hang_at=50, seed=3) == first
    assert run_health(**design, hang_at=50, seed=3).to_dict() == first.to_dict()
    assert run_health(**design, hang_at=50, seed=4) != first


@pytest.mark.parametrize("design", DESIGN_KNOBS, ids=lambda d: "+".join(d.values()))
def test_without_outage_or_hang_nothing_fails_and_nothing_restarts(design: dict) -> None:
    result = run_health(**design, outage=0)
    assert result.requests > 2_000
    assert result.failed == 0 and result.succeeded == result.requests
    assert result.restarts == result.cold_starts == result.max_unready == 0
    assert result.outage_seen == 0 and result.availability == 1.0
    assert result.detection_time is None and result.time_to_recover is None


@pytest.mark.parametrize("outage", [5.0, 20.0, 45.0])
def test_liveness_on_the_process_rides_out_an_outage(outage: float) -> None:
    for result in runs(10, liveness="process", outage=outage):
        s = result.scenario
        assert result.restarts == 0 and result.cold_starts == 0
        # readiness on Redis: back at each instance's first readiness probe after Redis returns
        assert 0 <= result.time_to_recover < s.readiness_period
        assert outage <= result.outage_seen < outage + s.readiness_period
        assert result.max_unready == s.instances  # every instance left the pool
        # until readiness notices (2 to 4 s), instances answer 503; then the balancer does
        assert result.failed_no_instance > 0 and result.failed_dependency > 0
        if outage >= 20:
            assert result.failed_no_instance > result.failed_dependency
        assert result.failed_hung == 0
    always = run_health(liveness="process", readiness="none", outage=outage)
    assert always.time_to_recover == 0 and always.outage_seen == pytest.approx(outage)


def test_liveness_on_redis_restarts_every_instance_and_stretches_the_outage() -> None:
    # D = 20 s > 3 × 5 s: every instance fails three probes and is restarted, once (its boot
    # ends after Redis is back); the fleet is back only when the first boot ends
    for result in runs(10, liveness="dependency", outage=20.0):
        s = result.scenario
        assert result.restarts == result.instances_restarted == s.instances
        assert result.cold_starts == s.instances
        period, k = s.liveness_period, s.liveness_threshold
        earliest_boot = (k - 1) * period + s.boot + s.initial_delay  # 30 s after Redis fell
        assert earliest_boot <= result.outage_seen < k * period + s.boot + s.readiness_period
        assert result.outage_seen > s.outage + 9  # a 20 s blip, 30 s and more without service
        fixed = run_health(liveness="process", outage=20.0, seed=s.seed)  # same requests
        assert result.failed > fixed.failed and result.requests == fixed.requests


def test_a_blip_shorter_than_threshold_minus_one_periods_restarts_nothing() -> None:
    for period, threshold in ((5.0, 3), (2.0, 4), (10.0, 2)):
        blip = (threshold - 1) * period - 0.01
        for result in runs(10, liveness="dependency", outage=blip, liveness_period=period,
                           liveness_threshold=threshold):  # fmt: skip
            assert result.restarts == 0, (period, threshold)
        longer = runs(10, liveness="dependency", outage=threshold * period + 0.01,
                      liveness_period=period, liveness_threshold=threshold)  # fmt: skip
        assert all(r.restarts == r.scenario.instances for r in longer), (period, threshold)


def test_a_long_outage_is_a_crash_loop_and_backoff_stretches_it() -> None:
    # D = 45 s: restarted at 10–15 s, booted at 30–35 s, three more failures: restarted again
    # at 40–45 s; CrashLoopBackOff then waits 10 s before the second boot
    for result in runs(10, liveness="dependency", outage=45.0):
        s = result.scenario
        assert result.restarts == 2 * s.instances
        assert result.outage_seen > s.outage + s.boot + BACKOFF_FIRST - 5  # D + B + backoff
        quick = run_health(liveness="dependency", outage=45.0, crash_backoff=False, seed=s.seed)
        assert quick.restarts == 2 * s.instances
        assert s.outage + s.boot - 5 <= quick.outage_seen < s.outage + s.boot  # at most D + B
    assert [backoff_wait(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]


@pytest.mark.parametrize(("period", "threshold"), [(5.0, 3), (1.0, 3), (10.0, 1), (2.0, 6)])
@pytest.mark.parametrize("readiness", ["dependency", "none"])
def test_a_hang_is_detected_within_the_band_in_every_run(
    period: float, threshold: int, readiness: str
) -> None:
    low, high = detection_band(period, threshold)
    detected = []
    for result in runs(20, readiness=readiness, outage=0, hang_at=30, liveness_period=period,
                       liveness_threshold=threshold):  # fmt: skip
        assert low <= result.detection_time <= high
        assert result.restarts == result.cold_starts == 1 and result.failed_dependency == 0
        # back in the pool when the boot ends (no readiness check) or at the first readiness
        # probe, right after it: the recovery is the detection plus the boot
        s = result.scenario
        wait = 0.0 if readiness == "none" else s.initial_delay
        assert result.time_to_recover == pytest.approx(result.detection_time + s.boot + wait)
        detected.append(result.detection_time)
    # uniform phases: the mean is (k − ½) P; 20 runs of a uniform over P: sd of the mean P/√240
    assert statistics.mean(detected) == pytest.approx(
        theory_detection_time(period, threshold), abs=4 * period / math.sqrt(240)
    )


def test_without_readiness_a_hung_instance_keeps_its_share_of_the_requests() -> None:
    for seed in range(5):
        kept = run_health(readiness="none", outage=0, hang_at=40, seed=seed)
        removed = run_health(readiness="dependency", outage=0, hang_at=40, seed=seed)
        assert kept.detection_time == removed.detection_time  # the same liveness probes
        # round robin: one request in N reaches the hung instance until it is restarted
        expected = kept.scenario.rate * kept.detection_time / kept.scenario.instances
        assert abs(kept.failed_hung - expected) <= 4 * math.sqrt(expected) + 1
        # readiness takes it out after 2 failed probes 2 s apart, at most 4 s after the hang
        assert removed.failed_hung <= kept.scenario.rate * 4 / kept.scenario.instances + 10
        assert kept.failed_hung > 2 * removed.failed_hung
        assert kept.outage_seen == removed.outage_seen == 0


def test_readiness_on_redis_moves_the_failures_to_the_balancer_it_does_not_save_them() -> None:
    # Redis is shared: while it is down no instance can serve, ready or not. Without readiness
    # every instance stays in the pool and answers 503 (failed_dependency); with readiness the
    # pool empties and the balancer answers (failed_no_instance), and the instances come back
    # a little after Redis does, so a few more requests fail.
    for seed in range(5):
        none = run_health(readiness="none", seed=seed)
        ready = run_health(readiness="dependency", seed=seed)
        assert none.requests == ready.requests
        assert none.failed_no_instance == 0 and none.failed == none.failed_dependency > 0
        assert ready.failed_no_instance > 3 * ready.failed_dependency
        assert ready.failed >= none.failed
        assert ready.outage_seen - none.outage_seen < ready.scenario.readiness_period


@pytest.mark.parametrize(
    "design", [*DESIGN_KNOBS, {"liveness": "dependency", "crash_backoff": False}]
)
@pytest.mark.parametrize("outage", [5.0, 12.0, 20.0, 45.0])
def test_the_outage_and_the_recovery_meet_the_theory(design: dict, outage: float) -> None:
    results = runs(60, outage=outage, duration=200, **design)
    theory = theory_outage(outage=outage, duration=200, **design)
    grid = 0.02  # the theory's phases are a grid of 400 per period
    seen = [r.outage_seen for r in results]
    recover = [r.time_to_recover for r in results]
    assert theory.low - grid <= min(seen) and max(seen) <= theory.high + grid
    assert theory.recover_low - grid <= min(recover)
    assert max(recover) <= theory.recover_high + grid
    # 40 comparisons: 4 standard errors rather than a 95% interval, so that one does not fail
    # by chance one time in 20
    for values, mean in ((seen, theory.mean), (recover, theory.recover_mean)):
        error = statistics.stdev(values) / math.sqrt(len(values)) if len(set(values)) > 1 else 0
        assert statistics.mean(values) == pytest.approx(mean, abs=4 * error + grid)


def test_theory_of_the_simple_cases() -> None:
    assert detection_band(5, 3) == (10, 15) and theory_detection_time(5, 3) == 12.5
    assert theory_outage(outage=0).mean == 0
    always = theory_outage(readiness="none", outage=20)
    assert always.low == always.mean == always.high == 20 and always.recover_high == 0
    # liveness on Redis, a blip of 20 s: restarted at 10–15 s, back 20 s later; the fleet
    # returns with its earliest instance: E[min of 3 uniforms over 5 s] = 5/4
    restarted = theory_outage(liveness="dependency", readiness="none", outage=20)
    assert restarted.mean == pytest.approx(30 + 5 / 4, abs=0.01)
    assert restarted.recover_mean == pytest.approx(10 + 5 * 3 / 4, abs=0.01)
    with pytest.raises(ValueError, match="hang"):
        theory_outage(hang_at=10)


def test_a_restart_at_the_end_of_the_run_is_not_a_recovery() -> None:
    late = run_health(outage=0, hang_at=100)  # detected at 110–115 s, the boot takes 20 s
    assert late.restarts == 1 and late.cold_starts == 0 and late.time_to_recover is None
    assert "not recovered by the end" in late.summary()


def test_the_timeline_says_what_the_counts_say() -> None:
    result = run_health(liveness="dependency", hang_at=80, outage=45, duration=150)
    t, s = result.timeline, result.scenario
    assert t.times[0] == 0 and t.times[-1] == s.duration and list(t.times) == sorted(t.times)
    assert len(t.times) == len(t.ready) + 1 == len(t.useful) + 1
    for ready, serving, useful in zip(t.ready, t.serving, t.useful, strict=True):
        assert 0 <= useful <= min(ready, serving) and max(ready, serving) <= s.instances
    spans = zip(t.times, t.times[1:], t.useful, strict=False)
    assert math.fsum(b - a for a, b, useful in spans if useful == 0) == pytest.approx(
        result.outage_seen
    )
    assert s.instances - min(t.ready) == result.max_unready
    assert len(result.restart_times) == result.restarts


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"liveness": "kubelet"}, "liveness"),
        ({"readiness": "maybe"}, "readiness"),
        ({"instances": 0}, "instances"),
        ({"rate": 0}, "rate"),
        ({"rate": math.nan}, "rate"),
        ({"duration": 0}, "duration"),
        ({"outage": -1}, "outage"),
        ({"outage_at": 90, "outage": 30}, "still be down"),
        ({"hang_at": 120}, "hang"),
        ({"hang_at": -1}, "hang_at"),
        ({"liveness_period": 0}, "liveness_period"),
        ({"liveness_threshold": 0}, "liveness_threshold"),
        ({"liveness_threshold": 1.5}, "liveness_threshold"),
        ({"readiness_threshold": 0}, "readiness_threshold"),
        ({"boot": -1}, "boot"),
        ({"crash_backoff": 1}, "crash_backoff"),
        ({"rate": 1e5, "duration": 1e5, "outage": 0}, "requests"),
        ({"instances": 4_000, "duration": 1e4, "outage": 0}, "probes"),
    ],
)
def test_bad_knobs_are_refused_with_a_clear_error(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HealthScenario(**settings)


COUNTS = (
    "requests", "succeeded", "failed", "failed_dependency", "failed_no_instance", "failed_hung",
    "restarts", "instances_restarted", "cold_starts", "max_unready",
)  # fmt: skip


def test_cli_gives_the_models_json_with_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["health", "--liveness", "dependency", "--outage", "5", "--json"]
    result = json_output(capsys, argv)
    assert result == run_health(liveness="dependency", outage=5).to_dict()
    assert all(type(result[key]) is int for key in COUNTS)
    assert json_output(capsys, ["health", "--seed", "4", "--json"]) == json_output(
        capsys, ["health", "--seed", "4", "--json"]
    )
    assert main(["health", "--readiness", "none", "--readiness-period", "3"]) == 2
    assert "applies only to --readiness dependency" in capsys.readouterr().err
    assert main(["health", "--outage", "100"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "still be down" in err
    assert main(["health", "--hang-at", "40", "--replications", "3"]) == 0
    out = capsys.readouterr().out
    assert "95% intervals over 3 replications" in out and "hang detected" in out
    merged = json_output(capsys, ["health", "--hang-at", "40", "--replications", "3", "--json"])
    assert merged == replicate_health(3, hang_at=40)
    assert merged["requests"] == sum(
        run_health(hang_at=40, seed=seed).requests for seed in replication_seeds(0, 3)
    )


# each flag with a value, and the base run where it matters
FLAGS = {
    "--liveness": ("dependency", []),
    "--readiness": ("none", []),
    "--instances": ("4", []),
    "--rate": ("10", []),
    "--duration": ("100", []),
    "--outage-at": ("40", []),
    "--outage": ("10", []),
    "--hang-at": ("50", []),
    "--liveness-period": ("3", ["--liveness", "dependency"]),
    "--liveness-threshold": ("2", ["--liveness", "dependency"]),
    "--readiness-period": ("1", []),
    "--readiness-threshold": ("3", []),
    "--boot": ("10", ["--liveness", "dependency"]),
    "--initial-delay": ("5", ["--liveness", "dependency"]),
    "--no-crash-backoff": (None, ["--liveness", "dependency", "--outage", "45"]),
    "--seed": ("3", []),
}


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_changes_the_result(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    value, base = FLAGS[flag]
    echoed = set(HealthScenario.__dataclass_fields__)
    given = [flag] if value is None else [flag, value]
    before = json_output(capsys, ["health", *base, "--json"])
    after = json_output(capsys, ["health", *base, *given, "--json"])
    measured = [key for key in after if key not in echoed and after[key] != before[key]]
    assert measured, flag


def test_the_amplification_sweep_and_its_figure() -> None:
    runs_by = outage_by_blip([0, 20, 45], replications=3, outage_at=60)
    assert list(runs_by) == ["process", "dependency"]
    process, dependency = runs_by["process"], runs_by["dependency"]
    assert [run["outage"] for run in dependency] == [0, 20, 45]
    assert [run["restarts"] for run in process] == [0, 0, 0]
    assert [run["restarts"] for run in dependency] == [0, 9, 18]  # 3 runs × 3 instances (× 2)
    # lengthened to see the crash loop end: Redis down at 60 s, the fleet back by 75 s later
    assert dependency[1]["duration"] == 120
    assert dependency[2]["duration"] == pytest.approx(60 + dependency[2]["theory_outage_high"] + 5)
    assert all(run["time_to_recover"] is not None for run in dependency[1:])
    for run in dependency[1:]:
        assert run["theory_outage_low"] <= run["outage_seen"] <= run["theory_outage_high"]
        assert "outage_seen" in run["interval"]
    fig = plot_amplification(runs_by)
    try:
        seen, restarts = fig.axes
        labels = [t.get_text() for t in seen.get_legend().get_texts()]
        assert "liveness on Redis" in labels and "liveness on the process" in labels
        line = next(c for c in seen.containers if c.get_label() == "liveness on Redis").lines[0]
        assert list(line.get_ydata()) == [run["outage_seen"] for run in dependency]
        assert list(restarts.get_lines()[1].get_ydata()) == [0, 3, 6]  # per run
        assert "3 runs per point" in fig.get_suptitle()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="unknown liveness"):
        outage_by_blip([5], ("kubelet",))
    with pytest.raises(ValueError, match="outage"):
        outage_by_blip([5], outage=3)


def test_the_detection_sweep_and_its_figure() -> None:
    runs_list = detection_by_probe([(2.0, 3), (5.0, 2), (10.0, 1)], replications=5)
    assert [run["probe_budget"] for run in runs_list] == [6, 10, 10]
    for run in runs_list:
        assert run["detection_low"] <= run["detection_time"] <= run["detection_high"]
        assert run["theory_detection"] == theory_detection_time(
            run["liveness_period"], run["liveness_threshold"]
        )
        assert run["restarts"] == 5 and "detection_time" in run["interval"]
    fig = plot_detection(runs_list)
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(label.startswith("theory") for label in labels)
        texts = [t.get_text() for t in ax.texts]
        assert texts == ["2 s × 3", "5 s × 2", "10 s × 1"]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="liveness_period"):
        detection_by_probe(liveness_period=3)
    with pytest.raises(ValueError, match="hang"):
        detection_by_probe(hang_at=None)


def test_the_designs_table() -> None:
    runs_by = compare_designs(replications=3)
    assert list(runs_by) == list(DESIGNS)
    text = health_table(runs_by)
    rows = text.splitlines()
    assert rows[0].split()[:2] == ["design", "failed"] and len(rows) == 1 + len(DESIGNS)
    wrong = runs_by["healthz Redis, readyz Redis"]
    assert f"{wrong['restarts'] / 3:.1f}" in rows[2] and f"{wrong['outage_seen']:.1f} s" in rows[2]
    right = runs_by["healthz process, readyz Redis"]
    assert right["restarts"] == 0 and wrong["outage_seen"] > right["outage_seen"] + 5
    with pytest.raises(ValueError, match="liveness"):
        compare_designs(liveness="process")


def test_the_static_twin_of_the_explorer() -> None:
    result = run_health(liveness="dependency", hang_at=70, outage=45, duration=150)
    fig = plot_fleet(result)
    try:
        fleet, outcomes = fig.axes
        assert f"{result.restarts} restarts" in fleet.get_title()
        heights = [bar.get_height() for bar in outcomes.patches]
        assert heights[0] == pytest.approx(100 * result.succeeded / result.requests)
        assert sum(heights) == pytest.approx(100)
    finally:
        plt.close(fig)


def test_explorer_shows_the_fleet_and_redraws() -> None:
    explorer = HealthExplorer()
    assert "liveness on the process" in explorer.summary.value
    assert "0 restarts" in explorer.summary.value
    first = bytes(explorer.image.value)
    explorer.controls["liveness"].value = "dependency"
    result = explorer.redraw()
    assert result.restarts == 3 and "3 restarts" in explorer.summary.value
    assert bytes(explorer.image.value) != first
    assert explorer.view.bars[2].get_height() == pytest.approx(
        100 * result.failed_no_instance / result.requests
    )
    assert list(explorer.view.restarts.get_xdata()) == list(result.restart_times)
    explorer.controls["hang_at"].value = 40.0
    result = explorer.redraw()
    assert result.scenario.hang_at == 40 and "instance 0 hangs at 40 s" in explorer.summary.value
    explorer.controls["hang_at"].value = 0.0  # the explorer's "no hang"
    assert explorer.redraw().scenario.hang_at is None
    assert health_explorer(liveness="dependency").children
    assert json.dumps(result.to_dict(), allow_nan=False)
