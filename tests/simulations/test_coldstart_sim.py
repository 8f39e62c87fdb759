"""Lesson 12's serverless model: cold starts, the idle timeout, keep-warm and in-memory state.

Checked against what must hold whatever the random numbers: the mean rate of the bursty traffic,
e^(−rate × T) for one instance under Poisson traffic, the instance count when nothing is ever
reclaimed, and the bounds on what a cache in an instance can hit."""

from __future__ import annotations

import json
import math
import statistics

import matplotlib
import pytest

from simulations.cli import main
from simulations.scenarios.coldstart.model import (
    ColdStartScenario,
    cold_by_burstiness,
    cold_by_keep_warm,
    coldstart_table,
    draw_traffic,
    replicate_coldstart,
    run_coldstart,
    theory_cold_share,
)

matplotlib.use("Agg")

NEVER = 1e9  # an idle timeout no run reaches: nothing is reclaimed
SMALL = {"duration": 400.0}  # a short default run: bursts enough, a few thousand requests


# --- knobs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("rate", 0),
        ("rate", math.nan),
        ("burstiness", 0.5),
        ("burst_seconds", 0),
        ("service_ms", -1.0),
        ("cold_start_ms", -1.0),
        ("idle_timeout", 0),
        ("keep_warm", -1),
        ("keep_warm", 1.5),
        ("max_instances", 0),
        ("users", 0),
        ("duration", math.inf),
        ("seed", 0.5),
    ],
)
def test_a_bad_knob_is_refused_by_name(knob: str, value: object) -> None:
    with pytest.raises(ValueError, match=knob):
        ColdStartScenario(**{knob: value})


def test_rules_between_knobs_name_both_and_big_runs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"max_instances.*keep_warm"):
        ColdStartScenario(keep_warm=5, max_instances=3)
    with pytest.raises(ValueError, match="rate or duration"):
        ColdStartScenario(rate=1_000, duration=1e6)
    ColdStartScenario(keep_warm=3, max_instances=3, cold_start_ms=0)  # the edges are fine


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    first, again = run_coldstart(seed=4, **SMALL), run_coldstart(seed=4, **SMALL)
    assert first.to_dict() == again.to_dict()
    assert first.latencies == again.latencies and first.lifetimes == again.lifetimes
    assert run_coldstart(seed=5, **SMALL).to_dict() != first.to_dict()


# --- the traffic ---------------------------------------------------------------------------


@pytest.mark.parametrize("burstiness", [1, 5, 20])
def test_bursts_keep_the_mean_rate(burstiness: float) -> None:
    # Counting arrivals: the mean rate is `rate` whatever the burstiness. A source that is off
    # b × burst (not (b − 1) ×) between bursts would send 1/(b + 1) fewer: 17% at b = 5, 5% at
    # b = 20. (Only the traffic is drawn: fast enough for long runs.)
    settings = {"rate": 2.0, "burst_seconds": 1.0, "duration": 20_000.0}
    rates = [
        len(draw_traffic(ColdStartScenario(burstiness=burstiness, seed=seed, **settings)).arrivals)
        / settings["duration"]
        for seed in range(20)
    ]
    error = statistics.stdev(rates) / math.sqrt(len(rates))
    assert statistics.fmean(rates) == pytest.approx(2.0, abs=max(4 * error, 0.005))
    assert 4 * error < 2.0 / (burstiness + 1)  # tight enough to see that mistake


def test_burstier_traffic_has_a_higher_peak_at_the_same_mean() -> None:
    plain = run_coldstart(burstiness=1, **SMALL).timeline(40)
    bursty = run_coldstart(burstiness=10, **SMALL).timeline(40)
    assert max(bursty.rate) > 3 * max(plain.rate)


# --- theory ----------------------------------------------------------------------------------


