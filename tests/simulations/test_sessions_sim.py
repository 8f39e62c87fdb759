"""Crashes and sessions: instance lifecycle, session stores, the ``sessions`` scenario's books."""

from __future__ import annotations

import random

import pytest
import simpy

from simulations.engine.lifecycle import (
    DOWN,
    DRAINING,
    GONE,
    READY,
    Cluster,
    LifecycleMetrics,
    MortalInstance,
)
from simulations.engine.policies import RoundRobin
from simulations.engine.sessions import (
    OUTCOME_FIELDS,
    MemoryStore,
    SessionBook,
    SharedStore,
    outcome_fields,
)
from simulations.engine.workload import Request
from simulations.scenarios.autoscale.model import run_autoscale
from simulations.scenarios.crashes.model import CrashScenario, draw_requests, run_crashes
from simulations.scenarios.deploy.model import run_deploy


def request(number: int, user: int = 0, service: float = 1.0, at: float = 0.0) -> Request:
    return Request(number, user, at, service)


# --- an instance's life --------------------------------------------------------------------


def test_a_crash_fails_the_request_in_service_and_hands_back_the_queue() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 4)
    instance = MortalInstance(env, 0, metrics)
    for number in range(3):
        instance.submit(request(number, service=2.0))
    env.run(until=3.0)  # request 0 done at 2.0, request 1 in service since 2.0
    queued = instance.crash()
    env.run(until=10.0)
    assert [r.number for r in queued] == [2]
    assert len(metrics.response_times) == 1
    assert metrics.failures == {"in_flight": 1}
    assert instance.state == DOWN and not instance.alive and instance.queue_length == 0
    assert not instance.process.is_alive  # the SimPy process was interrupted and ended
    assert instance.busy_time == pytest.approx(3.0)  # 2 s done + 1 s of the killed request


def test_a_crash_while_idle_kills_the_process_and_a_restart_serves_again() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 1)
    instance = MortalInstance(env, 0, metrics)
    env.run(until=1.0)
    assert instance.crash() == []
    env.run(until=2.0)
    assert not instance.process.is_alive and metrics.failed == 0
    instance.come_up()
    instance.submit(request(0, service=0.5, at=2.0))
    env.run(until=3.0)
    assert list(metrics.response_times) == [pytest.approx(0.5)]  # an array("d"): 8 B each
    assert instance.state == READY and instance.ready_since == 2.0


def test_draining_finishes_every_accepted_request_then_leaves() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 3)
    instance = MortalInstance(env, 0, metrics)
    for number in range(3):
        instance.submit(request(number, service=1.0))
    gone_at: list[float] = []
    env.run(until=0.5)
    instance.drain(lambda leaving: gone_at.append(env.now))
    assert instance.state == DRAINING and not instance.alive
    env.run(until=10.0)
    assert len(metrics.response_times) == 3 and metrics.failed == 0
    assert gone_at == [3.0] and instance.state == GONE


def test_an_idle_instance_leaves_at_once_when_drained() -> None:
    env = simpy.Environment()
    instance = MortalInstance(env, 0, LifecycleMetrics(env, 1))
    gone_at: list[float] = []
    env.run(until=1.0)
    instance.drain(lambda leaving: gone_at.append(env.now))
    env.run(until=2.0)
    assert gone_at == [1.0]


def test_the_cluster_reroutes_queued_requests_only_when_asked() -> None:
    for retry in (False, True):
        env = simpy.Environment()
        metrics = LifecycleMetrics(env, 4)
        cluster = Cluster.start(env, 2, RoundRobin(), random.Random(0), metrics, retry_queued=retry)
        for number in range(4):  # round robin: 0, 2 to instance 0; 1, 3 to instance 1
            cluster.balancer.route(request(number, service=1.0))
        env.run(until=0.5)  # both instances are serving their first request
        event = cluster.crash(cluster.instances[0])
        env.run(until=metrics.done)
        assert event.requests == 1 and metrics.failures["in_flight"] == 1
        if retry:
            assert cluster.rerouted == 1 and len(metrics.response_times) == 3
        else:
            assert metrics.failures["queued"] == 1 and len(metrics.response_times) == 2


def test_requests_fail_when_no_instance_is_alive() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 1)
    cluster = Cluster.start(env, 1, RoundRobin(), random.Random(0), metrics)
    cluster.crash(cluster.instances[0])
    cluster.balancer.route(request(0))
    assert metrics.failures == {"no_instance": 1}


# --- stores and the session book -----------------------------------------------------------


