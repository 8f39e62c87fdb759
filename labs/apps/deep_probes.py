"""The probes of lesson 11's restart storm: a liveness check that pings Redis (don't do this).

"Deep" health checks, which test every dependency, are a common first design: if Redis is down
the instance is useless, so why not say it is dead? Because liveness is the probe whose answer
gets the instance *restarted*, and every instance shares the same Redis: a Redis blip fails
them all at once, the supervisor restarts the whole fleet, and the fleet comes back cold (caches
empty, connections new) only after Redis *and* its own boot. Compare :mod:`labs.apps.probes`.

Run an app with them: ``config={"PROBES": "labs.apps.deep_probes"}`` or ``PROBES=...``.
"""

from __future__ import annotations

from labs.apps.probes import Instance, readiness

__all__ = ["liveness", "readiness"]


def liveness(instance: Instance) -> bool:
    """Alive only if the store answers: the anti-pattern. (A store error reaches the app: 503.)"""
    if instance.store is not None:
        instance.store.ping()
    return True
