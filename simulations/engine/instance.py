"""An instance: one copy of the service, serving one request at a time from its own FIFO queue.

Each instance is a SimPy process that loops forever: take the oldest request from its queue,
spend the request's service time on it, report it done, repeat; with nothing to do, it sleeps
until the balancer hands it a request. This is the "single server, first in first out" queue of
queueing theory, the building block of everything in the course.

``queue_length`` counts every request at the instance, waiting or being served: what a load
balancer sees as open connections. ``alive`` is what a balancer checks before sending work;
the instance itself never changes it (crashes and restarts are a later lesson's business).
A policy that keeps count of queue lengths (least connections) sets ``watcher``: the instance
calls it whenever its ``queue_length`` changes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator

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
        self.busy_time = 0.0  # total service time spent: busy_time / duration = utilization
        self.response_times = metrics.register()  # of the requests it served: 8 bytes each
        self.watcher: Callable[[Instance], None] | None = None
        self._wake_up: simpy.Event | None = None
        self.process = env.process(self.serve())

    def submit(self, request: Request) -> None:
        """Put a request at the back of the queue (and wake the server if it was idle)."""
        self.queue.append(request)
        self.queue_length += 1
        if self.watcher is not None:  # (= self.queue_changed(), inline: it runs per request)
            self.watcher(self)
        if self._wake_up is not None:
            wake_up, self._wake_up = self._wake_up, None
            wake_up.succeed()

    def serve(self) -> Iterator[simpy.Event]:
        """The server's life: take the oldest request, work on it, report it done, repeat."""
        env, queue, metrics = self.env, self.queue, self.metrics
        # Looked up once, and calls written out below: this loop runs once per request, and a
        # simulation of a million requests spends most of its time here and in SimPy.
        timeout, record = env.timeout, self.response_times.append
        while True:
            if not queue:
                self._wake_up = env.event()
                yield self._wake_up
            request = queue.popleft()
            yield timeout(request.service_time)
            self.queue_length -= 1
            if self.watcher is not None:  # (= self.queue_changed())
                self.watcher(self)
            self.busy_time += request.service_time
            record(env.now - request.arrived)
            metrics.pending -= 1  # (= metrics.completed(request, env.now))
            if not metrics.pending:
                metrics.done.succeed()

    @property
    def served(self) -> int:
        """How many requests it has served."""
        return len(self.response_times)

    @property
    def time_in_system(self) -> float:
        """The sum of its requests' response times (÷ duration = its mean queue length, by
        Little's law)."""
        return math.fsum(self.response_times)

    def queue_changed(self) -> None:
        """Tell the watching policy, if any, that ``queue_length`` changed."""
        if self.watcher is not None:
            self.watcher(self)

    def __repr__(self) -> str:
        state = "alive" if self.alive else "down"
        return f"Instance({self.index}, queue_length={self.queue_length}, {state})"