@pytest.mark.parametrize("idle_timeout", [10.0, 20.0, 40.0])
def test_the_cold_share_of_one_instance_is_the_chance_of_a_long_gap(idle_timeout: float) -> None:
    # Poisson at 0.05/s, busy 0.11 s at most per request: one instance nearly always, and a
    # request is cold when its gap passed the timeout: e^(−rate × T) (0.61, 0.37, 0.14). The
    # first request of a run (always cold) and the rare overlap push the simulation up a little:
    # about 0.002 here, so the band is the 95% interval and that much above it.
    settings = {"rate": 0.05, "burstiness": 1, "cold_start_ms": 100, "service_ms": 10}
    result = replicate_coldstart(20, idle_timeout=idle_timeout, duration=40_000, **settings)
    low, high = result["interval"]["cold_share"]
    theory = theory_cold_share(ColdStartScenario(idle_timeout=idle_timeout, **settings))
    assert theory == pytest.approx(math.exp(-0.05 * idle_timeout))
    assert low - 0.003 <= theory <= high
    assert high - low < 0.02  # a band that could miss


def test_the_formula_stops_holding_when_requests_overlap() -> None:
    # 2 req/s with a 0.85 s cold start: a request often finds the one instance busy and starts
    # another, so the simulation's cold share is far above e^(−rate × T).
    result = replicate_coldstart(5, rate=2, burstiness=1, idle_timeout=1, duration=1_000)
    assert result["cold_share"] > result["theory_cold_share"] + 0.05
    assert math.isnan(theory_cold_share(ColdStartScenario(keep_warm=1, burstiness=1)))
    assert math.isnan(theory_cold_share(ColdStartScenario(burstiness=2)))


# --- the platform ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_keeping_the_peak_warm_leaves_no_cold_start(seed: int) -> None:
    # Without cold starts every request holds its instance a shorter time, so the number in
    # flight never passes the peak of the run with them: the kept-warm instances always suffice.
    peak = run_coldstart(seed=seed, **SMALL).peak_concurrency
    warm = run_coldstart(seed=seed, keep_warm=peak, **SMALL)
    assert warm.cold_starts == 0 and warm.response.p99 < 400
    assert warm.instances_started == peak and warm.reclaimed == 0
    assert warm.instance_seconds == pytest.approx(peak * SMALL["duration"])


@pytest.mark.parametrize("keep_warm", [0, 3])
def test_with_no_reclaim_the_instances_are_the_peak(keep_warm: int) -> None:
    # A new instance starts only when every one is busy: with none ever reclaimed, the platform
    # ends with exactly as many as were ever busy at once (or the kept-warm ones, if more).
    result = run_coldstart(idle_timeout=NEVER, keep_warm=keep_warm, **SMALL)
    peak = result.peak_concurrency
    assert result.reclaimed == 0
    assert result.instances_started == max(peak, keep_warm)
    assert result.cold_starts == max(peak - keep_warm, 0)
    assert result.cold_starts < run_coldstart(keep_warm=keep_warm, **SMALL).cold_starts


def test_every_instance_that_ever_lived_is_accounted_for() -> None:
    result = run_coldstart(**SMALL)
    line = result.timeline()
    assert sum(line.cold_starts) == result.cold_starts == len(result.lifetimes)
    assert result.instances_started == result.scenario.keep_warm + result.cold_starts
    width = SMALL["duration"] / len(line.times)
    assert round(sum(line.rate) * width) == result.requests
    assert result.reclaimed <= result.cold_starts
    assert all(gone - born >= result.scenario.idle_timeout for born, gone in result.lifetimes)


def test_a_concurrency_limit_queues_instead_of_starting_more() -> None:
    free = run_coldstart(**SMALL)
    capped = run_coldstart(max_instances=5, **SMALL)
    assert capped.peak_concurrency <= 5 < free.peak_concurrency
    assert capped.waited > 0 and capped.cold_starts < free.cold_starts
    assert capped.requests == free.requests  # the same traffic, all of it served
    assert ColdStartScenario().max_instances is None and free.waited == 0


# --- trends --------------------------------------------------------------------------------


def test_burstier_traffic_starts_more_instances_cold_at_the_same_mean_rate() -> None:
    rows = cold_by_burstiness([1, 3, 10, 30], 5, **SMALL)
    shares = [row["cold_share"] for row in rows]
    assert shares == sorted(shares) and shares[0] < 0.01 < shares[2]
    assert rows[2]["interval"]["cold_share"][0] > rows[0]["interval"]["cold_share"][1]
    assert rows[2]["p99_response_ms"] > rows[2]["cold_start_ms"]  # the tail is a cold start
    assert rows[0]["p99_response_ms"] < rows[0]["cold_start_ms"]
    assert "burstiness" in coldstart_table(rows).splitlines()[0]


