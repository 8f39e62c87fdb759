"""Load-balancing policies: given the instances that are up, which one gets this request?

A policy sees the *live* instances (their ``queue_length`` and ``alive`` flag, right now), the
request (so it can route by user) and a seeded random generator, and returns one instance:

* ``round_robin``: take turns, ignoring how busy anyone is;
* ``random``: pick any instance at random, ignoring how busy anyone is;
* ``least_connections``: the instance with the fewest requests (join the shortest queue);
* ``power_of_two``: ask d random instances (d = 2 by default), take the least busy of those;
* ``sticky``: a user's first request goes round robin; later ones go back to that same instance.

You can also write a policy as a plain function ``my_policy(queue_lengths, rng) -> index``
(``queue_lengths[i]`` is instance i's number of requests, waiting or in service); the engine
wraps it in ``FunctionPolicy``. Policies that keep state (a turn counter, sticky pins) start
fresh at every run through ``reset()``.

Policies that look at every queue length (least connections, your function) do not read every
instance at every request: a ``LoadBoard`` keeps the lengths, grouped by length, up to date as
instances report changes, so a decision costs the same with 4 instances or 4,000.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Sequence

from simulations.engine.instance import Instance
from simulations.engine.workload import Request

POLICY_NAMES = ("round_robin", "random", "least_connections", "power_of_two", "sticky")

PolicyFunction = Callable[[list[int], random.Random], int]


class Policy:
    """Base class: ``choose`` one of the live ``instances`` for ``request``."""

    name = "policy"

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget any state from a previous run (turn counters, pins)."""


class RoundRobin(Policy):
    """Take turns: instance 0, 1, 2, …, n−1, 0, 1, … regardless of their queues."""

    name = "round_robin"

    def __init__(self) -> None:
        self.turn = 0

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        instance = instances[self.turn % len(instances)]
        self.turn += 1
        return instance

    def reset(self) -> None:
        self.turn = 0


class RandomChoice(Policy):
    """Pick uniformly at random, regardless of the queues."""

    name = "random"

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        return instances[int(rng.random() * len(instances))]  # uniform, cheaper than randrange


class LoadBoard:
    """The queue lengths of a list of instances, kept up to date, and grouped by length.

    Every instance on the board calls ``update`` when its queue length changes (its
    ``watcher``), so the board never reads them all again: ``at[k]`` lists the positions (in
    the list) of the instances with k requests, ``fewest`` is the smallest k with an instance,
    ``total`` the sum, and ``lengths`` a list a policy function may read (a private copy keeps
    the board right even if the function changes it). A change moves one position from one
    group to the next: O(1), whatever the number of instances.
    """

    def __init__(self, instances: Sequence[Instance]) -> None:
        self.source = instances  # the balancer's live list (a new list when the pool changes)
        self.position = {instance: i for i, instance in enumerate(instances)}
        self.known = [instance.queue_length for instance in instances]
        self.lengths = list(self.known)
        self.total = sum(self.known)
        self.at: list[list[int]] = [[] for _ in range(max(self.known, default=0) + 2)]
        self.slot = [0] * len(instances)  # where position i sits in its group
        for i, length in enumerate(self.known):
            self.slot[i] = len(self.at[length])
            self.at[length].append(i)
        self.fewest = min(self.known, default=0)
        for instance in instances:
            instance.watcher = self.update

    def update(self, instance: Instance) -> None:
        """``instance``'s queue length changed: move it to its new group."""
        i = self.position.get(instance)
        if i is None:  # no longer on this board (a newer board watches it)
            return
        known, at, slot = self.known, self.at, self.slot
        old, new = known[i], instance.queue_length
        known[i] = self.lengths[i] = new
        self.total += new - old
        group = at[old]
        last = group.pop()
        if last != i:  # fill i's place in its old group with that group's last member
            group[slot[i]] = last
            slot[last] = slot[i]
        while new >= len(at):
            at.append([])
        target = at[new]
        slot[i] = len(target)
        target.append(i)
        if new < self.fewest:
            self.fewest = new
        elif old == self.fewest and not group:
            fewest = old + 1
            while not at[fewest]:  # a queue grows by one request at a time: this loop is short
                fewest += 1
            self.fewest = fewest