def test_memory_sessions_live_on_one_instance_and_die_with_it() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 1)
    a, b = MortalInstance(env, 0, metrics), MortalInstance(env, 1, metrics)
    book = SessionBook(MemoryStore())
    book.request_reaches(request(0, user=7), a)  # login on a
    book.request_reaches(request(1, user=7), a)  # hit
    book.request_reaches(request(2, user=7), b)  # miss: logs in again on b
    assert (book.logins, book.misses, book.forced) == (1, 1, {7})
    assert book.instance_lost(a) == 0  # the session on a was replaced by the one on b
    assert book.instance_lost(b) == 1
    assert book.lost == [(0.0, 7, 1)]


def test_shared_sessions_never_miss_and_are_never_lost() -> None:
    env = simpy.Environment()
    metrics = LifecycleMetrics(env, 1)
    a, b = MortalInstance(env, 0, metrics), MortalInstance(env, 1, metrics)
    book = SessionBook(SharedStore())
    for number, instance in enumerate([a, b, a, b]):
        book.request_reaches(request(number, user=3), instance)
    assert (book.logins, book.misses) == (1, 0)
    assert book.instance_lost(a) == 0 and book.instance_lost(b) == 0 and len(book.store) == 1


# --- the sessions scenario -----------------------------------------------------------------


def test_done_when_memory_sticky_loses_a_quarter_shared_loses_none() -> None:
    memory = run_crashes(store="memory", policy="sticky", instances=4, users=1000, crash_at=50)
    shared = run_crashes(store="shared", policy="sticky", instances=4, users=1000, crash_at=50)
    assert memory.sessions_at_crash == shared.sessions_at_crash == 1000  # all logged in by 10 s
    # Sticky pins the 1000 logins round robin, 250 per instance: the crash takes exactly those.
    assert memory.sessions_lost == 250
    assert 240 <= memory.users_forced_to_login <= 250  # P(silent for 50 s) = e^-5 per user
    assert memory.session_misses == memory.users_forced_to_login  # one re-login each
    assert shared.sessions_lost == shared.session_misses == shared.users_forced_to_login == 0
    # Same requests, same crash: the failures do not depend on where sessions live.
    assert memory.requests == shared.requests and memory.failed_requests == shared.failed_requests


@pytest.mark.parametrize(("instances", "crashes"), [(5, 2), (3, 1), (8, 3)])
def test_k_of_n_crashing_loses_k_over_n_of_the_sticky_sessions(
    instances: int, crashes: int
) -> None:
    result = run_crashes(instances=instances, crashes=crashes, crash_at=50, users=600)
    assert result.sessions_lost == 600 * crashes // instances
    assert result.fraction_lost == pytest.approx(crashes / instances, abs=1 / 600)


def test_round_robin_with_memory_sessions_misses_most_requests_even_without_a_crash() -> None:
    result = run_crashes(store="memory", policy="round_robin", instances=4)
    later = result.requests - result.logins
    # A request misses unless it lands where the previous one did: 3 times in 4. With ~9,500
    # later requests the rate's standard deviation is ~0.005: ±0.02 is four of them.
    assert result.session_misses / later == pytest.approx(0.75, abs=0.02)
    assert result.sessions_lost == 0 and result.failed_requests == 0


def test_utilization_before_the_crash_is_the_busy_share_of_each_instance() -> None:
    # 400 users, one request per 10 s each after their login, 4 instances at 40/s: a load of
    # 25% once everyone has logged in, a little more before (the logins come on top).
    result = run_crashes(store="shared", crash_at=50, users=400)
    busy = result.utilization_before_crash
    assert len(busy) == 4 and all(0.25 < share < 0.35 for share in busy), busy
    requests = draw_requests(result.scenario)

    def work(before: float) -> float:
        return sum(r.service_time for r in requests if r.arrived < before)

    # Busy time up to the crash: no more than the work that had arrived, and queues are short.
    assert work(40) <= sum(busy) * 50 <= work(50) + 1e-9
    heavier = run_crashes(store="shared", crash_at=50, users=400, service_rate=20.0)
    assert all(h > 1.8 * b for h, b in zip(heavier.utilization_before_crash, busy, strict=True))
    assert run_crashes(store="shared").utilization_before_crash == []  # no crash, no share


def test_memory_sticky_misses_only_after_the_crash() -> None:
    calm = run_crashes(store="memory", policy="sticky")
    assert calm.session_misses == 0 and calm.sessions_lost == 0


