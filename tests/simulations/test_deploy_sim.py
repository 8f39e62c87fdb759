"""Rolling deploys: Kubernetes' rounding, the surge and availability bounds, sessions' fate."""

from __future__ import annotations

import pytest

from simulations.scenarios.deploy.model import (
    DeployScenario,
    resolve_amount,
    run_deploy,
    surge_and_unavailable,
)


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (4, "25%", "25%", (1, 1)),
        (10, "25%", "25%", (3, 2)),  # 2.5 → surge 3 (up), unavailable 2 (down)
        (3, "25%", "25%", (1, 0)),  # 0.75 → 1 and 0
        (1, "25%", "25%", (1, 0)),
        (8, 2, 0, (2, 0)),
        (8, "0", "1", (0, 1)),
        (5, "100%", "0%", (5, 0)),
        (4, 0, "50%", (0, 2)),
    ],
)
def test_surge_rounds_up_and_unavailable_rounds_down(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    assert surge_and_unavailable(replicas, surge, unavailable) == expected


def test_impossible_bounds_are_refused() -> None:
    assert surge_and_unavailable(4, "10%", "10%") == (1, 0)  # 0.4: up to 1, down to 0: fine
    for surge, unavailable in [(0, 0), ("0%", "0%"), (0, "10%")]:  # nothing may move: refused
        with pytest.raises(ValueError):
            surge_and_unavailable(4, surge, unavailable)
    for bad in ("x", "-1", "25 %", "1.5", -2):
        with pytest.raises(ValueError):
            resolve_amount(bad, 4, round_up=True)


CASES = [
    (4, "25%", "25%"),
    (4, 0, 1),
    (4, 1, 0),
    (10, "25%", "25%"),
    (6, "50%", 0),
    (5, 2, 2),
    (3, "100%", "100%"),
]


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), CASES, ids=str)
def test_a_rolling_deploy_never_exceeds_the_surge_nor_drops_below_availability(
    replicas: int, surge: int | str, unavailable: int | str
) -> None:
    result = run_deploy(
        replicas=replicas, max_surge=surge, max_unavailable=unavailable, users=100, store="shared"
    )
    most, fewest = replicas + result.surge, replicas - result.unavailable
    assert result.history, "the controller records every step"
    for snap in result.history:
        assert snap.total <= most, snap
        assert snap.ready >= fewest, snap
    t = result.timeline  # sampled every second, independently of the controller
    for old, new, booting in zip(t.old_ready, t.new_ready, t.booting, strict=True):
        assert old + new + booting <= most and old + new >= fewest
    last = result.history[-1]
    assert (last.old_ready, last.new_ready, last.new_booting) == (0, replicas, 0)
    assert result.max_total <= most and result.min_ready >= fewest


def test_deploy_time_is_set_by_how_many_boot_at_once() -> None:
    times = {
        bounds: run_deploy(
            max_surge=bounds[0], max_unavailable=bounds[1], store="shared"
        ).deploy_time
        for bounds in [("25%", "25%"), (0, 1), ("100%", 0), (1, 0)]
    }
    # 4 replicas, 10 s boot: 2 at a time → 2 boots; 1 at a time → 4; all at once → 1.
    assert times == {("25%", "25%"): 20.0, (0, 1): 40.0, ("100%", 0): 10.0, (1, 0): 40.0}


def test_the_default_deploy_uses_its_surge_and_its_unavailability() -> None:
    result = run_deploy()  # 4 replicas, 25%: one above, one below
    assert (result.max_total, result.min_ready) == (5, 3)


def test_memory_sessions_are_all_lost_some_twice_shared_lose_none() -> None:
    memory = run_deploy(store="memory", policy="sticky")
    shared = run_deploy(store="shared", policy="sticky")
    assert memory.sessions_at_deploy == 200
    assert memory.users_forced_to_login == 200  # every old instance is replaced
    # Re-pinned to another *old* instance, some users are logged out a second time.
    assert memory.users_logged_out_twice > 0
    assert memory.sessions_lost >= memory.sessions_at_deploy
    assert shared.sessions_lost == shared.session_misses == shared.users_forced_to_login == 0
    all_at_once = run_deploy(store="memory", policy="sticky", max_surge="100%", max_unavailable=0)
    assert all_at_once.users_logged_out_twice == 0  # nobody is re-pinned to an old one


def test_draining_finishes_requests_stopping_fails_them() -> None:
    drained = run_deploy(store="shared", policy="least_connections")
    stopped = run_deploy(store="shared", policy="least_connections", drain=False)
    assert drained.failed_requests == 0
    assert stopped.failed_requests > 0
    assert stopped.failed_requests == stopped.failed_in_flight + stopped.failed_queued


@pytest.mark.parametrize("config", [{}, {"drain": False}, {"policy": "round_robin"}], ids=str)
def test_accounting_and_lost_sessions_belong_to_retired_instances(config: dict) -> None:
    result = run_deploy(**config)
    assert result.requests == result.requests_completed + result.failed_requests
    assert result.users_forced_to_login <= result.session_misses
    retired = {(e.time, e.instance) for e in result.events if e.kind in ("drain", "stop")}
    assert len(retired) == 4
    assert all((time, instance) in retired for time, _, instance in result.lost_sessions)
    assert result.sessions_lost == len(result.lost_sessions)


def test_same_seed_same_result() -> None:
    assert run_deploy(seed=2).to_dict() == run_deploy(seed=2).to_dict()
    assert run_deploy(seed=2).to_dict() != run_deploy(seed=3).to_dict()


@pytest.mark.parametrize(
    "bad",
    [
        {"max_surge": 0, "max_unavailable": 0},
        {"max_surge": "x"},
        {"replicas": 0},
        {"deploy_at": 240},
        {"boot_time": -1},
        {"store": "disk"},
    ],
)
def test_bad_scenarios_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        DeployScenario(**bad)


def test_draining_instances_count_against_neither_bound_as_in_kubernetes() -> None:
    draining = run_deploy()  # 4 replicas, surge 1: old instances drain while new ones boot
    assert draining.max_total == 5 and draining.max_present > draining.max_total
    assert all(snap.present == snap.total + snap.draining for snap in draining.history)
    stopped = run_deploy(drain=False)  # nothing drains: every instance is counted
    assert stopped.max_present == stopped.max_total == 5


def test_replicated_deploys_keep_the_bounds_and_vary_the_users() -> None:
    from simulations.replications import replication_seeds
    from simulations.scenarios.deploy.model import replicate_deploy

    runs = replicate_deploy(4, users=80, seed=3)
    assert [r.scenario.seed for r in runs] == replication_seeds(3, 4)
    assert {(r.max_total, r.min_ready, r.deploy_time) for r in runs} == {(5, 3, 20.0)}
    assert len({r.users_logged_out_twice for r in runs}) > 1, "who is logged out twice is noise"
    with pytest.raises(ValueError, match="replications"):
        replicate_deploy(0)
