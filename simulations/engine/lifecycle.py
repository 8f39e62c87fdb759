"""Instance lifecycle: an instance boots, serves, and then crashes, or drains and leaves.

The engine's ``Instance`` serves forever. Here it can also die, the way real processes do:

* **boot**: a new or restarted instance needs ``boot_time`` before it can serve (start the
  process, load code, warm caches, pass the readiness check); only then does the balancer send
  it requests;
* **crash** (``kill -9``, a lost node): the SimPy process is *interrupted* in the middle of
  whatever it was doing; the request in service fails with it, and the requests waiting in its
  queue either fail too or are sent elsewhere by the balancer (``retry_queued``: they never
  reached the application, so resending them is safe);
* **restart**: after ``restart_after`` a crashed instance comes back, *empty*: whatever it kept
  in memory (sessions!) died with the old process;
* **drain** (a graceful shutdown: SIGTERM, readiness → 503): the instance leaves the balancer's
  pool at once, finishes every request it already accepted, then leaves;
* **stop** (no draining): it leaves at once; what it held fails, like a crash.

``Cluster`` is the operator's view: the instances behind one load balancer, and the actions
scenarios use (``crash``, ``restart``, ``launch``, ``retire``). Every request ends exactly once,
served or failed; ``LifecycleMetrics`` says why each failure happened.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import simpy

from simulations.engine.balancer import LoadBalancer
from simulations.engine.instance import Instance
from simulations.engine.metrics import Metrics
from simulations.engine.policies import Policy
from simulations.engine.workload import Request

BOOTING, READY, DRAINING, DOWN, GONE = "booting", "ready", "draining", "down", "gone"
FAILURE_CAUSES = ("in_flight", "queued", "no_instance")

Listener = Callable[[Request, "MortalInstance"], None]


class LifecycleMetrics(Metrics):
    """The engine's metrics, plus why each failed request failed (see ``FAILURE_CAUSES``)."""

    def __init__(self, env: simpy.Environment, expected: int) -> None:
        super().__init__(env, expected)
        self.failures: Counter[str] = Counter()
        # Arrivals in ``window`` have their response times kept apart too (the spike, for the
        # autoscaler); nothing more per request is recorded than what a result reports.
        self.window: tuple[float, float] | None = None
        self.in_window: array[float] = array("d")

    def completed(self, request: Request, now: float) -> None:
        window = self.window
        if window is not None and window[0] <= request.arrived < window[1]:
            self.in_window.append(now - request.arrived)
        super().completed(request, now)

    def failure(self, request: Request, cause: str = "no_instance") -> None:
        """``in_flight``: being served when its instance died; ``queued``: waiting there;
        ``no_instance``: the balancer had no live instance (the engine's only cause)."""
        self.failures[cause] += 1
        super().failure(request)