CONFIGS = [
    {"store": store, "policy": policy, "crash_at": crash_at, **extra}
    for store in ("memory", "shared")
    for policy in ("sticky", "round_robin", "least_connections")
    for crash_at, extra in [
        ((50,), {}),
        ((30, 60), {"crashes": 2, "restart_after": 5.0, "boot_time": 2.0}),
        ((40,), {"crashes": 4}),  # every instance dies: later requests find no instance
        ((40,), {"retry_queued": True, "service_rate": 27.0}),  # ~93% load: queues at the crash
    ]
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_every_request_completes_or_fails_and_every_lost_session_died_with_its_instance(
    config: dict,
) -> None:
    result = run_crashes(users=300, **config)
    assert result.requests == result.requests_completed + result.failed_requests
    assert result.failed_requests == (
        result.failed_in_flight + result.failed_queued + result.failed_no_instance
    )
    crashed = {(event.time, event.instance) for event in result.events if event.kind == "crash"}
    assert all((time, instance) in crashed for time, _, instance in result.lost_sessions)
    assert result.sessions_lost == sum(e.sessions_lost for e in result.events)
    if config["store"] == "shared":
        assert result.sessions_lost == result.session_misses == 0
    assert result.users_forced_to_login <= result.session_misses
    assert sum(result.requests_per_instance) == result.requests - result.failed_no_instance + (
        result.requests_rerouted
    )


def test_every_instance_down_fails_later_requests_until_a_restart() -> None:
    dead = run_crashes(crashes=4, crash_at=40, users=300)
    back = run_crashes(crashes=4, crash_at=40, users=300, restart_after=10)
    assert dead.failed_no_instance > 0.5 * dead.requests * 0.6  # ~60% of requests come later
    assert 0 < back.failed_no_instance < dead.failed_no_instance / 4
    assert dead.sessions_lost == back.sessions_lost == 300


def test_retrying_queued_requests_turns_queued_failures_into_reroutes() -> None:
    busy = {"crash_at": 40, "service_rate": 27.0, "users": 1000}  # ~93% load: long queues
    plain = run_crashes(**busy)
    retried = run_crashes(**busy, retry_queued=True)
    assert plain.failed_queued > 0 and plain.requests_rerouted == 0
    assert retried.failed_queued == 0 and retried.requests_rerouted == plain.failed_queued
    assert retried.failed_in_flight == plain.failed_in_flight


def test_a_restarted_instance_comes_back_empty_and_takes_work_after_booting() -> None:
    base = {"store": "memory", "policy": "round_robin", "crash_at": 30}
    gone = run_crashes(**base)
    quick = run_crashes(**base, restart_after=5)
    slow = run_crashes(**base, restart_after=5, boot_time=30)
    assert gone.requests_per_instance[0] < quick.requests_per_instance[0]
    assert slow.requests_per_instance[0] < quick.requests_per_instance[0]
    kinds = [event.kind for event in slow.events]
    assert kinds == ["crash", "restart", "ready"]
    assert [event.time for event in slow.events] == [30.0, 35.0, 65.0]


def test_logins_all_happen_in_the_login_window() -> None:
    scenario = CrashScenario(users=200, login_window=5.0)
    first: dict[int, float] = {}
    for r in draw_requests(scenario):
        first.setdefault(r.user, r.arrived)
    assert len(first) == 200 and max(first.values()) < 5.0


def test_same_seed_same_result_and_another_seed_differs() -> None:
    one = run_crashes(crash_at=50, seed=3, users=300).to_dict()
    assert one == run_crashes(crash_at=50, seed=3, users=300).to_dict()
    assert one != run_crashes(crash_at=50, seed=4, users=300).to_dict()


@pytest.mark.parametrize(
    "bad",
    [
        {"store": "disk"},
        {"policy": "nope"},
        {"instances": 0},
        {"users": 1.5},
        {"crash_at": 100},  # at the end: could change nothing
        {"crash_at": -1},
        {"crash_at": 50, "crashes": 5},  # more than the 4 instances
        {"crash_at": 50, "crashes": 0},
        {"restart_after": 5},  # nothing crashes
        {"crash_at": 50, "restart_after": 60},  # back after the end
        {"boot_time": 3},
        {"retry_queued": True},
        {"login_window": 200},
        {"seed": "x"},
    ],
)
def test_bad_scenarios_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        CrashScenario(**bad)


def test_every_lifecycle_result_reports_the_same_outcome_counts() -> None:
    for result in (
        run_crashes(users=50, duration=30, crash_at=10),
        run_autoscale(users=10, duration=300, spike_at=100, spike_duration=100),
        run_deploy(users=20, duration=120),
    ):
        counts = outcome_fields(result)
        assert tuple(counts) == OUTCOME_FIELDS
        assert counts.items() <= result.to_dict().items()
        assert counts["requests"] == counts["requests_completed"] + counts["failed_requests"]
