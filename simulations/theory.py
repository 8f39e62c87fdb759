"""Queueing theory: the exact (or limiting) mean response times the simulations must reproduce.

Notation: requests arrive at total rate λ (``arrival_rate``), an instance serves at rate μ
(``service_rate``, mean service time 1/μ), there are n instances (``instances``), and the load
per instance is ρ = λ / (n μ). Response time = waiting + service. Every function returns
``math.inf`` when the system is unstable (ρ ≥ 1): queues then grow without bound.

Sources: L. Kleinrock, *Queueing Systems, Vol. 1: Theory* (Wiley, 1975); M. Harchol-Balter,
*Performance Modeling and Design of Computer Systems* (Cambridge, 2013); and the papers cited
in each function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _check(arrival_rate: float, service_rate: float, instances: int = 1) -> None:
    if not (arrival_rate > 0 and service_rate > 0):
        raise ValueError("arrival and service rates must be positive")
    if not (isinstance(instances, int) and instances >= 1):
        raise ValueError("the number of instances must be a positive integer")


def load(arrival_rate: float, service_rate: float, instances: int = 1) -> float:
    """Utilization ρ = λ / (n μ): the fraction of time each instance is busy, on average."""
    _check(arrival_rate, service_rate, instances)
    return arrival_rate / (instances * service_rate)


def mm1_mean_response(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean time in system, W = 1 / (μ − λ).

    Source: Kleinrock (1975), §3.2; Harchol-Balter (2013), ch. 13.
    """
    _check(arrival_rate, service_rate)
    if arrival_rate >= service_rate:
        return math.inf
    return 1.0 / (service_rate - arrival_rate)


