"""Affinity policies: send every request of a user to "their" instance, decided by a hash.

They plug into the engine's ``LoadBalancer`` like any ``Policy``:

* ``HashSticky`` (``sticky_hash``): hash(user) mod (number of live instances), like nginx
  ``ip_hash``. A change in the number of instances re-deals almost every user.
* ``ConsistentHash`` (``consistent_hash``): a hash ring with virtual nodes; a change in the
  instances moves only the users on the arcs that changed hands.
* ``BoundedLoadHash`` (``bounded_load``): consistent hashing with bounded loads, measured in
  current connections (``queue_length``): a request goes to its user's instance unless that
  one already has ⌈(1+ε)·average⌉ connections, then to the next instance clockwise with room.

The cookie-based ``sticky`` policy (pin to the instance that created the session) is the
engine's ``simulations.engine.policies.Sticky``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from simulations.engine.hashing import (
    HashRing,
    bounded_capacity,
    mod_n_index,
    stable_hash,
    user_key,
)
from simulations.engine.instance import Instance
from simulations.engine.policies import LoadBoard, Policy, watch
from simulations.engine.workload import Request


class HashSticky(Policy):
    """Sticky by hash: instance = hash(user) mod n over the live instances."""

    name = "sticky_hash"

    def __init__(self) -> None:
        self._hashes: dict[int, int] = {}

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        user = request.user
        hashed = self._hashes.get(user)
        if hashed is None:
            hashed = self._hashes[user] = stable_hash(user_key(user))
        return instances[hashed % len(instances)]


class ConsistentHash(Policy):
    """Sticky by consistent hashing: the user's owner on a ring, ``vnodes`` points per instance."""

    name = "consistent_hash"

    def __init__(self, vnodes: int = 100) -> None:
        self.ring = HashRing(vnodes=vnodes)
        self._by_index: dict[int, Instance] = {}
        self._seen: Sequence[Instance] | None = None
        self._starts: dict[int, int] = {}  # user -> position of their point on the current ring

    def _sync(self, instances: Sequence[Instance]) -> None:
        """Bring the ring in line with the live instances (only when that list changed)."""
        if instances is self._seen:
            return
        self._seen = instances
        live = {instance.index: instance for instance in instances}
        if live.keys() == self._by_index.keys():
            self._by_index = live
            return
        self.ring.remove(*[i for i in self._by_index if i not in live])
        self.ring.add(*[i for i in live if i not in self._by_index])
        self._by_index = live
        self._starts.clear()

    def _start(self, user: int) -> int:
        start = self._starts.get(user)
        if start is None:
            start = self._starts[user] = self.ring.start(user_key(user))
        return start

    def home(self, instances: Sequence[Instance], user: int) -> Instance:
        """The instance that owns ``user`` on the ring of ``instances``."""
        self._sync(instances)
        return self._by_index[self.ring.owner_at(self._start(user))]

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        return self.home(instances, request.user)

    def reset(self) -> None:
        self.ring = HashRing(vnodes=self.ring.vnodes)
        self._by_index = {}
        self._seen = None
        self._starts.clear()


class BoundedLoadHash(ConsistentHash):
    """Consistent hashing with bounded loads, the load being each instance's open connections.

    ``spilled`` counts requests that did not go to their user's own instance; ``worst_excess``
    is the largest (chosen instance's connections − capacity) seen, which must stay ≤ 0.
    """

    name = "bounded_load"

    def __init__(self, epsilon: float = 0.25, vnodes: int = 100) -> None:
        bounded_capacity(1, 1, epsilon)  # validates epsilon
        super().__init__(vnodes)
        self.epsilon = epsilon
        self.spilled = 0
        self.worst_excess = -(10**9)
        self.board: LoadBoard | None = None  # keeps the total load without reading every instance

    def choose(
        self, instances: Sequence[Instance], request: Request, rng: random.Random
    ) -> Instance:
        self._sync(instances)
        self.board = watch(self.board, instances)
        cap = bounded_capacity(self.board.total + 1, len(instances), self.epsilon)
        by_index = self._by_index
        spilled = False
        for index in self.ring.walk_from(self._start(request.user)):
            chosen = by_index[index]
            if chosen.queue_length + 1 <= cap:
                break
            spilled = True
        else:  # pragma: no cover - impossible: loads sum to total − 1 < n · cap
            raise AssertionError("no instance below the bounded-load capacity")
        self.spilled += spilled
        self.worst_excess = max(self.worst_excess, chosen.queue_length + 1 - cap)
        return chosen

    def reset(self) -> None:
        super().reset()
        self.spilled = 0
        self.worst_excess = -(10**9)
        self.board = None


def users_moved(policy: str, users: int, before: int, after: int, vnodes: int = 100) -> float:
    """The share of ``users`` whose instance changes when ``before`` instances become ``after``,
    under hash-based stickiness: ``sticky_hash`` (hash mod n re-deals all but about one user in
    max(before, after)) or ``consistent_hash`` (only the arcs that change hands move, about
    |after − before| / max(before, after) of the users). A moved user with a session in memory
    is logged out. Lesson 06, section 8."""
    if policy not in ("sticky_hash", "consistent_hash"):
        raise ValueError(f"policy must be sticky_hash or consistent_hash, got {policy!r}")
    for name, value in (("users", users), ("before", before), ("after", after)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    keys = [user_key(user) for user in range(users)]
    if policy == "sticky_hash":
        moved = sum(mod_n_index(key, before) != mod_n_index(key, after) for key in keys)
    else:
        old, new = HashRing(range(before), vnodes), HashRing(range(after), vnodes)
        moved = sum(old.node_for(key) != new.node_for(key) for key in keys)
    return moved / users
