"""An instance: one copy of the service, serving one request at a time from its own FIFO queue.

Each instance is a SimPy process that loops forever: take the oldest request from its queue,
spend the request's service time on it, report it done, repeat; with nothing to do, it sleeps
until the balancer hands it a request. This is the "single server, first in first out" queue of
queueing theory, the building block of everything in the course.

``queue_length`` counts every request at the instance, waiting or being served: what a load
balancer sees as open connections. ``alive`` is what a balancer checks before sending work;
the instance itself never changes it (crashes and restarts are a later lesson's business).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import simpy

from simulations.engine.metrics import Metrics
from simulations.engine.workload import Request


class Instance:
    """One server with a FIFO queue, and the counters its utilization is computed from."""

    def __init__(self, env: simpy.Environment, index: int, metrics: Metrics) -> None:
        self.env = env
        self.index = index
        self.metrics = metrics
        self.queue: deque[Request] = deque()
        self.queue_length = 0  # waiting + in service
        self.alive = True
        self.served = 0
        self.busy_time = 0.0  # total service time spent: busy_time / duration = utilization
        self.time_in_system = 0.0  # sum of its requests' response times (Little's law → mean L)
        self._wake_up: simpy.Event | None = None
        self.process = env.process(self.serve())

    def submit(self, request: Request) -> None:
        """Put a request at the back of the queue (and wake the server if it was idle)."""
        self.queue.append(request)
        self.queue_length += 1
        if self._wake_up is not None:
            wake_up, self._wake_up = self._wake_up, None
            wake_up.succeed()

    def serve(self) -> Iterator[simpy.Event]:
        """The server's life: take the oldest request, work on it, report it done, repeat."""
        env, queue, metrics = self.env, self.queue, self.metrics
        while True:
            if not queue:
                self._wake_up = env.event()
                yield self._wake_up
            request = queue.popleft()
            yield env.timeout(request.service_time)
            now = env.now
            self.queue_length -= 1
            self.served += 1
            self.busy_time += request.service_time
            self.time_in_system += now - request.arrived
            metrics.completed(request, now)

    def __repr__(self) -> str:
        state = "alive" if self.alive else "down"
        return f"Instance({self.index}, queue_length={self.queue_length}, {state})"
