"""The races model (lesson 08): a process-wide "current user" read back by the wrong request.

Checked: the model does what its docstring says (a mix-up is exactly "another request started
while this one waited"; FIFO threads, never more than T busy), one thread never mixes up, the
theory (exact for exponential handlers in M/M/T, 1 − e^(−λw) for fixed ones with threads
enough) lies inside 95% replication intervals, bad knobs are refused, and the CLI, the figures
and the explorer show what the runs say.
"""

from __future__ import annotations

import itertools
import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from simulations import (
    RaceScenario,
    mixups_by_wait,
    replicate_races,
    replication_seeds,
    run_races,
    theory_mixup_share,
)
from simulations.cli import main
from simulations.scenarios.races.model import TIMELINE_REQUESTS, RaceModel
from simulations.scenarios.races.plots import plot_mixups, plot_timeline
from simulations.scenarios.races.widget import RacesExplorer, races_explorer


def test_same_seed_same_run_and_another_seed_another() -> None:
    first = run_races(threads=4, arrival_rate=30, wait=0.05, seed=3)
    assert run_races(threads=4, arrival_rate=30, wait=0.05, seed=3) == first
    assert run_races(threads=4, arrival_rate=30, wait=0.05, seed=3).to_dict() == first.to_dict()
    assert run_races(threads=4, arrival_rate=30, wait=0.05, seed=4).mixups != first.mixups


@pytest.mark.parametrize("handler", ["exponential", "fixed"])
@pytest.mark.parametrize(("arrival_rate", "wait"), [(5, 0.01), (20, 0.05), (100, 0.2)])
def test_one_thread_never_mixes_up(handler: str, arrival_rate: float, wait: float) -> None:
    result = run_races(
        threads=1, arrival_rate=arrival_rate, wait=wait, handler=handler, requests=1_000
    )
    assert result.mixups == 0 and result.share == 0.0
    assert result.theory == 0.0
    assert result.peak_busy == 1
    if arrival_rate * wait >= 1:  # the one thread is the bottleneck: requests did queue
        assert result.queued > 0


def test_with_threads_the_same_load_mixes_requests_up() -> None:
    assert run_races(threads=4, arrival_rate=20, wait=0.05).mixups > 500  # of 2,000


def test_a_mixup_is_exactly_another_start_during_the_wait() -> None:
    result = run_races(threads=3, arrival_rate=40, wait=0.05, seed=11)
    timeline = result.timeline
    assert [handled.user for handled in timeline] == list(range(TIMELINE_REQUESTS))
    last_start = max(handled.start for handled in timeline)
    checked = 0
    for handled in timeline:
        if handled.end > last_start:  # a later request, not kept, may have started inside
            continue
        others = [o.start for o in timeline if o.user != handled.user]
        started_inside = any(handled.start < start < handled.end for start in others)
        assert handled.mixed_up == started_inside, handled
        if handled.mixed_up:  # and the user it read is the last one that started
            latest = max((o for o in timeline if o.start < handled.end), key=lambda o: o.start)
            assert handled.read == latest.user
        checked += 1
    assert checked > 40


def test_threads_are_first_come_first_served_and_never_more_than_t() -> None:
    result = run_races(threads=2, arrival_rate=60, wait=0.05, seed=2)
    starts = [handled.start for handled in result.timeline]
    assert starts == sorted(starts)  # FIFO: requests start in the order they arrived
    assert result.peak_busy == 2 and result.queued > 0
    for thread in (0, 1):
        busy = sorted(
            (h.start, h.end) for h in result.timeline if h.thread == thread
        )  # one request at a time on a thread
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(busy))
    assert {h.thread for h in result.timeline} == {0, 1}


def test_the_model_is_the_same_as_simpy_resource_threads() -> None:
    # The model runs on event callbacks; one SimPy process per request on a Resource of
    # capacity T (the textbook way) gives the same run, bit for bit.
    import random

    import simpy

    scenario = RaceScenario(threads=3, arrival_rate=50, wait=0.05, requests=800, seed=9)
    rng = random.Random(scenario.seed)
    arrivals, handlers = random.Random(rng.getrandbits(64)), random.Random(rng.getrandbits(64))
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=scenario.threads)
    current, mixups = [-1], [0]

    def request(user: int, hold: float):
        with pool.request() as thread:
            yield thread
            current[0] = user
            yield env.timeout(hold)
            mixups[0] += current[0] != user

    def traffic():
        for user in range(scenario.requests):
            yield env.timeout(arrivals.expovariate(scenario.arrival_rate))
            env.process(request(user, handlers.expovariate(1 / scenario.wait)))

    env.process(traffic())
    env.run()
    assert RaceModel(scenario).run().mixups == mixups[0] > 0


