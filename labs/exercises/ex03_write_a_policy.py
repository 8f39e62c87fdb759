"""Lesson 03 exercise: write a load-balancing policy that beats random and rivals least connections.

A policy is a function ``my_policy(queue_lengths, rng) -> index``: ``queue_lengths[i]`` is how
many requests instance i has (waiting or being served) right now, ``rng`` is a seeded
``random.Random``, and the result is the index of the instance that gets the request. The check
runs it in the lesson's simulation (4 instances at 80% load) next to the built-in policies, all
on the very same requests (arrival and service times; a policy that picks at random flips its
own coins), and against queueing theory: one shared queue (M/M/c) is the floor no balancer
beats; random routing's M/M/1 mean is quoted for reference, not as a bound (a policy can do
worse, and one run of random strays from it by several percent).
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable

from labs.checking import CheckReport
from simulations import mm1_mean_response, mmc_mean_response, run_balance

INSTANCES, ARRIVAL_RATE, SERVICE_RATE, REQUESTS, SEED = 4, 3.2, 1.0, 20_000, 3
BETTER_THAN_RANDOM = 0.75  # at most 75% of random's mean (round robin manages about 68%)
CLOSE_TO_LEAST = 1.25  # within 25% of least connections (power of two choices: about +19%)
SAMPLES = ([0, 0, 0, 0], [3, 0, 5, 2], [7, 7, 1, 7], [2, 4, 6, 8])


def _valid_index(answer: object, size: int) -> bool:
    """A whole number (an int, or numpy's: ``np.argmin`` returns one) naming an instance."""
    if isinstance(answer, bool):
        return False
    try:
        index = operator.index(answer)
    except TypeError:
        return False
    return 0 <= index < size


def _mean(policy: object) -> float:
    result = run_balance(policy, INSTANCES, ARRIVAL_RATE, SERVICE_RATE, REQUESTS, SEED)
    return result.mean_response


def check_policy(
    my_policy: Callable[[list[int], random.Random], int], *, hint: bool = False
) -> CheckReport:
    """Run ``my_policy`` in the lesson's simulation; compare it with random, least connections
    and the theory."""
    report = CheckReport("Exercise 03 · Write a load-balancing policy", closer=hint)
    hint_index = "Return an int between 0 and len(queue_lengths) − 1: the chosen instance."
    for lengths in SAMPLES:
        before = len(report.lines)
        answer = report.attempt(
            f"my_policy({lengths}, rng)",
            lambda lengths=lengths: my_policy(list(lengths), random.Random(0)),
            hint_index,
        )
        if len(report.lines) == before:
            report.expect(
                _valid_index(answer, len(lengths)),
                f"my_policy({lengths}, rng) returns an instance index (yours: {answer!r})",
                hint_index,
            )
    if not report.passed:
        return report.show()

    hint_queues = (
        "Look at queue_lengths: an instance with fewer requests ahead will serve the new one "
        "sooner, and you do not even need to look at all of them.",
        "queue_lengths.index(min(queue_lengths)), or compare two random instances and take the "
        "shorter queue",
    )
    before = len(report.lines)
    yours = report.attempt("simulating your policy", lambda: _mean(my_policy), hint_index)
    if len(report.lines) > before:
        return report.show()
    random_mean, least_mean = _mean("random"), _mean("least_connections")
    report.expect(
        yours <= BETTER_THAN_RANDOM * random_mean,
        f"clearly better than random: mean {yours:.2f} s vs {random_mean:.2f} s for the "
        f"built-in random, on the same {REQUESTS:,} requests (same arrivals, same service "
        f"times; needs ≤ {BETTER_THAN_RANDOM * random_mean:.2f} s)",
        *hint_queues,
    )
    report.expect(
        yours <= CLOSE_TO_LEAST * least_mean,
        f"close to least connections: mean {yours:.2f} s vs {least_mean:.2f} s on those "
        f"requests (needs ≤ {CLOSE_TO_LEAST * least_mean:.2f} s)",
        *hint_queues,
    )
    shared_queue = mmc_mean_response(ARRIVAL_RATE, SERVICE_RATE, INSTANCES)
    random_theory = mm1_mean_response(ARRIVAL_RATE / INSTANCES, SERVICE_RATE)
    report.expect(
        yours > shared_queue,
        f"above the floor: {yours:.2f} s > {shared_queue:.2f} s, the mean of one shared queue "
        f"(M/M/{INSTANCES}), which no balancer beats in the long run. For reference, not a "
        f"bound: random routing averages {random_theory:.2f} s in the long run (M/M/1 at "
        f"λ/{INSTANCES}); one run strays from that by several percent, and two random policies "
        f"differ even on the same requests (each flips its own coins)",
        "No balancer that sees only queue lengths beats one shared queue on average, and this "
        "run is long: a mean under it points to a bug in the check; please report it.",
    )
    return report.show()
