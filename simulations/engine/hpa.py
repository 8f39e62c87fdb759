"""Kubernetes' Horizontal Pod Autoscaler rule as pure functions of numbers (lessons 05 and 08).

    desired = ceil(current × metric / target), unless |metric / target − 1| ≤ tolerance

then a scale-down stabilization window (the highest recommendation of the last window) and a
clamp to ``[min_replicas, max_replicas]``. ``simulations.scenarios.autoscale.autoscaler`` drives
them as a controller; any scenario that scales may use them.
"""

from __future__ import annotations

import math

FLOAT_SLACK = 1e-9  # ceil(4 × 0.9/0.6) is 6, not 7 from 0.9/0.6 = 1.5000000000000002


def desired_replicas(current: int, metric: float, target: float, tolerance: float = 0.1) -> int:
    """The HPA rule: ``ceil(current × metric / target)``, or ``current`` within the tolerance."""
    if current < 0 or target <= 0 or metric < 0 or tolerance < 0:
        raise ValueError("current, metric and tolerance must be ≥ 0 and target > 0")
    ratio = metric / target
    if abs(ratio - 1.0) <= tolerance + FLOAT_SLACK:  # the band's edges belong to it
        return current
    return math.ceil(current * ratio - FLOAT_SLACK)


def stabilized(
    recommendations: list[tuple[float, int]], now: float, window: float, desired: int
) -> int:
    """Scale-down stabilization: the highest of ``desired`` and the recommendations made in the
    last ``window`` seconds (``(time, replicas)`` pairs). Scaling up passes straight through."""
    recent = [replicas for when, replicas in recommendations if when > now - window]
    return max([desired, *recent])


def clamp(replicas: int, min_replicas: int, max_replicas: int) -> int:
    """Keep the replica count within ``[min_replicas, max_replicas]``."""
    return max(min_replicas, min(max_replicas, replicas))
