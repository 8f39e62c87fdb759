"""Hash mod n, the consistent-hash ring and bounded loads (simulations.engine.hashing)."""

from __future__ import annotations

import random

import pytest

from simulations.engine.hashing import (
    BoundedLoadRing,
    HashRing,
    bounded_capacity,
    bounded_load_choice,
    mod_n_index,
    stable_hash,
    user_key,
)

KEYS = [user_key(user) for user in range(10_000)]


def owners(ring: HashRing) -> dict[str, object]:
    return {key: ring.node_for(key) for key in KEYS}


def test_stable_hash_is_fixed_across_processes_and_machines() -> None:
    # Pinned values: Python's hash() of a str changes per process; blake2b never does.
    assert stable_hash("user-0") == 3162500440625161073
    assert stable_hash(7) == stable_hash("7") == 16667848380713045890
    assert 0 <= stable_hash("anything") < 2**64


def test_mod_n_index_is_in_range_and_rejects_no_instances() -> None:
    assert {mod_n_index(key, 3) for key in KEYS[:200]} == {0, 1, 2}
    with pytest.raises(ValueError):
        mod_n_index("x", 0)


def test_ring_spreads_keys_roughly_evenly_with_virtual_nodes() -> None:
    ring = HashRing(range(4), vnodes=100)
    counts = {node: 0 for node in range(4)}
    for node in owners(ring).values():
        counts[node] += 1
    # With v = 100 points per node an arc share has a relative spread of about 1/√v = 10%,
    # so each of 4 nodes owns 25% ± a few points; [17%, 33%] is over 3 standard deviations wide.
    assert all(0.17 < count / len(KEYS) < 0.33 for count in counts.values()), counts


def test_one_virtual_node_each_is_much_less_even() -> None:
    def spread(vnodes: int) -> float:
        ring = HashRing(range(8), vnodes=vnodes)
        counts = [0] * 8
        for node in owners(ring).values():
            counts[node] += 1
        return max(counts) / min(max(min(counts), 1), len(KEYS))

    assert spread(1) > spread(200)


def test_adding_a_node_moves_only_about_one_in_n_plus_one_keys_all_to_the_new_node() -> None:
    ring = HashRing(range(4), vnodes=100)
    before = owners(ring)
    ring.add(4)
    after = owners(ring)
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(after[key] == 4 for key in moved)  # nobody moves between old nodes
    # Expected 1/5 = 20%; the new node's arc share has a ~10% relative spread (see above).
    assert 0.12 < len(moved) / len(KEYS) < 0.28


def test_hash_mod_n_moves_almost_every_key_when_n_changes() -> None:
    moved = sum(mod_n_index(key, 4) != mod_n_index(key, 5) for key in KEYS)
    # A key stays only if h mod 4 == h mod 5, i.e. for 4 of every 20 residues mod 20: 20%.
    assert 0.75 < moved / len(KEYS) < 0.85


def test_removing_a_node_moves_only_its_own_keys() -> None:
    ring = HashRing(range(5), vnodes=50)
    before = owners(ring)
    ring.remove(2)
    after = owners(ring)
    for key in KEYS:
        if before[key] != 2:
            assert after[key] == before[key]
        else:
            assert after[key] != 2
    assert ring.nodes == [0, 1, 3, 4]


def test_walk_visits_every_node_once_starting_with_the_owner() -> None:
    ring = HashRing("abcde", vnodes=20)
    for key in KEYS[:300]:
        order = list(ring.walk(key))
        assert order[0] == ring.node_for(key)
        assert sorted(order) == list("abcde")


def test_ring_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        HashRing(vnodes=0)
    ring = HashRing([1])
    with pytest.raises(ValueError):
        ring.add(1)
    with pytest.raises(LookupError):
        HashRing().node_for("x")


@pytest.mark.parametrize(
    ("total", "bins", "epsilon", "expected"),
    [(8, 4, 0.25, 3), (10, 1, 0.1, 11), (12, 4, 0.0, 3), (13, 4, 0.0, 4), (1, 4, 0.25, 1)],
)
def test_bounded_capacity(total: int, bins: int, epsilon: float, expected: int) -> None:
    assert bounded_capacity(total, bins, epsilon) == expected


def test_bounded_capacity_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        bounded_capacity(3, 0, 0.1)
    with pytest.raises(ValueError):
        bounded_capacity(3, 2, -0.1)


def test_bounded_load_choice_takes_the_owner_if_it_has_room_else_the_next_clockwise() -> None:
    # total = 6 + 1 = 7 items over 3 bins, ε = 0: capacity ⌈7/3⌉ = 3.
    assert bounded_load_choice([0, 1, 2], [2, 2, 2], 0.0) == 0
    assert bounded_load_choice([0, 1, 2], [3, 2, 1], 0.0) == 1
    assert bounded_load_choice([2, 0, 1], [3, 3, 0], 0.0) == 2  # order is clockwise, not index
    assert bounded_load_choice(["a", "b"], {"a": 9, "b": 0}, 0.5) == "b"
    with pytest.raises(ValueError):
        bounded_load_choice([], [], 0.1)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.25, 1.0])
def test_bounded_loads_invariant_holds_at_every_assignment(epsilon: float) -> None:
    """Mirrokni et al.'s guarantee, checked at every step of a random insert/release sequence."""
    ring = HashRing(range(6), vnodes=40)
    bounded = BoundedLoadRing(ring, epsilon)
    rng = random.Random(7)
    held: list[object] = []
    for step in range(3000):
        if held and (step >= 1500 and rng.random() < 0.5):
            bounded.release(held.pop(rng.randrange(len(held))))
            continue
        key = user_key(rng.randrange(50))  # few keys, many repeats: heavy hitters collide
        node = bounded.assign(key)
        held.append(node)
        cap = bounded.capacity()
        assert bounded.loads[node] <= cap  # the chosen node never exceeds ⌈(1+ε)·m/n⌉
        for skipped in ring.walk(key):  # every node passed over before it was full
            if skipped == node:
                break
            assert bounded.loads[skipped] >= cap
        if step < 1500:  # insert-only phase: the bound holds for every node, not just the chosen
            assert max(bounded.loads.values()) <= cap
        assert bounded.total == len(held)


def test_with_a_huge_epsilon_bounded_loads_is_plain_consistent_hashing() -> None:
    ring = HashRing(range(4), vnodes=50)
    bounded = BoundedLoadRing(ring, epsilon=1000.0)
    for key in KEYS[:2000]:
        assert bounded.assign(key) == ring.node_for(key)


def test_bounded_loads_evens_out_heavy_hitters_that_hashing_alone_piles_up() -> None:
    ring = HashRing(range(4), vnodes=50)
    bounded = BoundedLoadRing(ring, epsilon=0.25)
    plain = {node: 0 for node in range(4)}
    for _ in range(200):  # eight "users" sending 200 requests each, none ever leaving
        for user in range(8):
            bounded.assign(user_key(user))
            plain[ring.node_for(user_key(user))] += 1
    mean = 1600 / 4
    assert max(bounded.loads.values()) <= bounded_capacity(1600, 4, 0.25) == 500
    # Plain hashing: 8 keys on 4 nodes, owners fixed by the hash (here 4/2/1/1 keys).
    assert max(plain.values()) / mean >= 1.5


def test_release_of_an_empty_node_is_an_error() -> None:
    bounded = BoundedLoadRing(HashRing([0, 1]), 0.1)
    with pytest.raises(ValueError):
        bounded.release(0)
    with pytest.raises(ValueError):
        BoundedLoadRing(HashRing([0]), -1.0)
