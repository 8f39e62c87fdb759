"""``python -m simulations events``: events over long-lived connections, and a reconnect storm.

python -m simulations events --crash none --pubsub memory --instances 8 --replications 10
python -m simulations events --backoff jitter --base 1 --json
"""

from __future__ import annotations

from typing import Any

from simulations.cli import table
from simulations.scenarios.events.model import BUCKET, EventsModel, EventsScenario

SCENARIO = EventsScenario
REPLICABLE = True  # --replications R: counts summed, the rest averaged, 95% intervals
DESCRIPTION = (
    "N × C clients hold long-lived connections (SSE, WebSocket) to random instances; events "
    "published to a random instance reach only that instance's clients (1/N of them) unless a "
    "pub/sub broker carries them to every instance. With --crash one, instance 0 dies and its "
    "clients reconnect to the survivors, at once, after a fixed delay or with full-jitter "
    "backoff; each survivor accepts one handshake at a time, and an attempt that waits past "
    "the connect timeout fails and is retried."
)


def run(scenario: EventsScenario) -> dict[str, Any]:
    return EventsModel(scenario).run().to_dict()


def format_table(result: dict[str, Any]) -> str:
    runs = result.get("interval", {}).get("replications", 1)  # counts are summed over runs
    over = f" (over {runs} runs)" if runs > 1 else ""
    theory = result["theory_fraction"]
    rows = [
        (
            "setup",
            f"{result['instances']} instances, {result['connections']} connections{over}, "
            f"events through {result['pubsub']}",
        ),
        (
            "delivered",
            f"{result['delivered_fraction']:.1%} of {result['events']} events × clients{over}"
            + (f" (theory {theory:.1%})" if theory is not None else ""),
        ),
    ]
    if result["crash"] == "one":
        delay = {"none": "at once", "fixed": f"after {result['base']:g} s"}.get(
            result["backoff"],
            f"with full jitter, base {result['base']:g} s, cap {result['cap']:g} s",
        )
        rows += [
            (
                "crash",
                f"instance 0 at {result['crash_at']:g} s: {result['dropped']} clients dropped, "
                f"reconnecting {delay}",
            ),
            (
                "attempts",
                f"{result['attempts']}, {result['failed_attempts']} failed (waited more than "
                f"{result['connect_timeout']:g} s for a {result['handshake_ms']:g} ms handshake)",
            ),
            (
                "peak",
                f"{result['peak_per_instance']:g} attempts on one survivor in "
                f"{BUCKET * 1000:g} ms (it can accept {BUCKET * 1000 / result['handshake_ms']:g})",
            ),
            (
                "back",
                f"{result['reconnected']} of {result['dropped']} after "
                f"{result['reconnect_time']:.2f} s (mean gap {result['mean_gap']:.2f} s)",
            ),
            ("missed", f"{result['missed']} events published while a client was away"),
        ]
    rows.append(("seed", str(result["seed"])))
    return table(rows)
