"""The analytical formulas against textbook values and against each other."""

from __future__ import annotations

import math

import pytest

from simulations import theory


def erlang_c_by_definition(servers: int, a: float) -> float:
    """Erlang C straight from its textbook definition (sums of a^k / k!), for comparison."""
    tail = a**servers / math.factorial(servers) * servers / (servers - a)
    head = sum(a**k / math.factorial(k) for k in range(servers))
    return tail / (head + tail)


def test_mm1_at_half_load_is_twice_the_service_time() -> None:
    assert theory.mm1_mean_response(0.5, 1.0) == pytest.approx(2.0)
    assert theory.mm1_mean_response(1.5, 3.0) == pytest.approx(2 / 3)


def test_unstable_systems_have_infinite_response_time() -> None:
    assert theory.mm1_mean_response(1.0, 1.0) == math.inf
    assert theory.mmc_mean_response(4.0, 1.0, 4) == math.inf
    assert theory.round_robin_mean_response(5.0, 1.0, 4) == math.inf
    assert theory.power_of_d_mean_response(4.0, 1.0, 4, 2) == math.inf
    assert theory.mg1_mean_response(2.0, 1.0, 0.0) == math.inf


@pytest.mark.parametrize(
    ("servers", "offered", "expected"),
    [(2, 1.0, 1 / 3), (3, 2.0, 4 / 9), (5, 4.0, 0.5541), (10, 8.0, 0.4092)],
)
def test_erlang_c_textbook_values(servers: int, offered: float, expected: float) -> None:
    assert theory.erlang_c(servers, offered) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("servers", [1, 2, 4, 16, 64])
@pytest.mark.parametrize("load", [0.1, 0.5, 0.7, 0.95])
def test_erlang_c_recursion_matches_the_definition(servers: int, load: float) -> None:
    a = load * servers
    assert theory.erlang_c(servers, a) == pytest.approx(erlang_c_by_definition(servers, a))


def test_mmc_special_cases() -> None:
    # c = 1 is M/M/1; c = 2 has the closed form W = 1 / (μ (1 − ρ²)).
    assert theory.mmc_mean_response(0.7, 1.0, 1) == pytest.approx(theory.mm1_mean_response(0.7, 1))
    rho = 0.8
    assert theory.mmc_mean_response(2 * rho, 1.0, 2) == pytest.approx(1 / (1 - rho**2))


def test_mg1_gives_mm1_for_exponential_and_the_md1_textbook_value() -> None:
    assert theory.mg1_mean_response(0.7, 1.0, 1.0) == pytest.approx(
        theory.mm1_mean_response(0.7, 1)
    )
    # M/D/1 at ρ = 0.5: mean wait ρ / (2 μ (1 − ρ)) = 0.5, plus 1 s of service.
    assert theory.mg1_mean_response(0.5, 1.0, 0.0) == pytest.approx(1.5)


def test_random_routing_is_mm1_at_a_share_of_the_traffic() -> None:
    assert theory.random_routing_mean_response(2.8, 1.0, 4) == pytest.approx(1 / (1 - 0.7))


def test_round_robin_with_one_instance_is_mm1() -> None:
    # E_1/M/1 is M/M/1: the fixed point is σ = ρ.
    for lam in (0.2, 0.5, 0.9):
        assert theory.round_robin_mean_response(lam, 1.0, 1) == pytest.approx(1 / (1 - lam))


@pytest.mark.parametrize("instances", [2, 4, 10])
def test_round_robin_sigma_solves_the_gm1_fixed_point(instances: int) -> None:
    lam, mu = 0.7 * instances, 1.0
    sigma = 1 - 1 / (mu * theory.round_robin_mean_response(lam, mu, instances))
    assert 0 < sigma < 1
    assert sigma == pytest.approx((lam / (lam + mu * (1 - sigma))) ** instances, abs=1e-12)


def test_round_robin_tends_to_deterministic_arrivals() -> None:
    # Erlang-n gaps of mean 1/λ' become constant as n grows: E_n/M/1 → D/M/1, whose σ solves
    # σ = exp(−μ (1 − σ) / λ'). Solved here by plain fixed-point iteration from 0.
    rho, sigma = 0.7, 0.0
    for _ in range(10_000):
        sigma = math.exp(-(1 - sigma) / rho)
    dm1 = 1 / (1 - sigma)
    assert theory.round_robin_mean_response(rho * 400, 1.0, 400) == pytest.approx(dm1, rel=2e-3)


def test_policies_are_ordered_as_theory_says() -> None:
    # Shared queue (M/M/c) < round robin (E_n/M/1) < random (M/M/1 at λ/n), at any load.
    for rho in (0.3, 0.7, 0.9):
        n, lam = 4, rho * 4
        mmc = theory.mmc_mean_response(lam, 1.0, n)
        rr = theory.round_robin_mean_response(lam, 1.0, n)
        rnd = theory.random_routing_mean_response(lam, 1.0, n)
        assert mmc < rr < rnd


@pytest.mark.parametrize(
    ("load", "d", "expected"),
    # Mitzenmacher (2001), predictions of the supermarket model for μ = 1.
    [(0.5, 2, 1.2657), (0.9, 2, 2.6141), (0.9, 3, 2.0279), (0.99, 2, 5.4320)],
)
def test_power_of_d_mean_field_values(load: float, d: int, expected: float) -> None:
    assert theory.power_of_d_mean_response(load * 100, 1.0, 100, d) == pytest.approx(
        expected, abs=1e-4
    )


def test_power_of_d_scales_with_the_service_rate_and_d1_is_random() -> None:
    at_mu1 = theory.power_of_d_mean_response(70.0, 1.0, 100, 2)
    assert theory.power_of_d_mean_response(140.0, 2.0, 100, 2) == pytest.approx(at_mu1 / 2)
    assert theory.power_of_d_mean_response(70.0, 1.0, 100, 1) == pytest.approx(1 / (1 - 0.7))


def test_sticky_with_even_pins_is_random_routing_and_one_pin_is_mm1() -> None:
    even = theory.sticky_mean_response(2.8, 1.0, [25, 25, 25, 25])
    assert even == pytest.approx(theory.random_routing_mean_response(2.8, 1.0, 4))
    assert theory.sticky_mean_response(0.5, 1.0, [0, 7, 0]) == pytest.approx(2.0)
    # Uneven pins: shares 1/3, 1/3, 1/6, 1/6 of λ = 2.
    uneven = theory.sticky_mean_response(2.0, 1.0, [2, 2, 1, 1])
    assert uneven == pytest.approx(2 / 3 * 3 + 1 / 3 * 1.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.mm1_mean_response(-1.0, 1.0),
        lambda: theory.mm1_mean_response(1.0, 0.0),
        lambda: theory.mmc_mean_response(1.0, 1.0, 0),
        lambda: theory.erlang_c(0, 1.0),
        lambda: theory.power_of_d_mean_response(1.0, 1.0, 4, 0),
        lambda: theory.sticky_mean_response(1.0, 1.0, [0, 0]),
    ],
)
def test_nonsense_arguments_are_rejected(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_exponential_percentiles() -> None:
    # An exponential with mean W: median W ln 2, p99 W ln 100; M/M/1 at ρ = 0.8 has W = 5 s.
    assert theory.exponential_sojourn_percentile(5.0, 50) == pytest.approx(5 * math.log(2))
    assert theory.exponential_sojourn_percentile(5.0, 99) == pytest.approx(5 * math.log(100))
    assert theory.exponential_sojourn_percentile(5.0, 0) == 0
    with pytest.raises(ValueError):
        theory.exponential_sojourn_percentile(5.0, 100)