def test_keeping_instances_warm_trades_cold_starts_for_instances_always_on() -> None:
    rows = cold_by_keep_warm([0, 2, 5, 15, 25], 5, **SMALL)
    colds = [row["cold_starts"] for row in rows]
    assert colds == sorted(colds, reverse=True) and colds[0] > 0 == colds[-1]
    alive = [row["mean_warm_instances"] for row in rows]
    assert all(a >= row["keep_warm"] for a, row in zip(alive, rows, strict=True))
    assert alive[2] < alive[3] < alive[4]  # once cold starts are gone, each one kept costs
    # A few kept warm cost *less* than none: without them each burst starts dozens of instances
    # at once (each request waits out a cold start), and they linger for the idle timeout.
    assert alive[2] < alive[0]
    table = coldstart_table(rows)
    assert table.splitlines()[0].startswith("keep warm") and len(table.splitlines()) == 6


def test_a_longer_idle_timeout_means_fewer_cold_starts() -> None:
    colds = [run_coldstart(idle_timeout=t, **SMALL).cold_starts for t in (5, 60, 600, NEVER)]
    assert colds == sorted(colds, reverse=True) and colds[0] > colds[-1]


# --- state in memory -------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{}, {"keep_warm": 5}, {"burstiness": 1}, {"users": 50}])
def test_memory_hits_stay_within_what_users_and_instances_allow(settings: dict) -> None:
    # An instance can only hit a user seen before (by anyone: the store's hits), and the first
    # request each instance serves is a miss.
    result = run_coldstart(**SMALL | settings)
    served = result.cold_starts + result.scenario.keep_warm  # instances that could have served
    traffic = draw_traffic(result.scenario)
    assert result.store_hits == result.requests - len(set(traffic.users.tolist()))
    assert result.memory_hits <= result.store_hits
    assert result.memory_hits <= result.requests - result.cold_starts
    assert result.memory_hits >= result.requests - served * result.scenario.users
    assert 0 <= result.memory_hit_share <= result.store_hit_share <= 1


def test_one_user_hits_every_instance_after_its_first_request() -> None:
    result = run_coldstart(users=1, **SMALL)
    assert result.memory_hits == result.requests - result.cold_starts
    assert result.store_hits == result.requests - 1


def test_on_serverless_memory_hits_are_few_where_a_store_hits_often() -> None:
    result = run_coldstart()  # the lesson's default
    assert result.memory_hit_share < 0.25 * result.store_hit_share
    assert 0.02 < result.cold_share < 0.15 and result.response.p99 > result.scenario.cold_start_ms


# --- the command line -----------------------------------------------------------------------


def test_the_command_line_runs_and_its_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["coldstart", "--duration", "300", "--keep-warm", "2", "--seed", "3", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    direct = run_coldstart(duration=300, keep_warm=2, seed=3).to_dict()
    assert result == json.loads(json.dumps(direct))
    assert isinstance(result["cold_starts"], int) and isinstance(result["cold_share"], float)
    assert main(["coldstart", "--duration", "300", "--replications", "3", "--json"]) == 0
    replicated = json.loads(capsys.readouterr().out)
    assert replicated["interval"]["replications"] == 3 and "cold_share" in replicated["interval"]
    assert main(["coldstart", "--duration", "300"]) == 0
    assert "cold" in capsys.readouterr().out
    # A run so short that no request arrives still prints (nothing to measure: "none").
    assert main(["coldstart", "--duration", "0.01", "--burstiness", "1"]) == 0
    assert "p99 none" in capsys.readouterr().out


def test_the_command_line_refuses_bad_knobs_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["coldstart", "--keep-warm", "4", "--max-instances", "2", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "max_instances" in err


# --- figures ---------------------------------------------------------------------------------


def test_the_figures_draw_one_point_per_row_with_intervals() -> None:
    from simulations.scenarios.coldstart.plots import (
        plot_cold_by_burstiness,
        plot_cold_by_keep_warm,
    )

    rows = cold_by_keep_warm([0, 5], 2, duration=200.0)
    figure = plot_cold_by_keep_warm(rows)
    assert len(figure.axes) == 3
    assert figure.axes[0].containers and figure.axes[2].get_legend() is not None
    assert len(plot_cold_by_burstiness(cold_by_burstiness([1, 10], 2, duration=200.0)).axes) == 2
