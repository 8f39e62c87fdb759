"""Reference solution for lesson 06's exercise: consistent hashing with bounded loads."""

import math


def choose_instance(ring_order, connections, epsilon):
    """The first instance clockwise from the user's point with room under ⌈(1+ε)·average⌉."""
    total = sum(connections) + 1  # the new request counts too
    capacity = math.ceil((1 + epsilon) * total / len(connections))
    for instance in ring_order:
        if connections[instance] + 1 <= capacity:
            return instance
    raise AssertionError("unreachable: some instance is always below the capacity")
