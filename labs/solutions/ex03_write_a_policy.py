"""Reference solution for lesson 03's exercise: join the shortest queue, ties broken at random."""

import random


def my_policy(queue_lengths: list[int], rng: random.Random) -> int:
    """The index of an instance with the fewest requests (a random one among equals)."""
    fewest = min(queue_lengths)
    shortest = [index for index, length in enumerate(queue_lengths) if length == fewest]
    return rng.choice(shortest)
