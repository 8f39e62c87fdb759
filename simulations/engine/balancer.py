"""The load balancer: every request passes through it on its way to an instance.

It holds the list of instances, asks its policy which live instance should take each request,
and hands the request over. If no instance is alive the request fails: nobody can serve it.
Routing takes no simulated time here (a real balancer adds well under a millisecond).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from simulations.engine.instance import Instance
from simulations.engine.metrics import Metrics
from simulations.engine.policies import Policy
from simulations.engine.workload import Request


class LoadBalancer:
    """Routes each request to the live instance its policy chooses."""

    def __init__(
        self,
        instances: Sequence[Instance],
        policy: Policy,
        rng: random.Random,
        metrics: Metrics,
    ) -> None:
        self.instances = list(instances)
        self.policy = policy
        self.rng = rng
        self.metrics = metrics
        self.live = [instance for instance in self.instances if instance.alive]

    def refresh(self) -> None:
        """Re-read which instances are alive (call it after changing an ``alive`` flag)."""
        self.live = [instance for instance in self.instances if instance.alive]

    def route(self, request: Request) -> None:
        """Send ``request`` to the instance the policy picks, or fail it if none is alive."""
        live = self.live
        if not live:
            self.metrics.failure(request)
            return
        self.policy.choose(live, request, self.rng).submit(request)
