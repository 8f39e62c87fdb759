"""What ``/healthz`` and ``/readyz`` check: the course's two probes (lesson 11).

A probe is a function of the instance that returns True or False; the app answers 200 for True
and a JSON 503 for False. Kubernetes (or the course's supervisor, ``labs.cluster.supervisor``)
acts on the answer, and the two answers ask for two different actions:

* **liveness** (``/healthz``): "is this process broken in a way only a restart can fix?" A no
  gets the instance *killed and restarted*. It checks the process itself and nothing it shares:
  if it pinged Redis, a Redis outage would fail every instance's liveness at once and restart
  the whole fleet, which cannot bring Redis back (the restart storm of lesson 11). Here, being
  able to answer at all is the proof: a hung worker does not answer, and the probe times out.
* **readiness** (``/readyz``): "should requests come to me now?" A no only takes the instance
  out of the balancer's pool until it says yes again. It may check what a request needs: here,
  that the instance is not draining (a SIGTERM arrived) and that the shared store answers.

``config["PROBES"]`` (or the ``PROBES`` environment variable) names another module with the
same two functions (exercise 11's ``my_probes``): every app that uses
:func:`labs.apps.web.add_health_routes` then answers its probes with those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labs.apps import draining


@dataclass(frozen=True)
class Instance:
    """What a probe may look at: this instance's id and its client of the shared store."""

    id: str
    store: Any = None  # a redis-py client (short timeouts), or None for an app with no store

    @property
    def draining(self) -> bool:
        """True once SIGTERM arrived: the instance finishes its work and takes no new work."""
        return draining.is_draining()


def liveness(instance: Instance) -> bool:
    """Alive: this process answers. Never the store: its outage is not this process's fault."""
    return True


def readiness(instance: Instance) -> bool:
    """Ready: not draining, and the store answers a PING (if it does not, the client's error
    reaches the app, which answers it with a 503 naming the store)."""
    if instance.draining:
        return False
    if instance.store is not None:
        instance.store.ping()
    return True
