"""Exercise 11, one solution: liveness asks nothing shared; readiness asks the store.

Liveness is the probe whose no gets the instance restarted, so it checks only what a restart
can fix: this process. Answering at all is the proof (a hung worker does not answer, and the
probe times out). Readiness is the probe whose no only takes the instance out of the pool: it
says no while the instance drains, and while the store does not answer a PING, and yes again as
soon as it does, because it asks afresh every time. (Letting Redis's error through instead of
returning False, as ``labs/apps/probes.py`` does, passes too: the app answers it with a 503.)
"""

import redis


def liveness(instance):
    """Alive: this process answers. Never the store: its outage is not this process's fault."""
    return True


def readiness(instance):
    """Ready: not draining, and the store answers now."""
    if instance.draining:
        return False
    if instance.store is None:  # an app with no store: nothing else to wait for
        return True
    try:
        instance.store.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    return True
