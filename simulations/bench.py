"""``python -m simulations bench``: is the engine fast enough? (budgets of COURSE_DESIGN §8)

Two measurements, printed as a table (or one JSON object with ``--json``):

* the ``balance`` model against two bare, hand-written SimPy models of the same M/M/c system
  (n instances, Poisson arrivals, exponential service, random or round-robin routing): one in
  the style of SimPy's Bank example (a process and a ``Resource`` request per customer) and a
  leaner one (a ``Store`` and one server process per instance). The overhead ratio is the
  engine's time over the faster bare model's; the budget is 1.3×.
* every explorer (``simulations.explorer.explorers()``): the median time of a redraw at its
  default settings (run the model, update the figure, render the PNG); the budget is 150 ms.

Times are CPU seconds of this process (``time.process_time``), medians of interleaved repeats,
so other programs on a shared machine disturb them less than wall-clock times.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import simpy

from simulations import knobs
from simulations.scenarios.balance.model import run_balance

OVERHEAD_BUDGET = 1.3
REDRAW_BUDGET_MS = 150.0
INSTANCES, ARRIVAL_RATE, SERVICE_RATE = 4, 2.8, 1.0  # M/M/4 split four ways, load 70%
ROUTINGS = ("random", "round_robin")


def bare_resource_model(
    instances: int, arrival_rate: float, service_rate: float, requests: int, seed: int, routing: str
) -> float:
    """Bare SimPy, Bank-example style: one process and one Resource request per customer."""
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in range(instances)]
    times: list[float] = []

    def customer(server: simpy.Resource, service: float) -> Iterator[simpy.Event]:
        arrived = env.now
        with server.request() as turn:
            yield turn
            yield env.timeout(service)
        times.append(env.now - arrived)

    def source() -> Iterator[simpy.Event]:
        for number in range(requests):
            yield env.timeout(rng.expovariate(arrival_rate))
            k = rng.randrange(instances) if routing == "random" else number % instances
            env.process(customer(servers[k], rng.expovariate(service_rate)))

    env.process(source())
    env.run()
    return sum(times) / len(times)


def bare_store_model(
    instances: int, arrival_rate: float, service_rate: float, requests: int, seed: int, routing: str
) -> float:
    """Bare SimPy, lean style: a Store (FIFO queue) and one server process per instance."""
    rng = random.Random(seed)
    env = simpy.Environment()
    queues = [simpy.Store(env) for _ in range(instances)]
    times: list[float] = []

    def server(queue: simpy.Store) -> Iterator[simpy.Event]:
        while True:
            arrived, service = yield queue.get()
            yield env.timeout(service)
            times.append(env.now - arrived)

    def source() -> Iterator[simpy.Event]:
        for number in range(requests):
            yield env.timeout(rng.expovariate(arrival_rate))
            k = rng.randrange(instances) if routing == "random" else number % instances
            queues[k].put((env.now, rng.expovariate(service_rate)))

    for queue in queues:
        env.process(server(queue))
    env.process(source())
    env.run()
    return sum(times) / len(times)


def engine_model(
    instances: int, arrival_rate: float, service_rate: float, requests: int, seed: int, routing: str
) -> float:
    """The course's engine (``run_balance``), all metrics included."""
    return run_balance(routing, instances, arrival_rate, service_rate, requests, seed).mean_response


MODELS: dict[str, Callable[..., float]] = {
    "engine (run_balance)": engine_model,
    "bare SimPy: Store + server process": bare_store_model,
    "bare SimPy: Resource per request": bare_resource_model,
}


