"""Lesson 11 exercise: give liveness and readiness each its own question.

The learner writes a module in the notebook (``%%writefile my_probes.py``) with the two probes
every lab app answers ``/healthz`` and ``/readyz`` with (``labs/apps/probes.py`` is the
interface; an app takes the module from ``config["PROBES"]`` or the ``PROBES`` variable)::

    def liveness(instance) -> bool     # no: the instance is killed and restarted
    def readiness(instance) -> bool    # no: the instance leaves the balancer's pool for a while

The starter's liveness pings Redis and its readiness always says yes: both wrong. The check first
loads the module fresh from its file (what an instance's process imports), plugs it into the real
stateless app, and asks both routes through Flask's test client while a loopback proxy
(``labs.cluster.TcpProxy``) plays the store's moods, one after the other, deterministically:

* Redis up: both 200;
* Redis down, connections refused: liveness 200 (a liveness that asks Redis fails here on every
  instance at once: the restart storm), readiness 503;
* Redis silent, a network that drops everything: liveness 200 within the lab's probe timeout
  (a liveness that waits for the store, even to ignore its error, is restarted as hung),
  readiness 503 within a probe's 1 s;
* Redis back: readiness 200 again (a readiness that remembers a failure never recovers);
* draining (SIGTERM arrived): readiness 503, liveness 200 (a liveness that says no here gets the
  instance killed in the middle of its drain, and the requests it was finishing are lost).

A probe that raises anything but the store's own error is a 500, reported with what it raised.
Liveness is also watched for asking the store at all: one that passes every mood only because it
caches the store's answer, or ignores its error in time, still depends on Redis, and is failed
with what it asked. (A liveness that reads what readiness last saw is not caught: the check's
outages last seconds.)

Then, if all of that holds, it runs a real cluster: 3 gunicorn instances of the stateless app with
the learner's probes, watched by the course's supervisor at the manifest's settings 10x faster
(``labs.health_experiments.lab_probes``); Redis is cut for 2 s and restored. No instance may be
restarted, each must leave the pool during the outage, and all 3 must be ready again after.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import FunctionType, ModuleType
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import TimeoutError as StoreTimeoutError
from redis.retry import Retry

from labs.apps import draining, stateless_app
from labs.apps.probes import Instance
from labs.checking import CheckReport
from labs.cluster import ClusterError, ProcessCluster, TcpProxy
from labs.cluster.clients import poll
from labs.cluster.supervisor import Probe, Probes
from labs.learner_code import compile_file, error_line, fresh_copy, import_root, open_for_check
from labs.redis_store import EmbeddedRedisServer, connect, redis_url

STARTER = '''\
# EXERCISE STARTER: liveness asks Redis, readiness asks nothing. Give each probe its own question.


def liveness(instance):
    """GET /healthz: is this process alive? A no gets the instance killed and restarted.

    instance.id: this instance's name ("A"); instance.store: its client of the Redis that every
    instance shares (decode_responses=True, short timeouts); instance.draining: True once SIGTERM
    arrived (the instance finishes the requests it has, then exits).
    """
    instance.store.ping()  # <- Redis is down: is this process dead?
    return True


def readiness(instance):
    """GET /readyz: should requests come here now? A no takes the instance out of the
    balancer's pool until it says yes again (the instance keeps running)."""
    return True  # <- ready whatever happens
