"""Lesson 11's experiments: probes that act, on a real cluster, at 10x Kubernetes' clock.

Each experiment starts a :class:`ProcessCluster` whose supervisor (``labs.cluster.supervisor``)
probes the instances with the settings of the course's Kubernetes manifest
(``deploy/k8s/``, :data:`MANIFEST_PROBES`), every time divided by :data:`TIME_SCALE`: a
liveness probe every 5 s, 3 failures in a row (15 s to act) becomes every 0.5 s (1.5 s). Clients
send a steady load through the Python balancer meanwhile (:class:`labs.cluster.clients.SteadyLoad`),
and the store sits behind the loopback proxy, so an outage is ``proxy.cut()``: the Redis behind
``REDIS_URL`` is never touched.

* :func:`restart_storm`: Redis goes away for ``outage`` seconds. With liveness on the process
  (``labs.apps.probes``), instances go unready and come back when Redis does: no restart. With
  liveness pinging Redis (``labs.apps.deep_probes``), the supervisor restarts every instance,
  and the fleet is back only after Redis *and* a boot.
* :func:`graceful_shutdown`: one instance stopped with SIGTERM and a pause before it stops
  taking connections (the preStop pause), one with SIGTERM and no pause, one with ``kill -9``,
  under load: the requests each loses.

Counts depend on scheduling; each result has a ``verdict()`` (bands the lesson promises) and a
``counts()`` (this run's exact numbers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests
import yaml

from labs.cluster.clients import SteadyLoad, logged_in, poll
from labs.cluster.process import ProcessCluster
from labs.cluster.supervisor import Event, Probe, Probes

TIME_SCALE = 10  # the lab's clock runs this much faster than the manifest's
# The probes of deploy/k8s/ (tests/deploy checks that the manifest says exactly this).
MANIFEST_PROBES = Probes(
    liveness=Probe("/healthz", periodSeconds=5, failureThreshold=3, timeoutSeconds=1),
    readiness=Probe("/readyz", periodSeconds=2, failureThreshold=2, timeoutSeconds=1),
    startup=Probe("/healthz", periodSeconds=1, failureThreshold=30, timeoutSeconds=1),
)
PRESTOP_SECONDS = (
    10  # the manifest's preStop pause: longer than readiness takes to act (2 s x 2 + 1 s)
)
BOOT_SECONDS = 1.5  # the lab instances' slow start (15 s at the manifest's clock)
# Lab probes may wait a little longer than a tenth of a second for an answer: a busy two-core
# machine must not fail a probe of an instance that is fine (Kubernetes' 1 s is generous too).
LAB_TIMEOUT = 0.3
DESIGNS = {
    "liveness checks the process": "labs.apps.probes",
    "liveness pings Redis": "labs.apps.deep_probes",
}


def lab_probes(scale: float = TIME_SCALE) -> Probes:
    """:data:`MANIFEST_PROBES` at the lab's clock (every time divided by ``scale``)."""

    def fast(probe: Probe | None) -> Probe | None:
        if probe is None:
            return None
        quick = probe.scaled(scale)
        return replace(quick, timeoutSeconds=max(quick.timeoutSeconds, LAB_TIMEOUT))

    probes = MANIFEST_PROBES
    return Probes(fast(probes.liveness), fast(probes.readiness), fast(probes.startup))