def _cpu_seconds(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    value = action()
    return time.process_time() - started, value


def time_models(requests: int, repeat: int) -> list[dict[str, Any]]:
    """Median CPU time of every model for every routing, repeats interleaved."""
    rows = []
    for routing in ROUTINGS:
        seconds: dict[str, list[float]] = {name: [] for name in MODELS}
        means: dict[str, float] = {}
        for attempt in range(repeat):
            for name, model in MODELS.items():
                one_run = partial(
                    model, INSTANCES, ARRIVAL_RATE, SERVICE_RATE, requests, attempt, routing
                )
                spent, means[name] = _cpu_seconds(one_run)
                seconds[name].append(spent)
        rows += [
            {
                "routing": routing,
                "model": name,
                "median_seconds": statistics.median(seconds[name]),
                "mean_response": means[name],
            }
            for name in MODELS
        ]
    return rows


def time_redraws(repeat: int) -> list[dict[str, Any]]:
    """Median CPU time of each explorer's redraw at its default settings (3 × repeat redraws,
    at least 15)."""
    from simulations.explorer import explorers  # imports ipywidgets and matplotlib: only here

    rows = []
    for name, explorer_class in explorers().items():
        explorer = explorer_class()  # draws once, like displaying it does
        # a redraw is short, so a few slow ones (a garbage collection) would move a median of 5
        times = [_cpu_seconds(explorer.redraw)[0] for _ in range(max(3 * repeat, 15))]
        rows.append({"widget": name, "median_ms": 1000 * statistics.median(times)})
    return rows


@dataclass(frozen=True)
class BenchSettings:
    """How long ``bench`` measures: requests per timed run, and timed runs per model."""

    requests: int = knobs.count(
        50_000, "requests per timed run", high=knobs.MAX_REQUESTS, metavar="K"
    )
    repeat: int = knobs.count(5, "timed runs per model and routing; medians are reported", high=100)

    def __post_init__(self) -> None:
        knobs.check(self)


SCENARIO = BenchSettings
HELP = "time the engine against bare SimPy and the widgets' redraws (budgets of §8)"
DESCRIPTION = "Time the balance engine against bare SimPy models, and widget redraws."


def run(settings: BenchSettings) -> dict[str, Any]:
    models = time_models(settings.requests, settings.repeat)
    overhead = {}
    for routing in ROUTINGS:
        by_name = {
            row["model"]: row["median_seconds"] for row in models if row["routing"] == routing
        }
        engine = by_name.pop("engine (run_balance)")
        overhead[routing] = engine / min(by_name.values())
    redraws = time_redraws(settings.repeat)
    within = max(overhead.values()) <= OVERHEAD_BUDGET and all(
        row["median_ms"] <= REDRAW_BUDGET_MS for row in redraws
    )
    return {
        "requests": settings.requests,
        "repeat": settings.repeat,
        "system": f"M/M/{INSTANCES} split {INSTANCES} ways, arrival rate {ARRIVAL_RATE}, "
        f"service rate {SERVICE_RATE}",
        "models": models,
        "overhead": overhead,
        "overhead_budget": OVERHEAD_BUDGET,
        "redraws": redraws,
        "redraw_budget_ms": REDRAW_BUDGET_MS,
        "within_budget": within,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"bench: {result['system']}, {result['requests']} requests, "
        f"median of {result['repeat']} runs (CPU time)",
        "",
        f"{'routing':<12} {'model':<36} {'seconds':>8} {'µs/request':>11} {'mean resp.':>11}",
    ]
    for row in result["models"]:
        per_request = 1e6 * row["median_seconds"] / result["requests"]
        lines.append(
            f"{row['routing']:<12} {row['model']:<36} {row['median_seconds']:8.3f} "
            f"{per_request:11.1f} {row['mean_response']:11.3f}"
        )
    lines.append("")
    for routing, ratio in result["overhead"].items():
        verdict = "ok" if ratio <= result["overhead_budget"] else "OVER BUDGET"
        lines.append(
            f"overhead ({routing}): {ratio:.2f}× the faster bare model "
            f"(budget ≤ {result['overhead_budget']}×) {verdict}"
        )
    for row in result["redraws"]:
        verdict = "ok" if row["median_ms"] <= result["redraw_budget_ms"] else "OVER BUDGET"
        lines.append(
            f"redraw {row['widget']}: median {row['median_ms']:.0f} ms "
            f"(budget ≤ {result['redraw_budget_ms']:.0f} ms) {verdict}"
        )
    lines.append("all within budget" if result["within_budget"] else "SOME BUDGETS ARE EXCEEDED")
    return "\n".join(lines)