'''

TITLE = "Exercise 11 · Two probes, two questions"
PATHS = {"liveness": "/healthz", "readiness": "/readyz"}
STORE_TIMEOUT = 0.5  # the check's client of the store: every connect and reply, in seconds
LIVENESS_SECONDS = 0.3  # the lab supervisor's probe timeout: shorter than a store call can wait
READINESS_SECONDS = 1.0  # a probe's timeout in the course's manifest (timeoutSeconds: 1)
RECOVER_SECONDS = 1.0  # how long readiness may take to say yes once Redis is back
GIVE_UP_SECONDS = 3.0  # a probe still running then is reported, not awaited
COURSE_MODULES = ("labs.apps.probes", "labs.solutions.ex11_probes")  # answers, not yours
# The cluster phase: the probes of deploy/k8s/ at a 10x clock, each timeout at least 0.3 s
# (labs.health_experiments.lab_probes; tests/exercises checks that they are the same).
CLUSTER_PROBES = Probes(
    liveness=Probe("/healthz", periodSeconds=0.5, failureThreshold=3, timeoutSeconds=0.3),
    readiness=Probe("/readyz", periodSeconds=0.2, failureThreshold=2, timeoutSeconds=0.3),
    startup=Probe("/healthz", periodSeconds=0.1, failureThreshold=30, timeoutSeconds=0.3),
)
INSTANCES = 3
OUTAGE_SECONDS = 2.0
READY_SECONDS = 5.0  # for the instances to be ready, before the outage and after it

HINTS: dict[str, tuple[str, str | None]] = {  # (the idea, then the code-level hint)
    "module": (
        "Every instance is a process of its own, and each imports your probes from a module "
        "file: functions defined in the notebook live only in the notebook's process.",
        "put %%writefile my_probes.py on the first line of the cell, run it, then "
        "check_probes('my_probes')",
    ),
    "functions": (
        "The app asks two functions of the instance: liveness(instance) for /healthz and "
        "readiness(instance) for /readyz, each returning True or False.",
        None,
    ),
    "own": (
        "The exercise is to write the two probes yourself: importing the course's module "
        "passes nothing but the import.",
        None,
    ),
    "liveness_up": (
        "With Redis up and nothing wrong, liveness must say yes: a no gets a healthy instance "
        "killed and restarted, again and again.",
        None,
    ),
    "liveness_store": (
        "Liveness is the probe whose no gets the instance restarted. Redis is shared: when it "
        "is down, every instance's liveness fails at the same moment, the supervisor restarts "
        "the whole fleet, and no restart brings Redis back (a restart storm). Liveness asks "
        "only whether this process itself can answer.",
        "def liveness(instance): return True  (leave the store to readiness)",
    ),
    "liveness_slow": (
        "When the network to Redis goes silent, a store call waits for its socket timeout, "
        "longer than the probe waits for an answer: a liveness that touches the store, even to "
        "ignore its error, looks hung and gets the instance restarted. Keep the store out of "
        "liveness altogether.",
        "def liveness(instance): return True",
    ),
    "liveness_draining": (
        "A draining instance (SIGTERM arrived) is alive: it is finishing the requests it has. "
        "A liveness that says no now gets it killed in the middle of its drain, and those "
        "requests are lost. Saying 'no new work' is readiness's job.",
        "liveness does not look at instance.draining; readiness does: if instance.draining: "
        "return False",
    ),
    "readiness_up": (
        "With Redis up and no SIGTERM, the instance can serve: readiness must say yes, or the "
        "balancer never sends it a request.",
        None,
    ),
    "readiness_store": (
        "Readiness answers 'should requests come to me now?'. With Redis down this instance "
        "can serve nothing, so it must say no and leave the balancer's pool until Redis is "
        "back. Knowing that Redis is configured is not knowing that it answers: ask it.",
        "try: instance.store.ping() except (redis.ConnectionError, redis.TimeoutError): "
        "return False; else return True",
    ),
    "readiness_slow": (
        "A probe gets an answer within its timeout (1 s in the manifest) or counts as failed: "
        "readiness must say no quickly when Redis is silent. One store call with the client's "
        "short timeout does; your own retries or waits do not.",
        "one instance.store.ping() (the client's timeout bounds it), no retry loop, no sleep",
    ),
    "readiness_recover": (
        "Readiness must recover by itself: asked again once Redis is back, it says yes. A "
        "probe that remembers an old failure (a flag that is never reset is state of its own) "
        "keeps a healthy instance out of the pool forever.",
        "ask the store at every call: no module-level flag or cached answer",
    ),
    "readiness_draining": (
        "After SIGTERM the instance drains: it finishes what it has and takes nothing new. "
        "Readiness is how it tells the balancer: it says no while instance.draining is True.",
        "if instance.draining: return False  (before asking the store)",
    ),
    "error": (
        "A probe that raises answers 500: the supervisor counts a failure, and nobody learns "
        "why. Return False when the store cannot be reached (or let Redis's own "
        "ConnectionError or TimeoutError through: the app answers those with a 503 naming the "
        "store); liveness needs nothing that can fail.",
        "except (redis.ConnectionError, redis.TimeoutError): return False",
    ),
    "cluster": (
        "Your probes pass when the check asks them, but not in real instances watched by a "
        "supervisor: read the line above, what the supervisor did and when.",
        None,
    ),
}


class Answer(NamedTuple):
    """What one GET of a probe's route got: the status (None: no answer in time), how long it
    took, what the probe function did (``("returned", value)`` or ``("raised", exc)``), and what
    it asked of the store (``("ping",)``)."""

    status: int | None
    seconds: float
    did: tuple[str, Any] | None
    asked: tuple[str, ...] = ()


class _StoreSpy:
    """The instance's store client as a probe sees it: every command it looks up is noted."""

    def __init__(self, store: Any, asked: list[str]) -> None:
        self._store, self._asked = store, asked

    def __getattr__(self, name: str) -> Any:
        self._asked.append(name)
        return getattr(self._store, name)


class _Learner:
    """The learner's module loaded fresh from its file, as an instance's process imports it,
    its two probes watched: what each call returned or raised, per thread."""

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path = name, path
        self.module = fresh_copy(name, path, compile_file(path))
        self.did: dict[tuple[int, str], tuple[str, Any]] = {}
        self.asked: dict[tuple[int, str], list[str]] = {}

    def watch(self) -> None:
        for kind in PATHS:
            setattr(self.module, kind, self._watched(kind, getattr(self.module, kind)))

    def _watched(self, kind: str, probe: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def watched(instance: Any) -> Any:
            here = threading.get_ident(), kind
            if isinstance(instance, Instance) and instance.store is not None:
                self.asked[here] = []
                instance = Instance(instance.id, _StoreSpy(instance.store, self.asked[here]))
            try:
                value = probe(instance)
            except BaseException as exc:  # SystemExit too: the report says what it was
                self.did[here] = ("raised", exc)
                raise
            self.did[here] = ("returned", value)
            return value

        return watched

    def line(self, exc: BaseException) -> int | None:
        """The last line of the learner's file in ``exc``'s traceback."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self.path]
        return frames[-1].lineno if frames else error_line(exc)


_COPIES = itertools.count()


@contextlib.contextmanager
def _plugged(module: ModuleType) -> Iterator[str]:
    """A private module name under which the app finds ``module`` (``config["PROBES"]``)."""
    private = f"_check_probes_{next(_COPIES)}"
    sys.modules[private] = module
    try:
        yield private
    finally:
        sys.modules.pop(private, None)


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """No traceback printed for a probe's 500: the report says what it raised."""
    was, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was


@contextlib.contextmanager
def _store_through_proxy() -> Iterator[tuple[TcpProxy, redis.Redis]]:
    """The store (``REDIS_URL``'s, or an embedded one) behind a proxy the check can cut, and a
    client through it with short timeouts and no retries. Nothing is written to the store."""
    with contextlib.ExitStack() as stack:
        url = redis_url()
        if url:
            connect(url).close()  # a missing server is named now, not blamed on a probe
        else:
            url = stack.enter_context(EmbeddedRedisServer()).url
        proxy = stack.enter_context(TcpProxy(url))
        client = redis.Redis.from_url(
            proxy.url,
            decode_responses=True,
            socket_timeout=STORE_TIMEOUT,
            socket_connect_timeout=STORE_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        stack.callback(client.close)
        yield proxy, client


@contextlib.contextmanager
def _not_draining() -> Iterator[None]:
    """The check starts with the process not draining and leaves it as it found it."""
    was = draining.is_draining()
    draining.reset()
    try:
        yield
    finally:
        draining.reset()
        if was:
            draining.start_draining()


class _Asker:
    """GETs of the app's probe routes, each in a thread of its own (abandoned if it hangs)."""

    def __init__(self, app: Any, learner: _Learner) -> None:
        self.app, self.learner = app, learner

    def ask(self, kind: str) -> Answer:
        seen: dict[str, Any] = {}

        def run() -> None:
            start = time.monotonic()
            try:
                seen["status"] = self.app.test_client().get(PATHS[kind]).status_code
            except BaseException:  # a probe's SystemExit: no answer, and did says why
                pass
            finally:
                here = threading.get_ident(), kind
                seen["seconds"] = time.monotonic() - start
                seen["did"] = self.learner.did.pop(here, None)
                seen["asked"] = tuple(self.learner.asked.pop(here, ()))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(GIVE_UP_SECONDS)
        if thread.is_alive():
            return Answer(None, GIVE_UP_SECONDS, None)
        if "status" not in seen:
            return Answer(None, seen["seconds"], seen["did"], seen["asked"])
        return Answer(seen["status"], seen["seconds"], seen["did"], seen["asked"])


class Want(NamedTuple):
    status: int
    seconds: float
    hint: str  # the key of HINTS for a wrong status
    slow_hint: str  # ... and for a right status too late
    why: str  # what a wrong status does, in plain words


def _cause(learner: _Learner, kind: str, answer: Answer) -> str:
    """What the probe did, in a few words: ' (liveness raised ConnectionError: ...)'."""
    if answer.did is None:
        return ""
    what, value = answer.did
    if what == "returned":
        return f" ({kind} returned {_shown(value)})"
    if isinstance(value, StoreConnectionError | StoreTimeoutError):
        return f" ({kind} raised Redis's {type(value).__name__}: it asked the store)"
    said = _shown(str(value), 60)
    return f" ({kind} raised {type(value).__name__}: {said}, line {learner.line(value)})"


def _shown(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict(learner: _Learner, kind: str, label: str, want: Want, answer: Answer):
    """``(ok, message, hint key)`` of one probe's answer in one situation."""
    route, cause = PATHS[kind], _cause(learner, kind, answer)
    if answer.status is None and answer.did is not None:
        return False, f"{label}: {route} never answered{cause}", "error"
    if answer.status is None:
        return (
            False,
            f"{label}: {route} had not answered after {GIVE_UP_SECONDS:g} s",
            want.slow_hint,
        )
    if answer.status == 500:
        return False, f"{label}: {route} answered 500{cause}", "error"
    if answer.status != want.status:
        return False, f"{label}: {route} answered {answer.status}{cause}: {want.why}", want.hint
    if answer.seconds > want.seconds:
        return (
            False,
            f"{label}: {route} answered {answer.status}, but only after {answer.seconds:.1f} s"
            f"{cause}: a probe that takes longer than {want.seconds:g} s counts as no answer",
            want.slow_hint,
        )
    return True, f"{route} {answer.status}", None


def _situations(proxy: TcpProxy) -> list[tuple[str, Callable[[], None], dict[str, Want]]]:
    """The store's moods, in order: what to do first, then what each probe must answer."""
    live_ok = "liveness_slow"
    return [
        (
            "Redis up",
            lambda: None,
            {
                "liveness": Want(
                    200, LIVENESS_SECONDS, "liveness_up", live_ok, "yet nothing is wrong"
                ),
                "readiness": Want(
                    200, READINESS_SECONDS, "readiness_up", "readiness_slow", "yet nothing is wrong"
                ),
            },
        ),
        (
            "Redis down (connections refused)",
            proxy.cut,
            {
                "liveness": Want(
                    200,
                    LIVENESS_SECONDS,
                    "liveness_store",
                    live_ok,
                    "every instance fails its liveness at the same moment, so the supervisor "
                    "restarts them all (a restart storm), and no restart brings Redis back",
                ),
                "readiness": Want(
                    503,
                    READINESS_SECONDS,
                    "readiness_store",
                    "readiness_slow",
                    "the balancer goes on sending this instance requests it can only fail",
                ),
            },
        ),
        (
            "Redis silent (the network drops everything)",
            lambda: proxy.cut("blackhole"),
            {
                "liveness": Want(
                    200,
                    LIVENESS_SECONDS,
                    "liveness_store",
                    live_ok,
                    "every instance fails its liveness at once: a restart storm",
                ),
                "readiness": Want(
                    503,
                    READINESS_SECONDS,
                    "readiness_store",
                    "readiness_slow",
                    "the balancer goes on sending this instance requests it can only fail",
                ),
            },
        ),
        (
            "Redis back",
            proxy.restore,
            {
                "liveness": Want(
                    200, LIVENESS_SECONDS, "liveness_up", live_ok, "yet nothing is wrong"
                ),
                "readiness": Want(
                    200,
                    READINESS_SECONDS,
                    "readiness_recover",
                    "readiness_slow",
                    f"still no {RECOVER_SECONDS:g} s after Redis came back: this instance "
                    "never rejoins the pool",
                ),
            },
        ),
        (
            "draining (SIGTERM arrived, Redis up)",
            draining.start_draining,
            {
                "liveness": Want(
                    200,
                    LIVENESS_SECONDS,
                    "liveness_draining",
                    live_ok,
                    "the supervisor kills the instance in the middle of its drain, and the "
                    "requests it was finishing are lost",
                ),
                "readiness": Want(
                    503,
                    READINESS_SECONDS,
                    "readiness_draining",
                    "readiness_slow",
                    "the balancer goes on sending new requests to an instance about to exit",
                ),
            },
        ),
    ]


def _ask_until_ready(asker: _Asker) -> Answer:
    """Readiness once Redis is back: asked again for up to ``RECOVER_SECONDS``."""
    deadline = time.monotonic() + RECOVER_SECONDS
    while True:
        answer = asker.ask("readiness")
        if answer.status != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def _check_in_process(report: CheckReport, learner: _Learner) -> bool:
    """Both probes, plugged into the real stateless app, through each of the store's moods."""
    with _store_through_proxy() as (proxy, client), _plugged(learner.module) as private:
        app = stateless_app.create_app("A", redis=client, config={"PROBES": private})
        asker = _Asker(app, learner)
        asking = dict.fromkeys(PATHS, True)  # a probe that failed once is not asked again
        store_asked: list[tuple[str, tuple[str, ...]]] = []  # (mood, commands) of liveness
        untried: dict[str, list[str]] = {kind: [] for kind in PATHS}
        with _quiet(app.logger), _not_draining():
            for label, act, wants in _situations(proxy):
                kinds = [kind for kind in PATHS if asking[kind]]
                for kind in PATHS:
                    if not asking[kind]:
                        untried[kind].append(label)
                if not kinds:
                    continue
                act()
                answers = {
                    kind: _ask_until_ready(asker)
                    if (label == "Redis back" and kind == "readiness")
                    else asker.ask(kind)
                    for kind in kinds
                }
                verdicts = {
                    kind: _verdict(learner, kind, label, wants[kind], answers[kind])
                    for kind in kinds
                }
                if "liveness" in answers and answers["liveness"].asked:
                    store_asked.append((label, answers["liveness"].asked))
                if all(ok for ok, _, _ in verdicts.values()):
                    said = ", ".join(message for _, message, _ in verdicts.values())
                    report.expect(True, f"{label}: {said}")
                    continue
                for kind, (ok, message, hint) in verdicts.items():
                    if ok:
                        report.expect(True, f"{label}: {message}")
                    else:
                        report.expect(False, message, *HINTS[hint])
                        asking[kind] = False
    if asking["liveness"] and store_asked:
        label, commands = store_asked[0]
        report.expect(
            False,
            f"{PATHS['liveness']} asked the store ({', '.join(sorted(set(commands)))}) in "
            f"'{label}': it answered in time here, but a liveness that asks Redis at all (a "
            "cached answer, an error ignored) fails on every instance at once when an outage "
            "outlasts the trick: a restart storm",
            *HINTS["liveness_store"],
        )
    if untried["liveness"] and untried["liveness"] == untried["readiness"]:
        report.expect(
            False,
            f"{', '.join(untried['liveness'])}: not asked until the lines above pass",
        )
    else:
        for kind, labels in untried.items():
            if labels:
                report.expect(
                    False, f"{PATHS[kind]} in {', '.join(labels)}: not asked until it passes above"
                )
    return report.passed


def _check_cluster(report: CheckReport, name: str, path: str) -> None:
    """Your probes in 3 real instances, watched by a supervisor; Redis cut for 2 s."""
    root = import_root(name, path)
    env = {
        "PROBES": name,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    story = (
        f"{INSTANCES} real instances with your probes, supervised at the manifest's settings "
        f"(10x faster), Redis cut for {OUTAGE_SECONDS:g} s: "
    )
    try:
        with ProcessCluster(
            "stateless", INSTANCES, probes=CLUSTER_PROBES, store_proxy="open", env=env
        ) as cluster:
            _outage(report, cluster, story)
    except ClusterError as exc:
        report.expect(False, f"{story}the cluster did not start: {exc}", *HINTS["cluster"])


def _outage(report: CheckReport, cluster: ProcessCluster, story: str) -> None:
    supervisor = cluster.supervisor
    names = cluster.instance_ids
    if not poll(lambda: len(supervisor.ready_instances()) == len(names), READY_SECONDS):
        ready = ", ".join(supervisor.ready_instances()) or "none"
        report.expect(
            False,
            f"{story}before the outage, with Redis up, ready: {ready} (of {', '.join(names)}). "
            f"A's last output:\n{cluster.log_tail(0, 6)}",
            *HINTS["cluster"],
        )
        return
    cut_at = supervisor.now()
    cluster.store_proxy.cut()
    time.sleep(OUTAGE_SECONDS)
    cluster.store_proxy.restore()
    back_at = supervisor.now()
    back = poll(lambda: len(supervisor.ready_instances()) == len(names), READY_SECONDS)
    restarts = {n: supervisor.restarts[n] for n in names if supervisor.restarts[n]}
    events = [event for event in supervisor.events if event.at >= cut_at]
    left = {e.instance for e in events if e.what == "unready" and e.at <= back_at + 0.1}
    stayed = [n for n in names if n not in left]
    total = sum(restarts.values())
    parts = [f"restarts {total}"]
    if restarts:
        each = ", ".join(f"{n} ×{count}" for n, count in restarts.items())
        parts.append(f"the supervisor restarted {each} (liveness failed): a restart storm")
    if stayed:
        parts.append(f"{', '.join(stayed)} never left the balancer's pool during the outage")
    else:
        parts.append(f"every instance left the pool during the outage ({', '.join(names)})")
    if back:
        parts.append(f"all {len(names)} ready again once Redis was back")
    else:
        ready = ", ".join(supervisor.ready_instances()) or "none"
        parts.append(f"{READY_SECONDS:g} s after Redis came back, ready: {ready}")
    ok = not restarts and not stayed and back
    evidence = ""
    if not ok:
        shown = "\n".join(f"    {e.at - cut_at:5.2f} s  {e.instance}  {e.what}" for e in events[:9])
        evidence = f"\n  what the supervisor saw, from the cut on:\n{shown}"
    report.expect(ok, story + "; ".join(parts) + evidence, *HINTS["cluster"])


def _borrowed(module: ModuleType, name: str) -> set[str]:
    """The course's probe modules that ``module``'s probes are, or that it holds (the module or
    one of its functions among its globals: a wrapper that calls the course's answer). A class
    imported from them (``Instance``, for a type hint) is not an answer."""
    found = {getattr(getattr(module, kind), "__module__", name) for kind in PATHS}
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            found.add(value.__name__)
        elif isinstance(value, FunctionType):
            found.add(value.__module__)
    return found & set(COURSE_MODULES)


def check_probes(module_or_name: Any = "my_probes", *, hint: bool = False) -> CheckReport:
    """Check the probes module ``module_or_name`` (``'my_probes'``): first in the real app while
    a proxy plays Redis up, down, silent and back and the instance drains, then in a real
    supervised cluster through a Redis outage."""
    report = CheckReport(TITLE, closer=hint)
    opened = open_for_check(
        report, module_or_name, "my_probes", "the app's instances", _Learner, HINTS["module"]
    )
    if opened is None:
        return report.show()
    name, path, learner = opened
    missing = [kind for kind in PATHS if not callable(getattr(learner.module, kind, None))]
    if missing:
        report.expect(False, f"{name} has a function {missing[0]}(instance)", *HINTS["functions"])
        return report.show()
    borrowed = _borrowed(learner.module, name)
    if borrowed and name not in COURSE_MODULES:
        report.expect(
            False,
            f"{name}'s probes are the course's own, imported from {sorted(borrowed)[0]}",
            *HINTS["own"],
        )
        return report.show()
    learner.watch()
    if report.attempt("the check", lambda: _check_in_process(report, learner), *HINTS["error"]):
        report.attempt(
            "the cluster phase", lambda: _check_cluster(report, name, path), *HINTS["cluster"]
        )
    else:
        report.expect(
            False,
            f"a real cluster ({INSTANCES} supervised instances, Redis cut for "
            f"{OUTAGE_SECONDS:g} s): not run until the checks above pass",
        )
    return report.show()
