"""Lesson 04 exercise: how many requests does a crash cost?

``requests_lost(load, rerouted)``: one instance, busy a fraction ``load`` of the time (requests
arrive at random and take a random time: an M/M/1 queue), is killed at a random moment. How
many requests fail, on average? The one in service fails whenever there is one; the queued ones
fail too, unless the balancer resends them elsewhere (``rerouted``: possible only when the queue
waits in the balancer, as HAProxy's maxconn queue, not in the instance's socket, where a request
is already sent: lesson 04's lab). The check tries worked
cases, then kills an instance two hundred times in the crash simulation, at the load the
simulation measured, and compares.
"""

from __future__ import annotations

from collections.abc import Callable

from labs.checking import CheckReport, is_number
from simulations import run_crashes

Predictor = Callable[[float, bool], float]

# (load, rerouted, expected requests lost, what the case shows)
CASES = [
    (0.0, False, 0.0, "an idle instance: nothing to lose"),
    (0.5, False, 1.0, "half busy: one request there on average, and it fails"),
    (0.8, False, 4.0, "80% busy: four requests there on average, all of them fail"),
    (0.9, False, 9.0, "90% busy: nine, the queue grows fast near 100%"),
    (0.8, True, 0.8, "80% busy, queue resent elsewhere: only a request in service fails"),
    (0.5, True, 0.5, "half busy, queue resent: one request half the time"),
]
CRASHES, SPACING = 199, 200.0  # crashes of one instance, seconds apart: each finds it settled
TOLERANCE = 0.15  # the simulation's users wait for their answers: its queues are M/M/1-like
HINT = (
    "A crash at a random moment finds the instance as it usually is: busy a fraction load of "
    "the time, with as many requests as an M/M/1 server holds on average (Little's law: "
    "arrival rate × lesson 00's time in the system). Which of them fail, which are resent?",
    "everything at the instance fails: load / (1 - load); with the queue rerouted, only the "
    "one in service: load",
)


def check_requests_lost(requests_lost: Predictor, *, hint: bool = False) -> CheckReport:
    """Check ``requests_lost`` on worked cases, then against crashes in the simulation."""
    report = CheckReport("Exercise 04 · How many requests does a crash cost?", closer=hint)
    for load, rerouted, expected, story in CASES:
        before = len(report.lines)
        got = report.attempt(
            story, lambda load=load, rerouted=rerouted: requests_lost(load, rerouted), *HINT
        )
        if len(report.lines) > before:
            continue
        ok = is_number(got) and abs(float(got) - expected) < 1e-9
        report.expect(ok, f"{story} → {expected:g} (yours: {got!r})", *HINT)
    if not report.passed:
        return report.show()
    for rerouted in (False, True):
        simulated, load = _simulate(rerouted)
        predicted = float(requests_lost(load, rerouted))
        ok = abs(predicted - simulated) <= TOLERANCE * simulated
        queue = "queue resent" if rerouted else "queue lost"
        report.expect(
            ok,
            f"simulation, {queue}: {CRASHES} crashes at load {load:.3f} cost {simulated:.2f} "
            f"requests each, you predicted {predicted:.2f}",
            *HINT,
        )
    return report.show()


def _simulate(rerouted: bool) -> tuple[float, float]:
    """Requests failed per crash, and the measured load, over many crashes of one instance."""
    duration = (CRASHES + 1) * SPACING
    result = run_crashes(
        store="shared",
        policy="random",  # random routing splits Poisson arrivals into Poisson arrivals
        instances=4,
        users=320,  # one request every 100 s each: about 80% load on 4 instances at 1/s
        think_time=100.0,
        service_rate=1.0,
        duration=duration,
        crash_at=tuple(SPACING * (k + 1) for k in range(CRASHES)),
        crashes=1,
        restart_after=1.0,
        boot_time=1.0,
        retry_queued=rerouted,
        seed=3,
    )
    load = result.requests / (duration * 4 * 1.0)
    return (result.failed_in_flight + result.failed_queued) / CRASHES, load
