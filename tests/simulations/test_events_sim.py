"""The events model (lesson 09): events over long-lived connections, and the reconnects of a crash.

Checked: without a broker an event reaches 1/N of the clients (inside the replications' 95%
intervals), with one all of them, exactly; with a broker, deliveries + events missed during the
gaps = events × clients, exactly; the dropped clients of a storm without backoff all arrive in
the same 100 ms and only connect_timeout / handshake per survivor get in, the rest fail (the
count is exact); no survivor can finish sooner than its share of the handshakes allows; full
jitter spreads the attempts and nobody fails; a fixed delay only moves the storm; the missed
events are the publish rate × the gaps (inside an interval). Then bad knobs, the command line,
the figures and the explorer.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from cli_runs import json_output

from simulations import (
    EventsScenario,
    delivery_by_instances,
    mean_interval,
    replicate_events,
    replication_seeds,
    run_events,
)
from simulations.cli import main
from simulations.scenarios.events.model import BUCKET
from simulations.scenarios.events.plots import plot_delivery, plot_reconnects
from simulations.scenarios.events.widget import EventsExplorer, events_explorer


def test_same_seed_same_run_and_another_seed_another() -> None:
    first = run_events(backoff="jitter", seed=3)
    assert run_events(backoff="jitter", seed=3) == first
    assert run_events(backoff="jitter", seed=4).attempts_per_bucket != first.attempts_per_bucket


def test_without_a_broker_an_event_reaches_one_instance_share_of_the_clients() -> None:
    runs = delivery_by_instances([1, 2, 4, 8], replications=10)
    for run in runs["memory"]:
        n = run["instances"]
        assert run["theory_fraction"] == pytest.approx(1 / n)
        if n == 1:
            assert run["delivered_fraction"] == 1.0
            continue
        low, high = run["interval"]["delivered_fraction"]
        assert low <= 1 / n <= high, (n, low, high)
        assert high - low < 0.02  # and the interval is tight enough to mean it
    assert [run["delivered_fraction"] for run in runs["broker"]] == [1.0] * 4


def test_with_a_broker_every_event_is_delivered_or_missed_during_a_gap() -> None:
    for backoff in ("none", "fixed", "jitter"):
        result = run_events(backoff=backoff)
        assert result.missed > 0
        assert result.delivered + result.missed == result.events * result.connections
    memory = run_events(pubsub="memory")
    assert 1 / 4 < memory.delivered_fraction < 1 / 3  # one instance's share, of 4 then of 3


def test_without_backoff_only_what_fits_in_the_timeout_gets_in() -> None:
    result = run_events()  # 4 instances, 5 ms handshakes, a 1 s connect timeout
    per_survivor = 200  # 1 s / 5 ms handshakes finish within the timeout, one after the other
    assert result.attempts_per_bucket[0] == result.dropped  # all at the same instant
    assert result.peak_per_instance >= math.ceil(result.dropped / 3)
    # every survivor got more than 200 (about 340 each): exactly 3 × 200 get in at first; the
    # rest fail after 1 s, come back together, and now fit
    assert result.failed_attempts == result.dropped - 3 * per_survivor
    assert result.attempts == result.dropped + result.failed_attempts
    assert result.attempts_per_bucket[10] == result.failed_attempts  # 1 s later
    assert result.reconnected == result.dropped
    assert result.reconnect_time >= 1.0 + result.failed_attempts / 3 * 0.005


@pytest.mark.parametrize("backoff", ["none", "fixed", "jitter"])
def test_no_survivor_accepts_faster_than_its_handshakes_allow(backoff: str) -> None:
    result = run_events(backoff=backoff, clients=3_000, handshake_ms=2.0)
    assert result.reconnected == result.dropped
    assert result.reconnect_time >= result.dropped / 3 * 0.002


def test_full_jitter_spreads_the_storm_and_nobody_fails() -> None:
    storm, spread = run_events(), run_events(backoff="jitter")
    assert spread.failed_attempts == 0 and spread.attempts == spread.dropped
    assert spread.peak_per_instance * 4 < storm.peak_per_instance
    first_second = spread.attempts_per_bucket[: round(1 / BUCKET)]
    assert sum(first_second) == spread.dropped  # uniform over [0, base = 1 s]
    assert max(first_second) < 3 * spread.dropped * BUCKET


def test_a_fixed_delay_only_moves_the_storm() -> None:
    storm, later = run_events(), run_events(backoff="fixed", base=1.0)
    assert later.failed_attempts == storm.failed_attempts
    assert sum(later.attempts_per_bucket[:9]) == 0
    assert sum(later.attempts_per_bucket[9:12]) == later.dropped
    assert later.reconnect_time == pytest.approx(storm.reconnect_time + 2.0, abs=0.15)


def test_missed_events_are_the_publish_rate_times_the_gaps() -> None:
    ratios = []
    for seed in replication_seeds(2, 12):
        result = run_events(backoff="jitter", seed=seed)
        ratios.append(result.missed / (10.0 * result.dropped * result.mean_gap))
    low, high = mean_interval(ratios)
    assert low <= 1.0 <= high, (low, high)
    merged = replicate_events(3, backoff="jitter")
    assert "delivered_fraction" in merged["interval"] and "reconnect_time" in merged["interval"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"instances": 1}, "at least 2 instances"),
        ({"instances": 0}, "instances"),
        ({"clients": 0}, "clients"),
        ({"pubsub": "kafka"}, "pubsub"),
        ({"crash": "two"}, "crash"),
        ({"backoff": "linear"}, "backoff"),
        ({"publish_rate": 0}, "publish_rate"),
        ({"crash_at": 30}, "before the end"),
        ({"handshake_ms": 1000}, "longer than a handshake"),
        ({"instances": 200, "clients": 5000}, "clients"),
        ({"publish_rate": 1e5, "duration": 100}, "events"),
        ({"connect_timeout": 0.001, "handshake_ms": 0.5, "clients": 100_000, "instances": 2},
         "reconnect attempts"),
    ],
)  # fmt: skip
def test_bad_knobs_are_refused_with_a_clear_error(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        EventsScenario(**settings)
    EventsScenario(instances=1, crash="none")  # one instance is fine without a crash


COUNTS = (
    "connections", "events", "delivered", "missed", "dropped", "reconnected",
    "still_disconnected", "attempts", "failed_attempts",
)  # fmt: skip


def test_cli_gives_the_models_json_with_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    result = json_output(capsys, ["events", "--backoff", "jitter", "--json"])
    assert result == run_events(backoff="jitter").to_dict()
    assert all(type(result[key]) is int for key in COUNTS)
    again = json_output(capsys, ["events", "--seed", "2", "--json"])
    assert again == json_output(capsys, ["events", "--seed", "2", "--json"])
    assert main(["events", "--base", "2"]) == 2  # no backoff: no base
    assert "applies only to --backoff fixed or jitter" in capsys.readouterr().err
    assert main(["events", "--crash", "none", "--pubsub", "memory", "--replications", "3"]) == 0
    out = capsys.readouterr().out
    assert "(theory 25.0%)" in out and "95% intervals over 3 replications" in out


FLAGS = {  # each flag with a value, and the base run where it matters
    "--instances": ("5", []),
    "--clients": ("500", []),
    "--pubsub": ("memory", []),
    "--publish-rate": ("20", []),
    "--crash": ("none", []),
    "--crash-at": ("2", []),
    "--backoff": ("jitter", []),
    "--base": ("2", ["--backoff", "fixed"]),
    "--cap": ("0.5", ["--backoff", "jitter"]),
    "--handshake-ms": ("3", []),
    "--connect-timeout": ("0.5", []),
    "--duration": ("20", []),
    "--seed": ("3", []),
}


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_changes_the_result(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    value, base = FLAGS[flag]
    echoed = set(EventsScenario.__dataclass_fields__)
    before = json_output(capsys, ["events", "--duration", "15", *base, "--json"])
    after = json_output(capsys, ["events", "--duration", "15", *base, flag, value, "--json"])
    assert [key for key in after if key not in echoed and after[key] != before[key]], flag


def test_the_figures_show_the_runs() -> None:
    runs = [run_events(), run_events(backoff="jitter")]
    fig = plot_reconnects(runs)
    try:
        rate, away = fig.axes
        labels = [t.get_text() for t in rate.get_legend().get_texts()]
        assert labels[0].startswith("retry at once: 430 failed")
        assert labels[1].startswith("full jitter (base 1 s): 0 failed")
        steps = rate.get_lines()[:2]
        assert max(steps[0].get_ydata()) == pytest.approx(runs[0].attempts_per_bucket[0] / 3)
        assert [line.get_ydata()[0] for line in away.get_lines()] == [runs[0].dropped] * 2
    finally:
        plt.close(fig)
    fig = plot_delivery(delivery_by_instances([2, 4], replications=3))
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["1/N", "each instance's own clients", "pub/sub broker"]
    finally:
        plt.close(fig)


def test_explorer_redraws_and_greys_out_the_base_without_backoff() -> None:
    explorer = EventsExplorer()
    assert explorer.controls["base"].disabled
    assert "430 failed" in explorer.summary.value
    explorer.controls["backoff"].value = "jitter"
    assert not explorer.controls["base"].disabled
    assert " 0 failed" in explorer.summary.value
    result = explorer.redraw()
    assert list(explorer.view.capacity.get_ydata()) == [result.capacity_per_bucket] * 2 == [20, 20]
    explorer.controls["pubsub"].value = "memory"
    assert "through memory" in explorer.summary.value
    assert events_explorer().children


def test_the_lesson_tables_print_per_run_means_and_intervals() -> None:
    from simulations import delivery_by_instances, delivery_table, replicate_events, storm_table

    delivery = delivery_by_instances([1, 4], replications=2, duration=5)
    rows = delivery_table(delivery).splitlines()
    assert rows[1].split()[0] == "1" and rows[2].split()[5] == "0.2500"  # 4 instances: 1/N
    storms = {
        b: replicate_events(2, backoff=b, clients=100, duration=8) for b in ("none", "jitter")
    }
    text = storm_table(storms)
    for backoff, run in storms.items():
        [row] = [line for line in text.splitlines() if line.startswith(backoff)]
        assert row.split()[1] == f"{run['failed_attempts'] / 2:,.0f}"
        assert f"{run['reconnect_time']:.2f} s" in row
    assert text.endswith("per run: the mean of 2 runs (95% intervals)")