def test_theory_limits() -> None:
    for load in (0.2, 1.0, 3.0):
        # threads enough: λw / (1 + λw) for exponential waits, 1 − e^(−λw) for fixed ones
        assert theory_mixup_share(200, load * 10, 0.1) == pytest.approx(load / (1 + load))
        assert theory_mixup_share(200, load * 10, 0.1, "fixed") == pytest.approx(-math.expm1(-load))
        assert theory_mixup_share(1, load * 10, 0.1) == 0.0
        assert theory_mixup_share(1, load * 10, 0.1, "fixed") == 0.0
    assert theory_mixup_share(2, 20, 0.1) is None  # λw = 2 = T: no steady state
    assert theory_mixup_share(4, 20, 0.1, "fixed") is None  # the pool fills up often
    # more threads: more requests run at once, more mix-ups, up to the unlimited value
    shares = [theory_mixup_share(t, 20, 0.05) for t in (1, 2, 3, 4, 8)]
    assert shares == sorted(shares) and shares[-1] < 0.5


@pytest.mark.parametrize(
    "settings",
    [
        {"threads": 2, "arrival_rate": 20, "wait": 0.05},
        {"threads": 3, "arrival_rate": 40, "wait": 0.05},
        {"threads": 4, "arrival_rate": 60, "wait": 0.05},
        {"threads": 8, "arrival_rate": 100, "wait": 0.05},
        {"threads": 30, "arrival_rate": 40, "wait": 0.05, "handler": "fixed"},
    ],
    ids=lambda s: "-".join(map(str, s.values())),
)
def test_theory_is_inside_the_replication_interval(settings: dict) -> None:
    run = replicate_races(20, requests=2_000, seed=5, **settings)
    low, high = run["interval"]["share"]
    assert run["theory"] is not None
    assert low <= run["theory"] <= high, (low, run["theory"], high)
    assert high - low < 0.03  # and the interval is narrow enough to mean something


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"threads": 0}, "threads"),
        ({"threads": 1.5}, "threads"),
        ({"arrival_rate": 0}, "arrival_rate"),
        ({"arrival_rate": math.nan}, "arrival_rate"),
        ({"wait": -0.1}, "wait"),
        ({"handler": "uniform"}, "handler"),
        ({"requests": 10**9}, "requests"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_knobs_are_refused_with_the_knob_named(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        run_races(**settings)
    theory_knobs = {"threads", "arrival_rate", "wait", "handler"}
    if set(settings) <= theory_knobs:  # the theory refuses the same values the same way
        with pytest.raises(ValueError, match=words):
            theory_mixup_share(**{"threads": 2, "arrival_rate": 1, "wait": 0.1, **settings})


def test_cli_gives_the_models_json_and_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["races", "--threads", "4", "--arrival-rate", "20", "--requests", "500"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == run_races(4, 20, requests=500).to_dict()
    assert main([*argv, "--replications", "4", "--json"]) == 0
    replicated = json.loads(capsys.readouterr().out)
    assert replicated["mixups"] == sum(
        run_races(4, 20, requests=500, seed=seed).mixups for seed in replication_seeds(0, 4)
    )
    assert "share" in replicated["interval"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "read another request's user" in table and "theory" in table
    assert main(["races", "--handler", "fixed", "--threads", "2", "--wait", "0.2"]) == 0
    assert "none (the pool fills up)" in capsys.readouterr().out


def test_figure_shows_each_thread_count_with_its_theory() -> None:
    runs = mixups_by_wait([0.025, 0.05, 0.1], threads=(1, 2, 4), replications=3, requests=400)
    assert list(runs) == [1, 2, 4] and all(len(series) == 3 for series in runs.values())
    assert all(run["share"] == 0.0 for run in runs[1])
    fig = plot_mixups(runs)
    try:
        (ax,) = fig.axes
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels == ["threads enough", "T = 1", "T = 2", "T = 4"]
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 3  # one theory curve per thread count
        assert max(dashed[0].get_ydata()) == 0.0  # T = 1: none
    finally:
        plt.close(fig)
    result = run_races(threads=4)
    fig = plot_timeline(result)
    try:
        mixed = sum(h.mixed_up for h in result.timeline)
        assert f"{mixed} read another's user" in fig.axes[0].get_title()
        reds = [line for line in fig.axes[0].get_lines() if line.get_color() == "tab:red"]
        assert len(reds) == mixed > 0
    finally:
        plt.close(fig)


def test_explorer_redraws_what_the_model_says() -> None:
    explorer = RacesExplorer(requests=500)
    explorer.controls["threads"].value = 1
    assert "0 of 500 requests read another request" in explorer.summary.value
    explorer.controls["threads"].value = 6
    result = explorer.redraw()
    assert result == run_races(threads=6, requests=500)
    point = explorer.view.point.get_ydata()
    assert list(point) == [result.share]
    assert len(explorer.view.bars.get_segments()) == TIMELINE_REQUESTS
    assert races_explorer(requests=200).children
