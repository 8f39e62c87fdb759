"""``python -m simulations bench``: is the engine fast and small enough? (COURSE_DESIGN §8)

Printed as a table (or one JSON object with ``--json``), each with its budget and a verdict:

* **overhead**: the ``balance`` model against a *lean* hand-written SimPy model of the same
  system (n single-server FIFO instances, Poisson arrivals, exponential service; a deque per
  instance and one event to wake an idle server: ``lean_model``, written once and not tuned),
  for every policy: the engine's median CPU time over the lean model's; budget 1.1×. Two
  idiomatic bare-SimPy models (a ``Store`` per instance; SimPy's Bank style, a ``Resource``
  request per customer) are timed beside them for context only: a baseline slower than the
  engine proves nothing. Measured at 200,000 requests, 4 instances, load 0.9, median of 7
  interleaved runs (``--requests``, ``--repeat``). The 95% intervals of both models' mean
  response times over those runs must overlap: they simulate the same system (with different
  random numbers: the engine draws its own in numpy blocks, which is part of its speed).
* **cost vs N**: CPU time per simulated request at 4, 400 and 4,000 instances (load 0.9, 100
  requests per instance, 10 users per instance, the set-up of instances and hash rings not
  counted), for every policy, a policy function and the sticky lesson's bounded-load hashing;
  budget: 4,000 within 2× of 4. Part of any growth is SimPy's own: its event heap holds one
  event per busy instance (O(log N) a step), and with many instances most requests find an
  idle one, which costs a wake-up event.
* **redraws**: every explorer (``simulations.explorer.explorers()``): the median time of a
  redraw at its default settings (run the model, update the figure, render the PNG); 150 ms.
* **memory**: peak resident memory of a fresh ``python -m simulations balance --requests 1000000
  --json``, and its growth per request over the same at 1,000 requests; 40 MB and 16 bytes.
* **start-up**: median wall time of ``python -m simulations --help``, interpreter included; 80 ms.

Times are CPU seconds of this process (``time.process_time``), medians of interleaved repeats,
so other programs on a shared machine disturb them less than wall-clock times (start-up, which
is about the wait a person sees, is wall time).
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import simpy

from simulations import knobs
from simulations.engine.policies import Policy
from simulations.replications import mean_interval
from simulations.scenarios.balance.model import BalanceRun, BalanceScenario, run_balance
from simulations.scenarios.sticky.affinity import BoundedLoadHash, ConsistentHash

OVERHEAD_BUDGET = 1.1
SCALING_BUDGET = 2.0  # per-request cost at the largest cluster over the smallest
SCALING_SIZES = (4, 400, 4_000)
REQUESTS_PER_INSTANCE = 100
USERS_PER_INSTANCE = 10  # users the sticky and hashing policies pin: 40 at 4 instances
REDRAW_BUDGET_MS = 150.0
MEMORY_BUDGET_MB = 40.0
BYTES_PER_REQUEST_BUDGET = 16.0
STARTUP_BUDGET_MS = 80.0
INSTANCES, ARRIVAL_RATE, SERVICE_RATE = 4, 3.6, 1.0  # four M/M/1-like queues at load 90%
POLICIES = ("random", "round_robin", "least_connections", "power_of_two", "sticky")
STICKY_USERS = 100  # run_balance's default number of equally active users


def lean_model(
    instances: int, arrival_rate: float, service_rate: float, requests: int, seed: int, routing: str
) -> float:
    """Bare SimPy, as lean as it gets: a deque per instance, one event to wake an idle server.

    The budget's baseline, written once and frozen: it routes like the engine's policies (ties
    broken at random, sticky users pinned round robin at their first request) and returns the
    mean response time, so both can be checked to simulate the same system.
    """
    rng = random.Random(seed)
    env = simpy.Environment()
    queues: list[deque[tuple[float, float]]] = [deque() for _ in range(instances)]
    lengths = [0] * instances
    wake: list[simpy.Event | None] = [None] * instances
    pins: dict[int, int] = {}
    total = [0.0]

    def server(k: int) -> Iterator[simpy.Event]:
        queue, timeout = queues[k], env.timeout
        while True:
            if not queue:
                wake[k] = env.event()
                yield wake[k]  # type: ignore[misc]
            arrived, service = queue.popleft()
            yield timeout(service)
            lengths[k] -= 1
            total[0] += env.now - arrived

    def choose(number: int) -> int:
        if routing == "random":
            return rng.randrange(instances)
        if routing == "round_robin":
            return number % instances
        if routing == "least_connections":
            fewest = min(lengths)
            tied = [k for k in range(instances) if lengths[k] == fewest]
            return tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]
        if routing == "power_of_two":
            a, b = rng.sample(range(instances), 2)
            return a if lengths[a] <= lengths[b] else b
        user = rng.randrange(STICKY_USERS)  # sticky
        return pins.setdefault(user, len(pins) % instances)

    def source() -> Iterator[simpy.Event]:
        timeout = env.timeout
        for number in range(requests):
            yield timeout(rng.expovariate(arrival_rate))
            k = choose(number)
            queues[k].append((env.now, rng.expovariate(service_rate)))
            lengths[k] += 1
            if wake[k] is not None:
                event, wake[k] = wake[k], None
                event.succeed()  # type: ignore[union-attr]

    for k in range(instances):
        env.process(server(k))
    env.process(source())
    env.run()
    return total[0] / requests


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


ENGINE, LEAN = "engine (run_balance)", "lean SimPy: deque + events (the budget's baseline)"
MODELS: dict[str, Callable[..., float]] = {
    ENGINE: engine_model,
    LEAN: lean_model,
    "bare SimPy: Store + server process": bare_store_model,
    "bare SimPy: Resource per request": bare_resource_model,
}
CONTEXT_ONLY = ("random", "round_robin")  # the idiomatic bare models route only these ways


def _cpu_seconds(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    value = action()
    return time.process_time() - started, value


def time_models(requests: int, repeat: int) -> list[dict[str, Any]]:
    """Median CPU time of every model for every policy, repeats interleaved."""
    rows = []
    for routing in POLICIES:
        models = {
            name: model
            for name, model in MODELS.items()
            if name in (ENGINE, LEAN) or routing in CONTEXT_ONLY
        }
        seconds: dict[str, list[float]] = {name: [] for name in models}
        means: dict[str, list[float]] = {name: [] for name in models}
        for attempt in range(repeat):
            for name, model in models.items():
                one_run = partial(
                    model, INSTANCES, ARRIVAL_RATE, SERVICE_RATE, requests, attempt, routing
                )
                spent, mean = _cpu_seconds(one_run)
                seconds[name].append(spent)
                means[name].append(mean)
        rows += [
            {
                "routing": routing,
                "model": name,
                "median_seconds": statistics.median(seconds[name]),
                "mean_response": statistics.fmean(means[name]),
                "interval": list(mean_interval(means[name])) if repeat > 1 else None,
            }
            for name in models
        ]
    return rows


def agree(engine: dict[str, Any], lean: dict[str, Any]) -> bool | None:
    """Do the engine's and the lean model's mean response times agree: do their 95% intervals
    overlap? (``None`` with a single run: no interval to say.)"""
    if engine["interval"] is None or lean["interval"] is None:
        return None
    (low, high), (other_low, other_high) = engine["interval"], lean["interval"]
    return low <= other_high and other_low <= high


def pick_at_random(queue_lengths: list[int], rng: random.Random) -> int:
    """A policy function that does not look at the lengths: what the engine itself costs."""
    return int(rng.random() * len(queue_lengths))


SIMPY_ALONE = "lean SimPy model, random (context)"
SCALING_POLICIES: dict[str, Callable[[], str | Policy | Callable[..., int]]] = {
    **{name: partial(str, name) for name in POLICIES},
    "function (pick_at_random)": lambda: pick_at_random,
    "bounded_load (lesson 06)": BoundedLoadHash,
}


def time_scaling(requests: int, repeat: int) -> list[dict[str, Any]]:
    """CPU microseconds per simulated request at every size of ``SCALING_SIZES``, each size
    timed over at least ``requests`` requests (small clusters repeat their short runs)."""

    def engine_run(make: Callable[[], Any], size: int, per_run: int, attempt: int) -> float:
        arrival_rate, users = 0.9 * size * SERVICE_RATE, USERS_PER_INSTANCE * size
        scenario = BalanceScenario(
            make(), size, arrival_rate, SERVICE_RATE, per_run, attempt, users=users
        )
        run = BalanceRun(scenario)
        if isinstance(run.policy, ConsistentHash):
            run.policy.home(run.balancer.live, 0)  # build the hash ring: set-up
        return _cpu_seconds(run.run)[0]

    def lean_run(size: int, per_run: int, attempt: int) -> float:
        arrival_rate = 0.9 * size * SERVICE_RATE
        return _cpu_seconds(
            partial(lean_model, size, arrival_rate, SERVICE_RATE, per_run, attempt, "random")
        )[0]

    timed: dict[str, Callable[[int, int, int], float]] = {
        label: partial(engine_run, make) for label, make in SCALING_POLICIES.items()
    }
    timed[SIMPY_ALONE] = lean_run  # its tiny set-up included
    rows = []
    for label, one_run in timed.items():
        per_request = {}
        for size in SCALING_SIZES:
            per_run = REQUESTS_PER_INSTANCE * size
            runs = max(min(repeat, 3), -(-requests // per_run))
            times = [one_run(size, per_run, attempt) / per_run for attempt in range(runs)]
            per_request[size] = 1e6 * statistics.median(times)
        smallest, largest = per_request[SCALING_SIZES[0]], per_request[SCALING_SIZES[-1]]
        rows.append(
            {
                "policy": label,
                "us_per_request": {str(size): cost for size, cost in per_request.items()},
                "growth": largest / smallest,
                "context": label == SIMPY_ALONE,
            }
        )
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
    """How long ``bench`` measures: requests per timed run, timed runs per model, the size of
    the memory run, and how many start-ups it times."""

    requests: int = knobs.count(
        200_000, "requests per timed run", high=knobs.MAX_REQUESTS, metavar="K"
    )
    repeat: int = knobs.count(7, "timed runs per model and policy; medians are reported", high=100)
    memory_requests: int = knobs.count(
        1_000_000,
        "requests of the run whose peak memory is measured",
        low=2_000,
        high=knobs.MAX_REQUESTS,
    )
    startup_runs: int = knobs.count(
        10, "start-ups of --help timed; the median is reported", high=100
    )

    def __post_init__(self) -> None:
        knobs.check(self)


SCENARIO = BenchSettings
DESCRIPTION = (
    "Time the balance engine against a lean hand-written SimPy model for every policy, every "
    "widget's redraw, the peak memory of a large run and the command line's start-up."
)


# Runs the command line in a fresh interpreter and reports that process's own high-water mark
# (VmHWM): a forked child's ru_maxrss would count the parent's memory from before the exec.
PEAK_PROBE = """
import runpy, sys
sys.argv = ["simulations", *sys.argv[1:]]
try:
    runpy.run_module("simulations", run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(line.split()[1], file=sys.stderr)
"""


def peak_memory_kb(argv: list[str]) -> int:
    """Peak resident memory (KB) of a fresh ``python -m simulations *argv``."""
    ran = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return int(ran.stderr.split()[-1])


def measure_memory(requests: int) -> dict[str, float]:
    """Peak memory of a ``balance`` run of ``requests``, and its growth per request over 1,000."""

    def of(count: int) -> int:
        return peak_memory_kb(["balance", "--requests", str(count), "--json"])

    small, large = of(1_000), of(requests)
    return {
        "requests": requests,
        "baseline_mb": small / 1024,  # the interpreter, SimPy, numpy and a 1,000-request run
        "peak_mb": large / 1024,
        "bytes_per_request": max(0, large - small) * 1024 / (requests - 1_000),
    }


def measure_startup(runs: int) -> float:
    """Median wall milliseconds of ``python -m simulations --help``, interpreter included."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "simulations", "--help"], stdout=subprocess.DEVNULL, check=True
        )
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def run(settings: BenchSettings) -> dict[str, Any]:
    models = time_models(settings.requests, settings.repeat)
    overhead, agreement = {}, {}
    for routing in POLICIES:
        by_name = {row["model"]: row for row in models if row["routing"] == routing}
        overhead[routing] = by_name[ENGINE]["median_seconds"] / by_name[LEAN]["median_seconds"]
        agreement[routing] = agree(by_name[ENGINE], by_name[LEAN])
    scaling = time_scaling(settings.requests, settings.repeat)
    redraws = time_redraws(settings.repeat)
    memory = measure_memory(settings.memory_requests)
    startup_ms = measure_startup(settings.startup_runs)
    verdicts = {
        "overhead": max(overhead.values()) <= OVERHEAD_BUDGET,
        "same_means": all(verdict is not False for verdict in agreement.values()),
        "scaling": all(row["growth"] <= SCALING_BUDGET for row in scaling if not row["context"]),
        "redraws": all(row["median_ms"] <= REDRAW_BUDGET_MS for row in redraws),
        "memory": memory["peak_mb"] <= MEMORY_BUDGET_MB
        and memory["bytes_per_request"] <= BYTES_PER_REQUEST_BUDGET,
        "startup": startup_ms <= STARTUP_BUDGET_MS,
    }
    return {
        "requests": settings.requests,
        "repeat": settings.repeat,
        "system": f"{INSTANCES} instances, arrival rate {ARRIVAL_RATE}, service rate "
        f"{SERVICE_RATE} (load {ARRIVAL_RATE / (INSTANCES * SERVICE_RATE):.0%})",
        "models": models,
        "overhead": overhead,
        "overhead_budget": OVERHEAD_BUDGET,
        "means_agree": agreement,
        "scaling": scaling,
        "scaling_budget": SCALING_BUDGET,
        "redraws": redraws,
        "redraw_budget_ms": REDRAW_BUDGET_MS,
        "memory": memory,
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "bytes_per_request_budget": BYTES_PER_REQUEST_BUDGET,
        "startup_ms": startup_ms,
        "startup_budget_ms": STARTUP_BUDGET_MS,
        "over_budget": [name for name, ok in verdicts.items() if not ok],
        "within_budget": all(verdicts.values()),
    }


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER BUDGET"


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"bench: {result['system']}, {result['requests']} requests, "
        f"median of {result['repeat']} runs (CPU time)",
        "",
        f"{'policy':<18} {'model':<52} {'seconds':>8} {'µs/request':>11} {'mean resp.':>11}",
    ]
    for row in result["models"]:
        per_request = 1e6 * row["median_seconds"] / result["requests"]
        lines.append(
            f"{row['routing']:<18} {row['model']:<52} {row['median_seconds']:8.3f} "
            f"{per_request:11.1f} {row['mean_response']:11.3f}"
        )
    lines.append("")
    budget = result["overhead_budget"]
    for routing, ratio in result["overhead"].items():
        same = {True: "means agree", False: "MEANS DISAGREE", None: "one run: no interval"}
        lines.append(
            f"overhead ({routing}): {ratio:.2f}× the lean SimPy model "
            f"(budget ≤ {budget}×) {_verdict(ratio <= budget)}; "
            f"{same[result['means_agree'][routing]]}"
        )
    sizes = list(result["scaling"][0]["us_per_request"]) if result["scaling"] else []
    lines += [
        "",
        f"cost per request (µs) at {', '.join(sizes)} instances, load 0.9, "
        f"{REQUESTS_PER_INSTANCE} requests per instance, set-up excluded:",
    ]
    for row in result["scaling"]:
        costs = "  ".join(f"{cost:7.2f}" for cost in row["us_per_request"].values())
        ok = row["growth"] <= result["scaling_budget"]
        verdict = "SimPy's own growth" if row["context"] else _verdict(ok)
        lines.append(
            f"  {row['policy']:<34} {costs}   {sizes[-1]} vs {sizes[0]}: {row['growth']:.2f}× "
            f"(budget ≤ {result['scaling_budget']:g}×) {verdict}"
        )
    lines.append("")
    for row in result["redraws"]:
        ok = row["median_ms"] <= result["redraw_budget_ms"]
        lines.append(
            f"redraw {row['widget']}: median {row['median_ms']:.0f} ms "
            f"(budget ≤ {result['redraw_budget_ms']:.0f} ms) {_verdict(ok)}"
        )
    memory = result["memory"]
    ok = memory["peak_mb"] <= result["memory_budget_mb"]
    ok = ok and memory["bytes_per_request"] <= result["bytes_per_request_budget"]
    lines.append(
        f"memory: balance at {memory['requests']} requests peaks at {memory['peak_mb']:.1f} MB, "
        f"{memory['bytes_per_request']:.1f} B per request over the "
        f"{memory['baseline_mb']:.1f} MB of a 1,000-request run (budget ≤ "
        f"{result['memory_budget_mb']:.0f} MB, ≤ {result['bytes_per_request_budget']:.0f} B) "
        f"{_verdict(ok)}"
    )
    ok = result["startup_ms"] <= result["startup_budget_ms"]
    lines.append(
        f"start-up: python -m simulations --help in {result['startup_ms']:.0f} ms "
        f"(budget ≤ {result['startup_budget_ms']:.0f} ms) {_verdict(ok)}"
    )
    if result["within_budget"]:
        lines.append("all within budget")
    else:
        lines.append("OVER BUDGET: " + ", ".join(result["over_budget"]))
    return "\n".join(lines)
