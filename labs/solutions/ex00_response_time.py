"""Reference solution for lesson 00's exercise."""

import math


def mean_response(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean time in system: 1 / (μ − λ), or infinity when the server is overloaded."""
    if arrival_rate >= service_rate:
        return math.inf
    return 1 / (service_rate - arrival_rate)
