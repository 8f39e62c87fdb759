"""A supervisor that acts on probes the way a kubelet does (lesson 11).

Kubernetes does not only *ask* an instance whether it is healthy: it acts on the answer, and
each probe has its own action. This module does the same for a :class:`ProcessCluster` on your
machine, with Kubernetes' names for the settings (``periodSeconds``, ``failureThreshold``,
``initialDelaySeconds``, ``timeoutSeconds``, ``successThreshold``)::

    probes = Probes(
        liveness=Probe("/healthz", periodSeconds=0.25, failureThreshold=3),
        readiness=Probe("/readyz", periodSeconds=0.1, failureThreshold=2),
    )
    with ProcessCluster("stateless", 3, probes=probes) as cluster:
        cluster.supervisor.restarts      # {"A": 0, "B": 0, "C": 0}

For every instance, and every probe, a thread sends ``GET path`` every ``periodSeconds`` (the
first one ``initialDelaySeconds`` after the instance starts). An answer other than 200 within
``timeoutSeconds`` (no answer, a refused connection, a 503) is a failure; ``failureThreshold``
failures in a row, and the probe acts:

* **liveness** failed: the instance is *restarted*: ``kill -9`` of its process group, a new
  process on the same port, which starts from nothing (its boot time, its memory empty). Its
  probes start again after their ``initialDelaySeconds``; it is not ready until its readiness
  probe says so.
* **readiness** failed: the instance leaves the balancer's pool (no request goes to it) and
  keeps running; ``successThreshold`` successes in a row put it back.
* **startup** (optional) runs first: until it succeeds once, the other two wait; if it fails
  ``failureThreshold`` times, the instance is restarted (a boot that never ends).

A kubelet lets a killed container's ``terminationGracePeriodSeconds`` run out first (SIGTERM,
then SIGKILL); a probe failure means the process is presumed stuck, so this one kills at once.
Kubernetes also waits longer and longer between restarts of a container that keeps failing
(CrashLoopBackOff, 10 s doubling to 5 min); this supervisor restarts at once, every time: the
lesson's storms are the fast version of the same story.

Everything it does is in :attr:`Supervisor.events`, with the time since it started.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Probe:
    """One probe, with Kubernetes' settings (in seconds; the lab runs them faster)."""

    path: str
    periodSeconds: float = 10.0  # Kubernetes' names, on purpose
    failureThreshold: int = 3
    successThreshold: int = 1
    initialDelaySeconds: float = 0.0
    timeoutSeconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"a probe's path starts with '/', not {self.path!r}")
        for name in ("periodSeconds", "timeoutSeconds"):
            if not 0.01 <= getattr(self, name) <= 300:
                raise ValueError(f"{name} must be from 0.01 to 300 s, not {getattr(self, name)!r}")
        if not 0 <= self.initialDelaySeconds <= 300:
            raise ValueError("initialDelaySeconds must be from 0 to 300 s")
        for name in ("failureThreshold", "successThreshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise ValueError(f"{name} must be a whole number from 1 to 100, not {value!r}")

    @property
    def detection_seconds(self) -> float:
        """How long a failure that starts right after a success takes to be acted on, at most:
        ``periodSeconds × failureThreshold`` (plus the last probe's timeout if it hangs)."""
        return self.periodSeconds * self.failureThreshold

    def scaled(self, factor: float) -> Probe:
        """The same probe with every time divided by ``factor`` (the lab's faster clock)."""
        return Probe(
            self.path,
            self.periodSeconds / factor,
            self.failureThreshold,
            self.successThreshold,
            self.initialDelaySeconds / factor,
            self.timeoutSeconds / factor,
        )


@dataclass(frozen=True)
class Probes:
    """The probes of one container: liveness, readiness and an optional startup probe."""

    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None


@dataclass(frozen=True)
class Event:
    """Something the supervisor saw or did: ``at`` seconds after it started."""

    at: float
    instance: str
    what: str  # "unready", "ready", "restarted (liveness)", "restarted (startup)", "terminating"

    def __str__(self) -> str:
        return f"{self.at:6.2f} s  {self.instance}  {self.what}"


class Supervised(Protocol):
    """What the supervisor needs of a cluster (``ProcessCluster`` has it)."""

    def instance_port(self, which: str) -> int: ...
    def relaunch(self, which: str) -> None: ...
    def set_ready(self, which: str, ready: bool) -> None: ...


@dataclass
class _Watch:
    """One instance's probes: the threads, and what they found."""

    instance: str
    generation: int = 0  # +1 on each restart: the old threads see it and stop
    terminating: bool = False  # SIGTERM sent: no more liveness, no restart
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Probes every instance of ``cluster`` and acts on the answers (see the module's text)."""

    def __init__(
        self,
        cluster: Supervised,
        probes: Probes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if probes.liveness is None and probes.readiness is None and probes.startup is None:
            raise ValueError("a supervisor needs at least one probe")
        self.cluster = cluster
        self.probes = probes
        self._clock = clock
        self._started_at = clock()
        self._lock = threading.RLock()
        self._watches: dict[str, _Watch] = {}
        self._ready: dict[str, bool] = {}
        self._stopped = threading.Event()
        self.restarts: Counter[str] = Counter()
        self.events: list[Event] = []

    # --- what a lesson reads -----------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the supervisor started (the clock of :attr:`events`)."""
        return self._clock() - self._started_at

    def is_ready(self, which: str) -> bool:
        """Whether instance ``which`` is in the balancer's pool right now."""
        with self._lock:
            return self._ready.get(which, False)

    def ready_instances(self) -> list[str]:
        with self._lock:
            return [name for name, ready in self._ready.items() if ready]

    def total_restarts(self) -> int:
        with self._lock:
            return sum(self.restarts.values())

    # --- starting and stopping ---------------------------------------------------------------

    def watch(self, which: str) -> None:
        """Start probing instance ``which`` (just started): unready until readiness says yes."""
        with self._lock:
            if self._stopped.is_set():
                return
            watch = self._watches.get(which)
            if watch is None:
                watch = self._watches[which] = _Watch(which)
            else:
                watch.generation += 1
                watch.terminating = False
            self._set_ready(which, self.probes.readiness is None)
            generation = watch.generation
            started = threading.Event()  # set when startup succeeds (at once without one)
            if self.probes.startup is None:
                started.set()
            kinds = [
                ("startup", self.probes.startup),
                ("liveness", self.probes.liveness),
                ("readiness", self.probes.readiness),
            ]
            for kind, probe in kinds:
                if probe is None:
                    continue
                thread = threading.Thread(
                    target=self._probe_loop,
                    args=(watch, generation, kind, probe, started),
                    name=f"probe-{which}-{kind}",
                    daemon=True,
                )
                watch.threads.append(thread)
                thread.start()

    def terminating(self, which: str) -> None:
        """Instance ``which`` was sent SIGTERM (a deploy, a scale-in): it is not restarted any
        more, and its readiness probe goes on until it exits, as the endpoints of a terminating
        Kubernetes pod are removed only once the pod is seen going."""
        with self._lock:
            watch = self._watches.get(which)
            if watch is not None:
                watch.terminating = True
                self.events.append(Event(self.now(), which, "terminating (SIGTERM)"))

    def forget(self, which: str) -> None:
        """Stop probing instance ``which`` (it is being removed from the cluster)."""
        with self._lock:
            watch = self._watches.pop(which, None)
            self._ready.pop(which, None)
            if watch is not None:
                watch.generation += 1

    def stop(self) -> None:
        """Stop every probe (safe to call twice); waits for the probing threads."""
        with self._lock:
            self._stopped.set()
            threads = [t for watch in self._watches.values() for t in watch.threads]
        for thread in threads:
            thread.join(timeout=5)

    # --- internals ---------------------------------------------------------------------------

    def _current(self, watch: _Watch, generation: int) -> bool:
        with self._lock:
            return (
                not self._stopped.is_set()
                and self._watches.get(watch.instance) is watch
                and watch.generation == generation
            )

    def _probe_loop(
        self, watch: _Watch, generation: int, kind: str, probe: Probe, started: threading.Event
    ) -> None:
        if kind != "startup":
            while not started.is_set():  # liveness and readiness wait for startup to succeed
                if not self._current(watch, generation) or self._stopped.wait(0.01):
                    return
        if self._stopped.wait(probe.initialDelaySeconds):
            return
        failures = successes = 0
        next_at = self._clock()
        while self._current(watch, generation):
            ok = self._ask(watch.instance, probe)
            if not self._current(watch, generation):
                return
            failures, successes = (0, successes + 1) if ok else (failures + 1, 0)
            if kind == "startup":
                if ok:
                    started.set()
                    return
                if failures >= probe.failureThreshold:
                    self._restart(watch, generation, "restarted (startup)")
                    return
            elif kind == "liveness" and watch.terminating:
                return
            elif kind == "liveness" and failures >= probe.failureThreshold:
                self._restart(watch, generation, "restarted (liveness)")
                return
            elif kind == "readiness":
                if failures >= probe.failureThreshold and self.is_ready(watch.instance):
                    self._set_ready(watch.instance, False)
                elif successes >= probe.successThreshold and not self.is_ready(watch.instance):
                    self._set_ready(watch.instance, True)
            next_at += probe.periodSeconds
            if self._stopped.wait(max(0.0, next_at - self._clock())):
                return

    def _ask(self, which: str, probe: Probe) -> bool:
        """One probe: ``GET path`` within ``timeoutSeconds``; True for a 200, else False."""
        try:
            port = self.cluster.instance_port(which)
        except (RuntimeError, ValueError):
            return False
        connection = http.client.HTTPConnection(HOST, port, timeout=probe.timeoutSeconds)
        try:
            connection.request("GET", probe.path)
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):  # refused, reset, timed out
            return False
        finally:
            connection.close()

    def _set_ready(self, which: str, ready: bool) -> None:
        with self._lock:
            was = self._ready.get(which)
            self._ready[which] = ready
            self.cluster.set_ready(which, ready)
            if was is not None and was != ready:
                self.events.append(Event(self.now(), which, "ready" if ready else "unready"))

    def _restart(self, watch: _Watch, generation: int, why: str) -> None:
        with self._lock:
            if not self._current(watch, generation) or watch.terminating:
                return
            self._set_ready(watch.instance, False)
            self.restarts[watch.instance] += 1
            self.events.append(Event(self.now(), watch.instance, why))
            self.cluster.relaunch(watch.instance)
            self.watch(watch.instance)  # a new generation of probes for the new process
