"""How long does a request take? Compare lab apps fairly, in one process (lesson 02).

``compare_latency`` logs the same user in to each app, then sends ``requests`` rounds of the
same request, one to each app per round (interleaved, so a burst of load on the machine hits
every app alike), and returns each app's median in microseconds. Timings are wall-clock, so
they vary from run to run and machine to machine: lessons print them, they never assert them
tightly.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

from flask import Flask

from labs.apps.users import demo_password


class LatencyError(RuntimeError):
    """A timed request did not succeed, so its time means nothing."""


def compare_latency(
    apps: Mapping[str, Flask], path: str = "/me", requests: int = 200, user: str = "alice"
) -> dict[str, float]:
    """Median time of ``GET path`` per app, in µs, over ``requests`` interleaved rounds."""
    if requests < 1:
        raise ValueError("requests must be at least 1")
    clients = {name: app.test_client() for name, app in apps.items()}
    for name, client in clients.items():
        login = client.post("/login", json={"username": user, "password": demo_password(user)})
        if login.status_code != 200:
            raise LatencyError(f"{name}: login failed with {login.status_code}")
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(requests):
        for name, client in clients.items():
            started = time.perf_counter()
            status = client.get(path).status_code
            samples[name].append(time.perf_counter() - started)
            if status != 200:
                raise LatencyError(f"{name}: GET {path} answered {status}")
    return {name: 1e6 * statistics.median(times) for name, times in samples.items()}
