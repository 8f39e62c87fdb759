"""The retries model (lesson 10): client timeouts and retries against an M/M/c pool.

Checked against what can be said exactly: without retries every request is one attempt and
nothing runs twice; with an unbounded queue every abandoned attempt is still served (the servers
never learn the client gave up); the share of attempts that time out without retries is the
M/M/1 and M/M/c response-time tail P(R > T), inside the replications' 95% interval; a retry
budget bounds the attempts per request; a latency never exceeds what the policy allows. Then
the storm itself (immediate retries outlive the burst, the budget does not), load shedding,
bad knobs, the command line (integer counts, same seed same JSON, every flag matters), the
sweeps, their table and figures, and the explorer.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from cli_runs import json_output

from simulations import (
    RetriesScenario,
    duplicates_by_timeout,
    goodput_by_load,
    replicate_retries,
    retries_table,
    run_retries,
    theory_timeout_share,
)
from simulations.cli import main
from simulations.scenarios.retries.model import BURST, MAX_ATTEMPTS, SETUPS
from simulations.scenarios.retries.plots import plot_duplicates, plot_goodput
from simulations.scenarios.retries.widget import RetriesExplorer, retries_explorer

STEADY = {"spike": 0.0}  # the scenario's default: no burst


def test_same_seed_same_run_and_another_seed_another() -> None:
    for policy in ("none", "immediate", "backoff"):
        first = run_retries(policy=policy, budget=policy == "backoff", seed=3)
        assert run_retries(policy=policy, budget=policy == "backoff", seed=3) == first
        assert run_retries(policy=policy, budget=policy == "backoff", seed=4) != first


def test_without_retries_each_request_is_one_attempt_and_runs_once() -> None:
    result = run_retries(policy="none", load=0.9)
    assert result.attempts == result.requests > 1_000
    assert result.amplification == 1.0 and result.duplicates == 0 and result.retries == 0
    assert result.succeeded + result.failed == result.requests
    assert result.failed == result.timed_out > 0  # each timeout is a request given up
    # the servers never hear of it: every abandoned attempt is served, its effect happens
    assert result.abandoned_completed == result.timed_out == result.failed_but_done
    assert max(result.latencies) < result.scenario.timeout


@pytest.mark.parametrize(
    ("servers", "load", "timeout"), [(1, 0.7, 0.5), (4, 0.9, 0.3), (8, 0.85, 0.2)]
)
def test_without_retries_the_timeouts_are_the_response_time_tail(
    servers: int, load: float, timeout: float
) -> None:
    # M/M/1: R is exponential with rate μ − λ, P(R > T) = e^(−(μ−λ)T); M/M/c: the Erlang C
    # wait plus the service time. 10 independent runs of 300 s, from an empty queue.
    run = replicate_retries(
        10, policy="none", servers=servers, load=load, service_time=0.1, timeout=timeout,
        duration=300, **STEADY,
    )  # fmt: skip
    low, high = run["interval"]["timeout_share"]
    theory = theory_timeout_share(load, servers, 0.1, timeout)
    assert low <= theory <= high, (low, theory, high)
    assert run["theory_timeout_share"] == pytest.approx(theory, abs=1e-6)
    if servers == 1:
        assert theory == pytest.approx(math.exp(-(10 - 10 * load) * timeout))


def test_the_mmc_tail_formula_meets_its_limits() -> None:
    assert theory_timeout_share(0.5, 1, 1.0, 2.0) == pytest.approx(math.exp(-1.0))
    # cμ − λ = μ (c = 2, load 0.5): the formula's limit, between its neighbours
    at = theory_timeout_share(0.5, 2, 1.0, 1.0)
    near = [theory_timeout_share(x, 2, 1.0, 1.0) for x in (0.5 - 1e-6, 0.5 + 1e-6)]
    assert near[0] < at < near[1] and at == pytest.approx(near[0], rel=1e-4)
    assert math.isnan(theory_timeout_share(1.0, 4, 0.1, 0.5))


def test_an_unbounded_queue_serves_every_abandoned_attempt() -> None:
    result = run_retries(policy="immediate", **BURST)  # a storm
    assert result.abandoned_completed == result.timed_out > result.requests
    assert result.attempts == result.requests + result.retries
    assert result.retries <= result.scenario.max_retries * result.requests
    assert result.duplicates <= result.timed_out
    assert 0 < result.failed_but_done <= result.failed
    assert result.wasted_share > 0.5 and result.utilization > 0.85


def test_a_latency_never_exceeds_what_the_policy_allows() -> None:
    s = RetriesScenario(policy="backoff", load=0.85, backoff_base=0.2, backoff_cap=0.5)
    result = run_retries(s)
    worst = (s.max_retries + 1) * s.timeout + s.max_retries * s.backoff_cap
    assert max(result.latencies) <= worst
    assert max(result.latencies) > s.timeout  # some requests were answered by a retry


def test_the_burst_starts_a_storm_that_only_the_budget_ends() -> None:
    runs = goodput_by_load([0.7], replications=3)
    final = {name: series[0]["final_goodput_fraction"] for name, series in runs.items()}
    amplification = {name: series[0]["amplification"] for name, series in runs.items()}
    assert final["none"] > 0.6 and final["backoff+budget"] > 0.6  # back to the load offered
    assert final["immediate"] < 0.05 and final["backoff"] < 0.05  # still down, 30 s later
    assert amplification["immediate"] > 2.5 and amplification["backoff"] > 2.5
    assert amplification["none"] == 1.0
    assert amplification["backoff+budget"] < 1.12  # the budget: 10% of the recent requests
    assert runs["backoff+budget"][0]["budget_denied"] > 0


def test_the_budget_bounds_retries_even_in_overload() -> None:
    result = run_retries(policy="immediate", budget=True, budget_ratio=0.2, load=1.3)
    assert result.budget_denied > result.retries > 0  # every attempt times out: budget spent
    # Each retry at t counts the retries and requests of (t − 10 s, t]: over consecutive 10 s
    # windows, the retries of one window are at most 0.2 × the requests of it and the one
    # before, so over the run at most 2 × 0.2 per request; a spent budget gives about 0.2.
    assert result.retries <= 2 * 0.2 * result.requests
    assert result.amplification == pytest.approx(1.2, abs=0.02)


def test_a_queue_limit_sheds_load_and_keeps_goodput_near_capacity() -> None:
    # 8 waiting on 4 servers: at most about 0.4 s of wait, well inside the 1 s timeout
    unbounded = run_retries(policy="none", load=1.5, **STEADY)
    limited = run_retries(policy="none", load=1.5, queue_limit=8, **STEADY)
    capacity = limited.scenario.capacity
    assert unbounded.rejected == 0 and unbounded.final_goodput / capacity < 0.05
    assert limited.rejected > 0 and limited.final_goodput / capacity > 0.9
    retried = run_retries(policy="immediate", load=1.5, queue_limit=8, **STEADY)
    assert retried.amplification > 1.5 and retried.final_goodput / capacity > 0.9


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"policy": "exponential"}, "policy"),
        ({"servers": 0}, "servers"),
        ({"load": 0}, "load"),
        ({"load": math.nan}, "load"),
        ({"service_time": -1}, "service_time"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": 0}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"backoff_base": 1.0, "backoff_cap": 0.5}, "backoff_cap"),
        ({"budget": 1}, "budget"),
        ({"budget_ratio": 0}, "budget_ratio"),
        ({"queue_limit": -1}, "queue_limit"),
        ({"spike": -0.1}, "spike"),
        ({"duration": math.inf}, "duration"),
        ({"load": 10, "servers": 1000}, "requests"),
        ({"load": 1, "duration": 10_000, "servers": 1, "max_retries": 20}, "attempts"),
    ],
)
def test_bad_knobs_are_refused_with_a_clear_error(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RetriesScenario(**settings)
    assert MAX_ATTEMPTS == 1_000_000


COUNTS = (
    "requests", "attempts", "retries", "succeeded", "failed", "timed_out", "rejected",
    "budget_denied", "abandoned_completed", "duplicates", "failed_but_done",
)  # fmt: skip


def test_cli_gives_the_models_json_with_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    result = json_output(capsys, ["retries", "--policy", "none", "--json"])
    assert result == run_retries(policy="none").to_dict()
    assert all(type(result[key]) is int for key in COUNTS)
    assert json_output(capsys, ["retries", "--seed", "4", "--json"]) == json_output(
        capsys, ["retries", "--seed", "4", "--json"]
    )
    assert main(["retries", "--policy", "none", "--max-retries", "2"]) == 2
    assert "applies only to --policy immediate or backoff" in capsys.readouterr().err
    assert main(["retries", "--replications", "3"]) == 0
    assert "95% intervals over 3 replications" in capsys.readouterr().out


# each flag with a value, and the base run where it matters
FLAGS = {
    "--policy": ("backoff", []),
    "--servers": ("3", []),
    "--load": ("0.5", []),
    "--service-time": ("0.12", []),
    "--timeout": ("0.8", []),
    "--max-retries": ("1", []),
    "--backoff-base": ("0.5", ["--policy", "backoff", "--budget"]),
    "--backoff-cap": ("0.3", ["--policy", "backoff", "--load", "0.85"]),
    "--budget": (None, ["--spike", "0.5"]),
    "--budget-ratio": ("0.3", ["--budget", "--spike", "0.5"]),
    "--queue-limit": ("5", []),
    "--spike": ("0.5", []),
    "--spike-at": ("10", ["--spike", "0.5"]),
    "--spike-duration": ("1", ["--spike", "0.5"]),
    "--duration": ("50", []),
    "--seed": ("3", []),
}


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_changes_the_result(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    value, base = FLAGS[flag]
    echoed = set(RetriesScenario.__dataclass_fields__)
    given = [flag] if value is None else [flag, value]
    before = json_output(capsys, ["retries", *base, "--json"])
    after = json_output(capsys, ["retries", *base, *given, "--json"])
    measured = [key for key in after if key not in echoed and after[key] != before[key]]
    assert measured, flag


def test_the_storm_sweep_its_table_and_figure() -> None:
    runs = goodput_by_load([0.5, 1.2], ("none", "backoff+budget"), replications=2)
    assert list(runs) == ["none", "backoff+budget"]
    assert [run["load"] for run in runs["none"]] == [0.5, 1.2]
    assert runs["none"][0]["final_goodput_fraction"] > 0.45
    assert runs["none"][1]["final_goodput_fraction"] < 0.05  # overload, no shedding
    assert "final_goodput_fraction" in runs["none"][0]["interval"]
    text = retries_table(runs)
    rows = text.splitlines()
    assert rows[0].split()[:2] == ["design", "load"] and len(rows) == 1 + 4
    cells = rows[1].split()
    assert cells[:3] == ["none", "0.50", f"{runs['none'][0]['final_goodput_fraction']:.0%}"]
    fig = plot_goodput(runs)
    try:
        good, amp = fig.axes
        labels = [t.get_text() for t in good.get_legend().get_texts()]
        assert labels == ["ideal", "none", "backoff+budget"]
        line = next(c for c in good.containers if c.get_label() == "none").lines[0]
        assert list(line.get_ydata()) == [r["final_goodput_fraction"] for r in runs["none"]]
        assert "burst of +0.5" in fig.get_suptitle()
        amplified = next(c for c in amp.containers if c.get_label() == "backoff+budget").lines[0]
        assert list(amplified.get_ydata()) == [r["amplification"] for r in runs["backoff+budget"]]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="unknown design"):
        goodput_by_load([0.5], ("storm",))
    with pytest.raises(ValueError, match="policy"):
        goodput_by_load([0.5], ("none",), policy="backoff")
    assert set(SETUPS) == {"none", "immediate", "backoff", "backoff+budget"}


def test_the_duplicates_sweep_and_its_figure() -> None:
    runs = duplicates_by_timeout([0.3, 1.0], [0.5], replications=3, max_retries=1)
    (series,) = runs.values()
    assert [run["timeout"] for run in series] == [0.3, 1.0] and series[0]["spike"] == 0
    short, long = series
    assert short["duplicate_rate"] > 10 * max(long["duplicate_rate"], 1e-4)
    low, high = short["interval"]["duplicate_rate"]
    assert low < short["theory_timeout_share"] * 1.5 and high > short["theory_timeout_share"]
    fig = plot_duplicates(runs)
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "load 0.5" in labels and any(label.startswith("P(R > T)") for label in labels)
    finally:
        plt.close(fig)


def test_explorer_shows_the_storm_and_redraws() -> None:
    explorer = RetriesExplorer()
    assert "immediate (≤ 3 retries): goodput" in explorer.summary.value
    first = bytes(explorer.image.value)
    explorer.controls["policy"].value = "none"
    assert explorer.controls["budget"].disabled and explorer.controls["max_retries"].disabled
    result = explorer.redraw()
    assert result.duplicates == 0 and "0 requests done twice" in explorer.summary.value
    assert bytes(explorer.image.value) != first
    explorer.controls["policy"].value = "backoff"
    explorer.controls["budget"].value = True
    result = explorer.redraw()
    assert "10% budget" in explorer.summary.value
    duplicated_bar = explorer.view.bars[1]
    assert duplicated_bar.get_height() == pytest.approx(100 * result.duplicate_rate)
    assert retries_explorer().children
    assert json.dumps(result.to_dict(), allow_nan=False)
