"""Lesson 11's experiments on real clusters: the restart storm and the three ways to stop.

Each verdict line is a band the lesson promises; a line that says NO is the failure. The
probe settings are the manifest's, scaled (tests/deploy checks the manifest says the same).
"""

from __future__ import annotations

import pytest

from labs.health_experiments import (
    DESIGNS,
    MANIFEST_PROBES,
    PRESTOP_SECONDS,
    SHUTDOWN_STYLES,
    TIME_SCALE,
    graceful_shutdown,
    lab_probes,
    manifest_beside_lab,
    restart_storm,
    scale_both_ways,
    scale_table,
    start_before_redis,
)

READINESS = MANIFEST_PROBES.readiness


@pytest.mark.parametrize("design", list(DESIGNS))
def test_a_redis_outage_restarts_the_fleet_only_when_liveness_pings_redis(design: str) -> None:
    run = restart_storm(design)
    assert "NO" not in run.verdict(), run.counts()
    if design == "liveness pings Redis":
        assert run.total_restarts >= run.instances
        assert run.unavailable > run.outage + 0.5 * run.boot
    else:
        assert run.total_restarts == 0
        assert run.unavailable < run.outage + 0.6
    assert 0 < run.failed < run.sent


def test_a_pause_before_stopping_loses_nothing_and_the_other_two_lose_requests() -> None:
    run = graceful_shutdown()
    assert "NO" not in run.verdict(), run.counts()
    assert run.failed[SHUTDOWN_STYLES[0]] == 0
    assert run.failed[SHUTDOWN_STYLES[1]] > 0 and run.failed[SHUTDOWN_STYLES[2]] > 0


def test_the_lab_probes_are_the_manifests_at_a_faster_clock() -> None:
    fast, slow = lab_probes(), MANIFEST_PROBES
    for kind in ("liveness", "readiness", "startup"):
        lab, manifest = getattr(fast, kind), getattr(slow, kind)
        assert lab.path == manifest.path
        assert lab.failureThreshold == manifest.failureThreshold
        assert lab.periodSeconds * TIME_SCALE == pytest.approx(manifest.periodSeconds)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"design": "no probes"}, "design must be one of"), ({"outage": 60}, "outage must be")],
)
def test_bad_arguments_are_refused_with_a_clear_message(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        restart_storm(**arguments)


def test_instances_started_before_redis_stay_up_unready_and_need_no_restart() -> None:
    run = start_before_redis(instances=2, missing=1.0)
    assert (run.alive_before, run.ready_before, run.balancer_status) == (2, 0, 502)
    assert run.restarts == 0 and run.ready_after is not None and run.logged_in
    assert "NO" not in run.verdict()


def test_one_command_serves_the_same_user_at_every_replica_count() -> None:
    steps = scale_both_ways((3, 7, 1))
    assert [step.running for step in steps] == [list("ABC"), list("ABCDEFG"), ["A"]]
    assert [step.served_by for step in steps] == [list("ABC"), list("ABCDEFG"), ["A"]]
    assert all(step.cart_kept and step.failed == 0 for step in steps)
    assert "NO" not in scale_table(steps)


def test_the_manifest_is_shown_beside_the_lab_line_for_line() -> None:
    text = manifest_beside_lab()
    for kind, probe in (("liveness", MANIFEST_PROBES.liveness), ("readiness", READINESS)):
        assert f"{kind}Probe: GET {probe.path}" in text
    assert "periodSeconds: 5 " in text and " 0.5\n" in text  # liveness, both clocks
    assert f"preStop sleep: {PRESTOP_SECONDS:g} s" in text