@dataclass(frozen=True)
class StormRun:
    """What a Redis outage of ``outage`` seconds did to a supervised fleet."""

    design: str  # a key of DESIGNS
    instances: int
    outage: float  # seconds Redis was unreachable for the instances
    boot: float
    restarts: dict[str, int]  # instance -> restarts by the supervisor
    sent: int
    failed: int
    unavailable: float  # seconds from the outage's start to the last failed request
    back_after: float | None  # seconds from Redis's return until every instance was ready
    events: list[Event] = field(default_factory=list)

    @property
    def total_restarts(self) -> int:
        return sum(self.restarts.values())

    def verdict(self) -> str:
        """The part that does not depend on scheduling."""
        n, outage = self.instances, self.outage
        if self.design == "liveness checks the process":
            restarted = "none: yes" if self.total_restarts == 0 else f"NO ({self.total_restarts})"
            longer = self.unavailable <= outage + 0.6
            outage_line = (
                f"failures end within 0.6 s of Redis's return: {'yes' if longer else 'NO'}"
            )
        else:
            every = set(self.restarts) == set("ABCDEFG"[:n])
            restarted = f"every instance at least once: {'yes' if every else 'NO'}"
            longer = self.unavailable >= outage + 0.5 * self.boot
            outage_line = (
                f"failures go on past Redis's return by at least half a boot "
                f"({0.5 * self.boot:g} s): {'yes' if longer else 'NO'}"
            )
        return "\n".join(
            [
                f"{self.design}: Redis unreachable for {outage:g} s, {n} instances, "
                f"boot {self.boot:g} s",
                f"  restarts: {restarted}",
                f"  {outage_line}",
                f"  every instance ready again afterwards: "
                f"{'yes' if self.back_after is not None else 'NO'}",
            ]
        )

    def counts(self) -> str:
        """This run's exact numbers (they vary from run to run)."""
        back = "never" if self.back_after is None else f"{self.back_after:.2f} s"
        return (
            f"{self.design}: restarts {dict(self.restarts)}, failed {self.failed} of "
            f"{self.sent} requests, unavailable {self.unavailable:.2f} s (Redis: "
            f"{self.outage:g} s), every instance ready {back} after Redis came back"
        )