class MortalInstance(Instance):
    """An engine instance that can boot, crash, restart and drain (``state`` says which)."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        metrics: LifecycleMetrics,
        booting: bool = False,
        version: int = 1,
    ) -> None:
        super().__init__(env, index, metrics)
        self.metrics: LifecycleMetrics = metrics
        self.version = version
        self.state = BOOTING if booting else READY
        self.alive = not booting  # "alive" is what the balancer reads: in its pool or not
        self.ready_since = env.now
        self.busy_at_ready = 0.0  # busy_time when it last became ready (restarts keep counting)
        self.in_service: Request | None = None
        self.service_started = 0.0
        self.on_gone: Callable[[MortalInstance], None] | None = None

    def serve(self) -> Iterator[simpy.Event]:
        """The server's life: take the oldest request, work on it, repeat; a crash ends it,
        and a draining instance leaves once its queue is empty."""
        env, queue = self.env, self.queue
        while True:
            while not queue:
                if self.state == DRAINING:
                    self._leave()
                    return
                self._wake_up = env.event()
                try:
                    yield self._wake_up
                except simpy.Interrupt:
                    return  # crashed while idle
            request = queue.popleft()
            self.in_service, self.service_started = request, env.now
            try:
                yield env.timeout(request.service_time)
            except simpy.Interrupt:
                return  # crashed mid-request: crash() has already failed the request
            self.in_service = None
            now = env.now
            self.queue_length -= 1
            self.queue_changed()
            self.busy_time += request.service_time
            self.response_times.append(now - request.arrived)
            self.metrics.completed(request, now)

    def busy_until(self, now: float) -> float:
        """Time spent serving so far, counting the request in service up to ``now``."""
        if self.in_service is None:
            return self.busy_time
        return self.busy_time + (now - self.service_started)

    def crash(self) -> list[Request]:
        """Die now: the request in service fails; returns the queued requests (not yet failed:
        the cluster fails or reroutes them)."""
        if self.in_service is not None:
            self.busy_time += self.env.now - self.service_started
            self.metrics.failure(self.in_service, "in_flight")
            self.in_service = None
        queued = list(self.queue)
        self.queue.clear()
        self.queue_length = 0
        self.queue_changed()
        self._wake_up = None
        self.alive, self.state = False, DOWN
        if self.process.is_alive:
            self.process.interrupt("crash")
        return queued

    def come_up(self) -> None:
        """Booted: ready to serve (a restarted instance gets a fresh process, empty memory)."""
        self.alive, self.state = True, READY
        self.ready_since, self.busy_at_ready = self.env.now, self.busy_time
        if not self.process.is_alive:
            self.process = self.env.process(self.serve())

    def drain(self, on_gone: Callable[[MortalInstance], None]) -> None:
        """Stop taking new requests, finish the accepted ones, then leave (calls ``on_gone``)."""
        self.alive, self.state = False, DRAINING
        self.on_gone = on_gone
        if self._wake_up is not None:  # idle: wake the server so it sees it may leave
            wake_up, self._wake_up = self._wake_up, None
            wake_up.succeed()

    def _leave(self) -> None:
        self.state = GONE
        if self.on_gone is not None:
            self.on_gone(self)

    def __repr__(self) -> str:
        state = f"v{self.version}, {self.state}, queue={self.queue_length}"
        return f"MortalInstance({self.index}, {state})"


class ListeningBalancer(LoadBalancer):
    """The engine's balancer, telling a listener where each request went (sessions need it)."""

    def __init__(
        self,
        instances: Sequence[Instance],
        policy: Policy,
        rng: random.Random,
        metrics: Metrics,
        on_routed: Listener | None = None,
    ) -> None:
        super().__init__(instances, policy, rng, metrics)
        self.on_routed = on_routed
        self.routed: Counter[int] = Counter()

    def route(self, request: Request) -> None:
        """Send ``request`` to the instance the policy picks, or fail it if none is alive."""
        if not self.live:
            self.metrics.failure(request)
            return
        instance = self.policy.choose(self.live, request, self.rng)
        self.routed[instance.index] += 1
        if self.on_routed is not None:
            self.on_routed(request, instance)
        instance.submit(request)


@dataclass(frozen=True)
class ClusterEvent:
    """Something that happened to an instance: ``kind`` is crash, restart, ready, drain,
    stop or gone; ``sessions_lost`` and ``requests`` are what it cost then."""

    time: float
    kind: str
    instance: int
    sessions_lost: int = 0
    requests: int = 0  # crash/stop: queued requests it held; drain: still to finish