def mg1_mean_response(arrival_rate: float, service_rate: float, scv: float = 1.0) -> float:
    """M/G/1 mean time in system (Pollaczek–Khinchine): W = 1/μ + λ E[S²] / (2 (1 − ρ)).

    ``scv`` is the squared coefficient of variation of the service time, so E[S²] =
    (1 + scv) / μ²: 1 for exponential (gives M/M/1), 0 for deterministic (M/D/1).
    Source: Kleinrock (1975), ch. 5 (the P–K mean-value formula; Pollaczek 1930, Khinchine
    1932); Harchol-Balter (2013), ch. 23.
    """
    _check(arrival_rate, service_rate)
    rho = arrival_rate / service_rate
    if rho >= 1:
        return math.inf
    second_moment = (1.0 + scv) / service_rate**2
    return 1.0 / service_rate + arrival_rate * second_moment / (2.0 * (1.0 - rho))


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: probability that an arrival must wait in M/M/c, with offered load a = λ/μ.

    Computed through the Erlang B recursion B(k) = a B(k−1) / (k + a B(k−1)), B(0) = 1, then
    C = c B / (c − a (1 − B)), which is numerically stable for any c.
    Source: A. K. Erlang (1917); Kleinrock (1975), §3.5 ("Erlang's C formula"); Harchol-Balter
    (2013), ch. 14.
    """
    if not (isinstance(servers, int) and servers >= 1) or offered_load <= 0:
        raise ValueError("need at least one server and a positive offered load")
    if offered_load >= servers:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return servers * blocking / (servers - offered_load * (1.0 - blocking))


def mmc_mean_response(arrival_rate: float, service_rate: float, servers: int) -> float:
    """M/M/c mean time in system (one shared queue, c servers): W = C(c, λ/μ) / (cμ − λ) + 1/μ.

    This is the best any balancer can do with c servers: no server idles while work waits.
    Source: Kleinrock (1975), §3.5; Harchol-Balter (2013), ch. 14.
    """
    _check(arrival_rate, service_rate, servers)
    if arrival_rate >= servers * service_rate:
        return math.inf
    waiting = erlang_c(servers, arrival_rate / service_rate) / (
        servers * service_rate - arrival_rate
    )
    return waiting + 1.0 / service_rate


def random_routing_mean_response(
    arrival_rate: float, service_rate: float, instances: int, scv: float = 1.0
) -> float:
    """Random routing: each instance is an M/G/1 queue with arrival rate λ / n.

    Sending each arrival of a Poisson process of rate λ to one of n places uniformly at random
    splits it into n independent Poisson processes of rate λ/n (Poisson thinning), so every
    instance is M/M/1 (exponential service) or M/G/1 (``scv`` ≠ 1) on its own.
    Source: splitting a Poisson process (Kleinrock 1975, ch. 2) with M/M/1 / M/G/1 above.
    """
    _check(arrival_rate, service_rate, instances)
    return mg1_mean_response(arrival_rate / instances, service_rate, scv)


def _gm1_sigma(laplace_interarrival, service_rate: float) -> float:
    """Root σ in (0, 1) of σ = A*(μ (1 − σ)) for a stable GI/M/1 queue, by bisection."""
    low, high = 0.0, 1.0
    for _ in range(200):  # f(0) > 0, f(1⁻) < 0 when stable: halve until the float stops moving
        middle = (low + high) / 2
        if laplace_interarrival(service_rate * (1.0 - middle)) > middle:
            low = middle
        else:
            high = middle
        if high - low < 1e-15:
            break
    return (low + high) / 2


def round_robin_mean_response(arrival_rate: float, service_rate: float, instances: int) -> float:
    """Round robin over n exponential servers: each instance is an E_n/M/1 queue.

    Every n-th arrival of a Poisson process of rate λ goes to a given instance, so its gaps are
    sums of n exponential(λ) gaps: Erlang(n, λ), mean n/λ, with Laplace–Stieltjes transform
    A*(s) = (λ / (λ + s))ⁿ. For the GI/M/1 queue, σ is the root in (0, 1) of
    σ = A*(μ (1 − σ)) = (λ / (λ + μ (1 − σ)))ⁿ, and the mean time in system is 1 / (μ (1 − σ)).
    With n = 1 this gives σ = ρ and M/M/1's 1 / (μ − λ).
    Source: Kleinrock (1975), ch. 6 (the queue G/M/m, with m = 1); D. Gross and
    C. M. Harris, *Fundamentals of Queueing Theory*, 3rd ed. (1998), §6.3.
    """
    _check(arrival_rate, service_rate, instances)
    if arrival_rate >= instances * service_rate:
        return math.inf

    def erlang_lst(s: float) -> float:
        return (arrival_rate / (arrival_rate + s)) ** instances

    sigma = _gm1_sigma(erlang_lst, service_rate)
    return 1.0 / (service_rate * (1.0 - sigma))


def power_of_d_mean_response(
    arrival_rate: float, service_rate: float, instances: int, d: int = 2
) -> float:
    """Power of d choices, mean-field limit (n → ∞): W = (1/μ) Σ_{i≥1} ρ^((dⁱ − d)/(d − 1)).

    Each arrival asks d random instances and joins the shortest of their queues. As n → ∞ the
    fraction of instances with at least i requests tends to ρ^((dⁱ − 1)/(d − 1)), and the mean
    time in system (μ = 1) to the sum above; it is scaled by 1/μ. With d = 1 it is M/M/1.
    A finite number of instances does slightly worse than this limit.
    Sources: M. Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", IEEE
    Trans. Parallel and Distributed Systems 12(10), 2001, §3 (the supermarket model); N. D.
    Vvedenskaya, R. L. Dobrushin and F. I. Karpelevich, "Queueing system with selection of the
    shortest of two queues: an asymptotic approach", Problems of Information Transmission
    32(1), 1996.
    """
    _check(arrival_rate, service_rate, instances)
    if not (isinstance(d, int) and d >= 1):
        raise ValueError("d must be a positive integer")
    rho = arrival_rate / (instances * service_rate)
    if rho >= 1:
        return math.inf
    if d == 1:
        return mm1_mean_response(arrival_rate / instances, service_rate)
    total, i = 0.0, 1
    while True:
        term = rho ** ((d**i - d) / (d - 1))
        total += term
        if term < 1e-17:
            return total / service_rate
        i += 1


def exponential_sojourn_percentile(mean_response: float, q: float) -> float:
    """The q-th percentile (0–100) of the time in system when it is exponentially distributed.

    In M/M/1 and in GI/M/1 (first come, first served), so also for random routing and round
    robin over exponential servers, the time in system is exponential with mean W, hence its
    q-th percentile is −W ln(1 − q/100): p99 = ln(100) W ≈ 4.6 W.
    Source: Kleinrock (1975), §3.2 (M/M/1) and ch. 6 (G/M/m: the waiting time given a wait is
    exponential with rate μ (1 − σ)); Harchol-Balter (2013), ch. 13.
    """
    if not 0 <= q < 100:
        raise ValueError("q must be a percentage in [0, 100)")
    return -mean_response * math.log1p(-q / 100)


def sticky_mean_response(
    arrival_rate: float, service_rate: float, users_per_instance: Sequence[int], scv: float = 1.0
) -> float:
    """Sticky routing of equally active users: instance k gets the share u_k / U of the traffic.

    Each user sends a Poisson share λ/U of the requests, so an instance with u_k pinned users
    is an M/G/1 queue at rate λ u_k / U; a request lands there with probability u_k / U, so
    W = Σ_k (u_k / U) · W_M/G/1(λ u_k / U). One overloaded instance makes W infinite.
    Source: Poisson splitting (Kleinrock 1975, ch. 2) with Pollaczek–Khinchine (ch. 5).
    """
    total_users = sum(users_per_instance)
    if total_users <= 0:
        raise ValueError("no users are pinned to any instance")
    mean = 0.0
    for users in users_per_instance:
        if users:
            share = users / total_users
            mean += share * mg1_mean_response(arrival_rate * share, service_rate, scv)
    return mean