def restart_storm(
    design: str = "liveness pings Redis",
    outage: float = 2.0,
    instances: int = 3,
    boot: float = BOOT_SECONDS,
    settle: float = 6.0,
) -> StormRun:
    """Cut Redis for ``outage`` seconds under a steady load of ``GET /me``; wait (at most
    ``settle`` s) for every instance to be ready again; count restarts and failed requests."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {list(DESIGNS)}, not {design!r}")
    if not 0.1 <= outage <= 10:
        raise ValueError(f"outage must be from 0.1 to 10 s, not {outage!r}")
    with ProcessCluster(
        "stateless",
        instances,
        probes=lab_probes(),
        store_proxy="open",
        boot_seconds=boot,
        env={"PROBES": DESIGNS[design]},
    ) as cluster:
        supervisor = cluster.supervisor
        poll(lambda: len(supervisor.ready_instances()) == instances, 10)
        with SteadyLoad(cluster.url, "/me", clients=4, pause=0.02) as load:
            time.sleep(0.3)
            cut_at = load.now()
            cluster.store_proxy.cut()
            time.sleep(outage)
            cluster.store_proxy.restore()
            back_at = time.monotonic()
            everyone = poll(lambda: len(supervisor.ready_instances()) == instances, settle)
            back_after = time.monotonic() - back_at if everyone else None
            time.sleep(0.3)
        last = load.last_failure()
        return StormRun(
            design=design,
            instances=instances,
            outage=outage,
            boot=boot,
            restarts=dict(sorted(supervisor.restarts.items())),
            sent=load.sent(),
            failed=load.failed(),
            unavailable=0.0 if last is None else max(0.0, last - cut_at),
            back_after=back_after,
            events=list(supervisor.events),
        )


@dataclass(frozen=True)
class ShutdownRun:
    """Requests lost by each way of stopping an instance under load (``{style: failed}``)."""

    failed: dict[str, int]
    sent: int
    propagation: float  # how long the balancer may go on sending to a stopped instance

    def verdict(self) -> str:
        pause, no_pause, kill = (self.failed[style] for style in SHUTDOWN_STYLES)
        return "\n".join(
            [
                f"SIGTERM, then a {PRESTOP_SECONDS / TIME_SCALE:g} s pause before it stops "
                f"accepting: failed requests {'none: yes' if pause == 0 else f'NO ({pause})'}",
                "SIGTERM, no pause (the balancer still sends for up to "
                f"{self.propagation:g} s): some failed: {'yes' if no_pause else 'NO'}",
                f"kill -9: some failed: {'yes' if kill else 'NO'}",
            ]
        )

    def counts(self) -> str:
        return ", ".join(f"{style}: {n}" for style, n in self.failed.items()) + (
            f" (of {self.sent} requests)"
        )


SHUTDOWN_STYLES = ("SIGTERM + pause", "SIGTERM, no pause", "kill -9")


def graceful_shutdown(request_delay: float = 0.05) -> ShutdownRun:
    """Four instances under load, the balancer told of readiness only by the supervisor (as
    a Kubernetes Service learns it from the endpoints controller: some time later). A is sent
    SIGTERM and keeps accepting for a pause, B is sent SIGTERM and stops accepting at once, C is
    killed; D stays. The balancer retries nothing (``retry="off"``, like a Service)."""
    probes = lab_probes()
    pause = PRESTOP_SECONDS / TIME_SCALE
    with ProcessCluster(
        "stateless",
        4,
        probes=probes,
        retry="off",
        request_delay=request_delay,
        drain_seconds=pause,
        instance_env={"B": {"DRAIN_SECONDS": "0"}},
    ) as cluster:
        poll(lambda: len(cluster.supervisor.ready_instances()) == 4, 10)
        failed = {}
        with SteadyLoad(cluster.url, "/me", clients=6, pause=0.01, timeout=5) as load:
            time.sleep(0.3)
            for style, name in zip(SHUTDOWN_STYLES, "ABC", strict=True):
                start = load.now()
                if style == "kill -9":
                    cluster.kill(name)
                else:
                    cluster.terminate(name)
                    cluster.wait(name, timeout=20)
                poll(lambda name=name: not cluster.supervisor.is_ready(name), 5)
                time.sleep(0.3)
                failed[style] = load.failed(start, load.now())
        return ShutdownRun(failed=failed, sent=load.sent(), propagation=propagation_seconds(probes))


def propagation_seconds(probes: Probes) -> float:
    """How long a stopped instance stays in the pool at most: the readiness probe's
    ``periodSeconds × failureThreshold`` plus one timeout."""
    probe = probes.readiness
    if probe is None:
        raise ValueError("no readiness probe")
    return round(probe.detection_seconds + probe.timeoutSeconds, 2)


# --- start order and replica count -----------------------------------------------------------


@dataclass(frozen=True)
class StartRun:
    """Instances started while Redis did not exist, then Redis appearing."""

    instances: int
    alive_before: int  # instances answering /healthz 200 while Redis was missing
    ready_before: int  # instances answering /readyz 200 meanwhile (0 expected)
    balancer_status: int  # what a request through the balancer got meanwhile
    restarts: int  # by the supervisor, all along
    ready_after: float | None  # seconds from Redis's arrival until all were ready
    logged_in: bool  # a user could log in and be served afterwards

    def verdict(self) -> str:
        n = self.instances
        ready = "NO" if self.ready_after is None else "yes"
        return "\n".join(
            [
                f"{n} instances started before Redis existed:",
                f"  alive (/healthz 200): {self.alive_before} of {n}; ready (/readyz 200): "
                f"{self.ready_before} of {n}; through the balancer: {self.balancer_status}",
                f"  restarts while Redis was missing: {self.restarts}",
                f"  Redis appears: every instance ready within 2 s: {ready}; "
                f"a user logs in and is served: {'yes' if self.logged_in else 'NO'}",
            ]
        )


def start_before_redis(instances: int = 3, missing: float = 1.5) -> StartRun:
    """Start a supervised cluster whose store proxy refuses connections (Redis "does not exist"
    yet), look at it for ``missing`` seconds, then let Redis appear."""
    with ProcessCluster(
        "stateless", instances, probes=lab_probes(), store_proxy="refuse"
    ) as cluster:
        time.sleep(missing)

        def status(url: str) -> int:
            return requests.get(url, timeout=5).status_code

        alive = sum(status(url + "/healthz") == 200 for url in cluster.instance_urls)
        ready = sum(status(url + "/readyz") == 200 for url in cluster.instance_urls)
        through = status(cluster.url + "/me")
        cluster.store_proxy.restore()
        start = time.monotonic()
        everyone = poll(lambda: len(cluster.supervisor.ready_instances()) == instances, 2.0)
        ready_after = time.monotonic() - start if everyone else None
        served = False
        if everyone:
            with logged_in(cluster.url) as session:
                served = session.get(cluster.url + "/me", timeout=5).status_code == 200
        return StartRun(
            instances,
            alive,
            ready,
            through,
            cluster.supervisor.total_restarts(),
            ready_after,
            served,
        )


@dataclass(frozen=True)
class ScaleStep:
    replicas: int
    running: list[str]  # the instances after the step
    served_by: list[str]  # which instances answered the user's requests, sorted
    cart_kept: bool  # every answer showed the cart the user filled at 1 replica
    failed: int  # requests of the steady load that failed during the step


def scale_both_ways(steps: tuple[int, ...] = (3, 7, 1)) -> list[ScaleStep]:
    """One user logs in and fills a cart on 1 replica; the cluster scales through ``steps``
    (the same command for every replica; scale-in takes the newest out of the pool, then stops
    it gracefully) under a steady load; after each step the user's requests go round the
    instances running and every answer shows the same cart."""
    results = []
    with ProcessCluster("stateless", 1, balancer="python", drain_seconds=0.2) as cluster:
        user = logged_in(cluster.url, "carol")
        user.post(cluster.url + "/cart/items", json={"sku": "tea", "qty": 2}, timeout=5)
        for replicas in steps:
            with SteadyLoad(cluster.url, "/me", clients=2, pause=0.02) as load:
                running = cluster.scale(replicas)  # under load: nothing may fail
            served, kept = set(), True
            for _ in range(2 * replicas):  # round robin: twice round the instances running
                answer = user.get(cluster.url + "/cart", timeout=5)
                kept &= answer.status_code == 200 and answer.json()["items"] == {"tea": 2}
                served.add(answer.headers.get("X-Instance", "?"))
            results.append(ScaleStep(replicas, running, sorted(served), kept, load.failed()))
        user.close()
    return results


def scale_table(steps: list[ScaleStep]) -> str:
    """The steps as a table (no timings: every number here is exact)."""
    rows = [f"{'replicas':>8}  {'running':<16}{'served the user':<18}{'cart kept':<11}failed"]
    for step in steps:
        rows.append(
            f"{step.replicas:>8}  {''.join(step.running):<16}{''.join(step.served_by):<18}"
            f"{'yes' if step.cart_kept else 'NO':<11}{step.failed}"
        )
    return "\n".join(rows)


# --- the manifest beside the lab -------------------------------------------------------------

MANIFEST = "deploy/k8s/app.yaml"


def manifest_beside_lab(root: str | None = None) -> str:
    """The probe lines of the Deployment in :data:`MANIFEST`, each beside the lab's setting."""
    base = Path(root) if root else Path(__file__).resolve().parents[1]
    documents = yaml.safe_load_all((base / MANIFEST).read_text())
    deployment = next(d for d in documents if d and d.get("kind") == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    lab = lab_probes()
    pairs = [(f"{MANIFEST} (Kubernetes' clock)", f"the lab ({TIME_SCALE}x faster)")]
    for kind in ("startup", "liveness", "readiness"):
        probe = container[f"{kind}Probe"]
        mine = getattr(lab, kind)
        pairs.append((f"{kind}Probe: GET {probe['httpGet']['path']}", mine.path))
        for name in ("periodSeconds", "failureThreshold", "timeoutSeconds"):
            if name in probe:
                pairs.append((f"  {name}: {probe[name]:g}", f"{getattr(mine, name):g}"))
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    pairs.append(
        (f"preStop sleep: {pause:g} s", f"{PRESTOP_SECONDS / TIME_SCALE:g} s (DRAIN_SECONDS)")
    )
    rows = [f"{left:<44}{right}" for left, right in pairs]
    return "\n".join(rows)