@dataclass
class Cluster:
    """The instances behind one load balancer, and what an operator (or fate) can do to them.

    ``on_lost(instance) -> int`` is called when an instance dies or leaves the pool and returns
    how many sessions went with it (the session store decides; a shared store loses none).
    """

    env: simpy.Environment
    metrics: LifecycleMetrics
    balancer: ListeningBalancer
    on_lost: Callable[[MortalInstance], int] | None = None
    retry_queued: bool = False
    events: list[ClusterEvent] = field(default_factory=list)
    rerouted: int = 0
    _ready_waiters: list[simpy.Event] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        env: simpy.Environment,
        size: int,
        policy: Policy,
        rng: random.Random,
        metrics: LifecycleMetrics,
        on_routed: Listener | None = None,
        on_lost: Callable[[MortalInstance], int] | None = None,
        retry_queued: bool = False,
    ) -> Cluster:
        """``size`` ready instances behind a balancer using ``policy``."""
        pool = [MortalInstance(env, index, metrics) for index in range(size)]
        balancer = ListeningBalancer(pool, policy, rng, metrics, on_routed)
        return cls(env, metrics, balancer, on_lost, retry_queued)

    @property
    def instances(self) -> list[MortalInstance]:
        return self.balancer.instances  # type: ignore[return-value]

    def in_state(self, *states: str) -> list[MortalInstance]:
        """The instances currently in one of ``states`` (e.g. ``READY``)."""
        return [instance for instance in self.instances if instance.state in states]

    def count(self, state: str) -> int:
        return sum(instance.state == state for instance in self.instances)

    def crash(self, instance: MortalInstance) -> ClusterEvent:
        """Kill ``instance`` now: what it was serving fails, its queue fails or is rerouted,
        its in-memory sessions are lost."""
        event = self._kill(instance, "crash", DOWN)
        self.events.append(event)
        return event

    def restart(self, instance: MortalInstance, after: float, boot_time: float) -> simpy.Process:
        """Bring a crashed ``instance`` back after ``after``, serving ``boot_time`` later."""
        return self.env.process(self._restart(instance, after, boot_time))

    def _restart(
        self, instance: MortalInstance, after: float, boot_time: float
    ) -> Iterator[simpy.Event]:
        yield self.env.timeout(after)
        instance.state = BOOTING
        self.events.append(ClusterEvent(self.env.now, "restart", instance.index))
        yield self.env.timeout(boot_time)
        self._come_up(instance)

    def launch(self, boot_time: float, version: int = 1) -> MortalInstance:
        """Start one new instance; it joins the balancer's pool after ``boot_time``."""
        instance = MortalInstance(
            self.env, len(self.instances), self.metrics, booting=True, version=version
        )
        self.instances.append(instance)
        self.env.process(self._boot(instance, boot_time))
        return instance

    def _boot(self, instance: MortalInstance, boot_time: float) -> Iterator[simpy.Event]:
        yield self.env.timeout(boot_time)
        if instance.state == BOOTING:  # not cancelled while booting
            self._come_up(instance)

    def _come_up(self, instance: MortalInstance) -> None:
        instance.come_up()
        self.balancer.refresh()
        self.events.append(ClusterEvent(self.env.now, "ready", instance.index))
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            waiter.succeed(instance)

    def next_ready(self) -> simpy.Event:
        """An event that fires when the next instance becomes ready (value: that instance)."""
        waiter = self.env.event()
        self._ready_waiters.append(waiter)
        return waiter

    def retire(self, instance: MortalInstance, drain: bool) -> ClusterEvent:
        """Take ``instance`` out for good: drain it (finish its queue, then leave) or stop it
        now (what it holds fails). Its in-memory sessions are lost either way."""
        if instance.state == BOOTING:  # never served: nothing to drain, nothing to lose
            instance.alive, instance.state = False, GONE
            event = ClusterEvent(self.env.now, "cancel", instance.index)
        elif drain:
            instance.drain(self._gone)
            self.balancer.refresh()
            event = ClusterEvent(
                self.env.now, "drain", instance.index, self._lose(instance), instance.queue_length
            )
        else:
            event = self._kill(instance, "stop", GONE)
        self.events.append(event)
        return event

    def _kill(self, instance: MortalInstance, kind: str, state: str) -> ClusterEvent:
        """End the process now (a crash, or a stop without draining) and leave it in ``state``:
        what it was serving fails, its queue fails or is rerouted, its sessions are lost."""
        queued = instance.crash()
        instance.state = state
        self.balancer.refresh()
        lost = self._lose(instance)
        self._fail_or_reroute(queued)
        return ClusterEvent(self.env.now, kind, instance.index, lost, len(queued))

    def _lose(self, instance: MortalInstance) -> int:
        return 0 if self.on_lost is None else self.on_lost(instance)

    def _gone(self, instance: MortalInstance) -> None:
        self.events.append(ClusterEvent(self.env.now, "gone", instance.index))

    def _fail_or_reroute(self, queued: list[Request]) -> None:
        for request in queued:
            if self.retry_queued:
                self.rerouted += 1
                self.balancer.route(request)
            else:
                self.metrics.failure(request, "queued")


def replay(
    env: simpy.Environment, requests: Sequence[Request], balancer: LoadBalancer
) -> Iterator[simpy.Event]:
    """The users, as one SimPy process: send each pre-drawn request at its arrival time."""
    for request in requests:
        if request.arrived > env.now:
            yield env.timeout(request.arrived - env.now)
        balancer.route(request)


def sample(
    env: simpy.Environment,
    every: float,
    probe: Callable[[], tuple],
    into: list[tuple],
    until: float = math.inf,
) -> Iterator[simpy.Event]:
    """The monitor, as one SimPy process: every ``every``, append ``(now, *probe())``, up to
    ``until`` (the end of the traffic: a backlog that takes ages to drain adds no samples)."""
    while env.now <= until:
        into.append((env.now, *probe()))
        yield env.timeout(every)


def poisson_times(rng: random.Random, rate: float, start: float, end: float) -> list[float]:
    """Arrival times of a Poisson process of ``rate`` per second on ``[start, end)``."""
    times, now = [], start
    while True:
        now += rng.expovariate(rate)
        if now >= end:
            return times
        times.append(now)
