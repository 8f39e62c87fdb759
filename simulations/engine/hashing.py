"""Hashing users to instances: hash mod n, a consistent-hash ring, and bounded loads.

* **Hash mod n** (nginx ``ip_hash``, HAProxy ``balance source``): instance = hash(user) mod n.
  Stable while n stays put; change n and almost every user moves to another instance.
* **Consistent hashing** (Karger et al., STOC 1997): instances and users are hashed onto the
  same circle; a user belongs to the first instance point clockwise from the user's point. Each
  instance owns ``vnodes`` points ("virtual nodes") so the arcs even out. Adding an instance
  moves only the users on the arcs it takes over: about 1/(n+1) of them.
* **Consistent hashing with bounded loads** (V. Mirrokni, M. Thorup, M. Zadimoghaddam,
  "Consistent Hashing with Bounded Loads", SODA 2018): no instance may hold more than
  ⌈(1+ε)·m/n⌉ of the m items (the new one included); if a user's instance is full, walk
  clockwise to the next instance with room. The hot spot is capped; most users still land on
  their own instance. HAProxy ships it as ``hash-balance-factor``.

Hashes are ``blake2b`` digests, never Python's ``hash()`` (randomised per process for strings):
the same key lands on the same instance in every run, on every machine.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence


def stable_hash(key: object) -> int:
    """A 64-bit hash of ``str(key)`` that is the same in every process and on every machine."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def user_key(user: int) -> str:
    """The string a user is hashed by (a stand-in for their IP address or user id)."""
    return f"user-{user}"


def mod_n_index(key: object, n: int) -> int:
    """Hash mod n: the index (0 … n−1) of the instance that ``key`` belongs to."""
    if n < 1:
        raise ValueError("need at least one instance")
    return stable_hash(key) % n


def bounded_capacity(total: int, bins: int, epsilon: float) -> int:
    """⌈(1+ε)·total/bins⌉: the most any bin may hold when ``total`` items are spread over ``bins``.

    Rounded to 9 decimals before the ceiling so that float noise (1.1·10 = 11.000000000000002)
    cannot add a whole slot.
    """
    if bins < 1:
        raise ValueError("need at least one bin")
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a number >= 0, got {epsilon!r}")
    return math.ceil(round((1.0 + epsilon) * total / bins, 9))


def bounded_load_choice(
    candidates: Sequence[Hashable], loads: Mapping[Hashable, int] | Sequence[int], epsilon: float
) -> Hashable:
    """The first of ``candidates`` (clockwise order) with room for one more item.

    ``loads[c]`` is what candidate c holds now; the capacity counts the new item too, so
    some candidate always has room (the loads add up to less than bins × capacity).
    """
    if not candidates:
        raise ValueError("no candidates to choose from")
    total = sum(loads[c] for c in candidates) + 1
    cap = bounded_capacity(total, len(candidates), epsilon)
    for candidate in candidates:
        if loads[candidate] + 1 <= cap:
            return candidate
    raise AssertionError("unreachable: some bin is always below the capacity")


class HashRing:
    """A consistent-hash ring: every node owns ``vnodes`` points on a circle of 2^64 positions."""

    def __init__(self, nodes: Iterable[Hashable] = (), vnodes: int = 100) -> None:
        if not (isinstance(vnodes, int) and not isinstance(vnodes, bool) and vnodes >= 1):
            raise ValueError(f"vnodes must be a positive integer, got {vnodes!r}")
        self.vnodes = vnodes
        self._points: list[int] = []
        self._owners: list[Hashable] = []
        self._nodes: list[Hashable] = []
        self.add(*nodes)

    @property
    def nodes(self) -> list[Hashable]:
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def add(self, *nodes: Hashable) -> None:
        """Put each node's virtual points on the circle (the other nodes' points do not move);
        several at once cost one sort, not one each."""
        present = set(self._nodes)
        for node in nodes:
            if node in present:
                raise ValueError(f"node {node!r} is already on the ring")
            present.add(node)
        self._nodes.extend(nodes)
        points = [(stable_hash(f"{node}#{v}"), node) for node in nodes for v in range(self.vnodes)]
        merged = sorted([*zip(self._points, self._owners, strict=True), *points], key=_point)
        self._points = [point for point, _ in merged]
        self._owners = [owner for _, owner in merged]

    def remove(self, *nodes: Hashable) -> None:
        """Take the nodes' points off the circle: their keys fall to the next nodes clockwise."""
        for node in nodes:
            self._nodes.remove(node)
        gone = set(nodes)
        kept = [(p, o) for p, o in zip(self._points, self._owners, strict=True) if o not in gone]
        self._points = [point for point, _ in kept]
        self._owners = [owner for _, owner in kept]

    def start(self, key: object) -> int:
        """Position in the sorted point list of the first point clockwise from ``key``."""
        if not self._points:
            raise LookupError("the ring has no nodes")
        return bisect_right(self._points, stable_hash(key)) % len(self._points)

    def owner_at(self, position: int) -> Hashable:
        """The node owning the point at ``position`` (as returned by ``start``)."""
        return self._owners[position]

    def node_for(self, key: object) -> Hashable:
        """The node that owns ``key``: the owner of the first point clockwise from it."""
        return self._owners[self.start(key)]

    def walk_from(self, start: int) -> Iterator[Hashable]:
        """Distinct nodes clockwise from point position ``start``: the key's owner, then backups."""
        seen: set[Hashable] = set()
        owners, count, wanted = self._owners, len(self._owners), len(self._nodes)
        for step in range(count):
            owner = owners[(start + step) % count]
            if owner not in seen:
                seen.add(owner)
                yield owner
                if len(seen) == wanted:
                    return

    def walk(self, key: object) -> Iterator[Hashable]:
        """Distinct nodes clockwise from ``key``: where it belongs first, then where it spills."""
        return self.walk_from(self.start(key))


class BoundedLoadRing:
    """Assign keys to nodes by consistent hashing with bounded loads (Mirrokni et al., 2018).

    ``loads`` counts the keys each node holds now. ``assign`` puts a key on the first node
    clockwise with fewer than ⌈(1+ε)·m/n⌉ keys (m counts the new key); ``release`` frees one.
    """

    def __init__(self, ring: HashRing, epsilon: float) -> None:
        bounded_capacity(1, 1, epsilon)  # validates epsilon
        self.ring = ring
        self.epsilon = epsilon
        self.loads: dict[Hashable, int] = dict.fromkeys(ring.nodes, 0)

    @property
    def total(self) -> int:
        return sum(self.loads.values())

    def capacity(self, total: int | None = None) -> int:
        """Capacity per node when ``total`` keys are held (default: now)."""
        return bounded_capacity(
            self.total if total is None else total, len(self.loads), self.epsilon
        )

    def assign(self, key: object) -> Hashable:
        """Place ``key``: its ring owner if that has room, else the next one clockwise with room."""
        cap = self.capacity(self.total + 1)
        for node in self.ring.walk(key):
            if self.loads[node] + 1 <= cap:
                self.loads[node] += 1
                return node
        raise AssertionError("unreachable: some node is always below the capacity")

    def release(self, node: Hashable) -> None:
        """One key held by ``node`` is gone (its session ended, its request completed)."""
        if self.loads[node] <= 0:
            raise ValueError(f"node {node!r} holds no keys")
        self.loads[node] -= 1


def _point(entry: tuple[int, Hashable]) -> int:
    return entry[0]
