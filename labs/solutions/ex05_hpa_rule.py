"""Reference solution for lesson 05's exercise: the HPA rule with its tolerance band."""

import math


def desired_replicas(current: int, metric: float, target: float, tolerance: float = 0.1) -> int:
    """``ceil(current × metric / target)``, or ``current`` while the ratio is within tolerance."""
    ratio = metric / target
    if abs(ratio - 1) <= tolerance:
        return current
    return math.ceil(current * ratio)