def watch(board: LoadBoard | None, instances: Sequence[Instance]) -> LoadBoard:
    """``board`` if it watches ``instances``, else a new board for them."""
    if board is not None and board.source is instances:
        return board
    return LoadBoard(instances)


class LeastConnections(Policy):
    """Join the shortest queue: the instance with the fewest requests (ties broken at random,
    uniformly among the tied instances)."""

    name = "least_connections"

    def __init__(self) -> None:
        self.board: LoadBoard | None = None

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        board = self.board = watch(self.board, instances)
        tied = board.at[board.fewest]
        return instances[tied[0] if len(tied) == 1 else tied[int(rng.random() * len(tied))]]

    def reset(self) -> None:
        self.board = None


class PowerOfD(Policy):
    """Ask ``d`` distinct instances picked at random; send to the least busy of them."""

    name = "power_of_two"

    def __init__(self, d: int = 2) -> None:
        if not (isinstance(d, int) and d >= 1):
            raise ValueError(f"power_of_two needs at least 1 choice, got {d!r}")
        self.d = d

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        n = len(instances)
        if self.d >= n:
            asked: Sequence[Instance] = instances
        elif self.d == 2:  # the common case, without rng.sample's overhead
            first = int(rng.random() * n)
            second = int(rng.random() * (n - 1))
            second += second >= first  # skip over the first: two distinct instances
            asked = (instances[first], instances[second])
        else:
            asked = [instances[i] for i in rng.sample(range(n), self.d)]
        return min(asked, key=_queue_length)  # first of ties: the asked order is random


class Sticky(Policy):
    """Pin each user to the instance that served their first request (which ``first`` picks)."""

    name = "sticky"

    def __init__(self, first: Policy | None = None) -> None:
        self.first = first or RoundRobin()
        self.pins: dict[int, Instance] = {}

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        pinned = self.pins.get(request.user)
        if pinned is None or not pinned.alive:
            pinned = self.pins[request.user] = self.first.choose(instances, request, rng)
        return pinned

    def users_per_instance(self, instances: Sequence[Instance]) -> list[int]:
        """How many users are pinned to each of ``instances``."""
        counts = dict.fromkeys(instances, 0)
        for instance in self.pins.values():
            if instance in counts:
                counts[instance] += 1
        return [counts[instance] for instance in instances]

    def reset(self) -> None:
        self.pins.clear()
        self.first.reset()


class FunctionPolicy(Policy):
    """A policy written as a function ``f(queue_lengths, rng) -> index`` of the chosen instance.

    ``queue_lengths`` is the board's list, kept up to date rather than rebuilt at every request:
    read it, do not change it (a change misleads only your own function: each entry is written
    again when its instance's queue next changes).
    """

    def __init__(self, function: PolicyFunction, name: str | None = None) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "custom")
        self.board: LoadBoard | None = None

    def reset(self) -> None:
        self.board = None

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        self.board = watch(self.board, instances)
        answer = self.function(self.board.lengths, rng)
        try:  # an int, or numpy's (np.argmin returns one), but not True or False
            index = operator.index(answer)
        except TypeError:
            index = None
        if index is None or isinstance(answer, bool):
            raise TypeError(f"policy {self.name} returned {answer!r}, not an instance index")
        if not 0 <= index < len(instances):
            raise IndexError(f"policy {self.name} returned {index}, but there are {len(instances)}")
        return instances[index]


def _queue_length(instance: Instance) -> int:
    return instance.queue_length


def make_policy(policy: str | Policy | PolicyFunction, choices: int = 2) -> Policy:
    """A policy object from a name in ``POLICY_NAMES``, a ``Policy``, or a plain function."""
    if isinstance(policy, Policy):
        return policy
    if callable(policy):
        return FunctionPolicy(policy)
    named: dict[str, Callable[[], Policy]] = {
        "round_robin": RoundRobin,
        "random": RandomChoice,
        "least_connections": LeastConnections,
        "power_of_two": lambda: PowerOfD(choices),
        "sticky": Sticky,
    }
    if policy not in named:
        raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICY_NAMES)}")
    return named[policy]()
