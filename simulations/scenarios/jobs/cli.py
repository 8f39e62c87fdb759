"""``python -m simulations jobs``: background jobs when workers crash (lesson 09).

python -m simulations jobs --queue memory --crash-rate 0.01 --json
python -m simulations jobs --visibility-timeout 1 --service fixed --service-time 2 --replications 10
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.jobs.model import JobsModel, JobsScenario

SCENARIO = JobsScenario
REPLICABLE = True  # --replications R: counts summed, shares and latencies averaged, 95% intervals
DESCRIPTION = (
    "Jobs arrive (Poisson) for W workers that crash (Poisson) and are replaced after a boot "
    "delay. With the queue in each instance's memory a crash loses every job queued or running "
    "there (theory: crash rate × ∫ jobs held dt). With a broker a worker claims a job for a "
    "visibility timeout V: a crashed worker's job is redelivered when its lease runs out, and a "
    "job longer than V is redelivered while it runs, so it runs twice (duplicated)."
)


def run(scenario: JobsScenario) -> dict[str, Any]:
    return JobsModel(scenario).run().to_dict()


def _latency(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f} s"


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    broker = result["queue"] == "broker"
    design = (
        f"a broker, visibility timeout {result['visibility_timeout']:g} s, "
        f"dead-letter after {result['max_attempts']} deliveries"
        if broker
        else "each instance's memory (round robin)"
    )
    rows = [
        ("queue", design),
        (
            "workers",
            f"{result['workers']}, {result['crash_rate']:g} crashes/worker/s, replaced after "
            f"{result['boot_time']:g} s: {result['crashes']} crashes{over}",
        ),
        (
            "jobs",
            f"{result['submitted']} submitted{over} at {result['arrival_rate']:g}/s for "
            f"{result['duration']:g} s, {result['service']} {result['service_time']:g} s each",
        ),
        ("completed", f"{result['completed']} ({result['executions']} executions)"),
        (
            "lost",
            f"{result['lost']} ({result['lost_share']:.2%}; theory "
            f"{runs * result['expected_lost']:.1f})"
            + (f", {result['refused']} refused" if not broker else ""),
        ),
    ]
    if broker:
        rows += [
            (
                "redelivered",
                f"{result['redelivered']} deliveries beyond the first "
                f"({result['redelivered_jobs']} jobs)",
            ),
            ("duplicated", f"{result['duplicated']} jobs ran to the end more than once"),
            ("dead-lettered", str(result["dead_lettered"])),
        ]
    rows += [
        (
            "latency",
            f"mean {_latency(result['mean_latency'])}, p95 {_latency(result['p95_latency'])}"
            + (
                f"; redelivered jobs {_latency(result['mean_redelivered_latency'])}"
                if broker
                else ""
            ),
        ),
    ]
    if result["unfinished"]:
        rows.append(("unfinished", f"{result['unfinished']} (the workers could not keep up)"))
    rows.append(("seed", str(result["seed"])))
    return table(rows)
