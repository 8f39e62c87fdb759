"""The load board: least connections and policy functions at O(1) per request, still right.

The old least connections read every instance's queue length at every request; the board keeps
them up to date as instances report changes. These tests check the board against the plain
answer after every change, that a run no longer reads every instance per request, and that the
board's least connections simulates the same system as the old scan (same mean within noise).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from simulations import Instance, LeastConnections, Metrics, Policy, Request, run_balance
from simulations.engine.policies import LoadBoard
from simulations.scenarios.balance.model import BalanceRun, BalanceScenario


def pool_of(size: int) -> list[Instance]:
    env = simpy.Environment()
    metrics = Metrics(env, 10**6)
    return [Instance(env, index, metrics) for index in range(size)]


@given(
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=80),
)
def test_the_board_agrees_with_reading_every_instance_after_every_change(size, changes) -> None:
    pool = pool_of(size)
    board = LoadBoard(pool)
    for index, grows in changes:
        instance = pool[index % size]
        if not grows and instance.queue_length == 0:
            continue
        instance.queue_length += 1 if grows else -1  # as submit and a completion do
        instance.queue_changed()
        lengths = [member.queue_length for member in pool]
        assert board.lengths == lengths and board.total == sum(lengths)
        assert board.fewest == min(lengths)
        assert sorted(board.at[board.fewest]) == [
            i for i, length in enumerate(lengths) if length == min(lengths)
        ]
        for length, group in enumerate(board.at):
            assert all(lengths[i] == length for i in group)


def test_a_function_that_changes_its_list_misleads_only_itself() -> None:
    pool = pool_of(3)
    board = LoadBoard(pool)
    board.lengths.sort(reverse=True)  # a policy function "tidying" what it was given
    board.lengths[0] = 99
    for instance in pool:
        instance.queue_length += 2
        instance.queue_changed()
    assert board.lengths == [2, 2, 2] and board.fewest == 2 and board.total == 6


def test_a_policy_function_sees_the_live_queue_lengths_at_every_request() -> None:
    seen: list[tuple[list[int], list[int]]] = []
    holder: dict[str, BalanceRun] = {}

    def shortest(queue_lengths: list[int], rng: random.Random) -> int:
        actual = [instance.queue_length for instance in holder["run"].pool]
        seen.append((list(queue_lengths), actual))
        return queue_lengths.index(min(queue_lengths))

    run = holder["run"] = BalanceRun(BalanceScenario(shortest, 5, 4.0, 1.0, 3_000, 2))
    run.run()
    assert len(seen) == 3_000
    assert all(given == actual for given, actual in seen)
    assert any(max(given) > 1 for given, _ in seen)  # the queues did build up


class CountedInstance(Instance):
    """An instance that counts how often anyone reads its queue length."""

    reads = 0

    @property  # type: ignore[override]
    def queue_length(self) -> int:
        CountedInstance.reads += 1
        return self._length

    @queue_length.setter
    def queue_length(self, value: int) -> None:
        self._length = value


def test_least_connections_reads_a_few_lengths_per_request_not_every_instance() -> None:
    # A thousand instances: the old scan read 1,000 lengths per request, the board about 2
    # (one per change: the request's arrival and its completion).
    env = simpy.Environment()
    metrics = Metrics(env, 2_000)
    pool = [CountedInstance(env, index, metrics) for index in range(1_000)]
    policy, rng = LeastConnections(), random.Random(1)
    CountedInstance.reads = 0
    for number in range(2_000):
        choice = policy.choose(pool, Request(number, 0, 0.0, 1.0), rng)
        choice.submit(Request(number, 0, 0.0, 1.0))
    assert CountedInstance.reads / 2_000 <= 3
    assert sorted(instance.queue_length for instance in pool) == [2] * 1_000  # still balanced


class ScanLeastConnections(Policy):
    """The old least connections: read every queue, pick among the shortest at random."""

    name = "least_connections (scan)"

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        fewest = min(instance.queue_length for instance in instances)
        tied = [instance for instance in instances if instance.queue_length == fewest]
        return tied[0] if len(tied) == 1 else tied[rng.randrange(len(tied))]


@pytest.mark.parametrize("instances, load", [(4, 0.9), (16, 0.8)])
def test_the_board_gives_the_same_mean_as_the_old_scan(instances: int, load: float) -> None:
    # Same seeds, so the same requests: only which of the tied instances is taken differs, and
    # the join-the-shortest-queue system does not care. Paired by seed, the means differ by
    # noise only: their average difference is within 3 standard errors of 0, and small.
    differences, means = [], []
    for seed in range(6):
        settings = dict(
            instances=instances, arrival_rate=load * instances, requests=20_000, seed=seed
        )
        board = run_balance("least_connections", **settings).mean_response
        scan = run_balance(ScanLeastConnections(), **settings).mean_response
        differences.append(board - scan)
        means.append(scan)
    average = sum(differences) / len(differences)
    spread = math.sqrt(sum((d - average) ** 2 for d in differences) / (len(differences) - 1))
    assert abs(average) <= 3 * spread / math.sqrt(len(differences)) + 1e-9
    assert abs(average) / (sum(means) / len(means)) < 0.03


def test_bounded_load_hashing_keeps_its_cap_with_the_board_total() -> None:
    from simulations.scenarios.sticky.affinity import BoundedLoadHash

    policy = BoundedLoadHash(epsilon=0.25)
    run_balance(policy, instances=8, arrival_rate=7.0, requests=20_000, seed=4)
    assert policy.worst_excess <= 0  # never above ⌈(1+ε)·average⌉ connections
    assert policy.spilled > 0  # and the cap did bite


def test_least_connections_at_four_thousand_instances_is_no_longer_refused() -> None:
    # It was: O(N) per request made 4,000 instances × 1M requests a 25-minute run.
    result = run_balance("least_connections", 4_000, 3_600.0, 1.0, 20_000, seed=1)
    assert result.requests_completed == 20_000
    # with 4,000 queues to join, nobody ever waits behind more than one request
    assert max(max(row) for row in result.queues.lengths) <= 2
