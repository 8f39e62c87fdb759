"""Crash experiments on a real cluster: users log in, send requests, one instance is killed.

Lesson 04 runs the same experiment on a stateful and a stateless app::

    result = run_crash_experiment("stateless")
    print(result.summary())

The request order is fixed (user01, user02, ... user20, user01, ...; one request at a time) and
the kill happens between two requests, so the counts that teach the lesson are the same on
every run and with either balancer: ``users_logged_out``, ``users_on_killed_instance``,
``failed_requests``. What may vary by a request or two is how the requests after the kill are
spread over the survivors (``requests_per_instance``): it depends on when the balancer notices
the dead instance and on its round-robin bookkeeping, which differs between nginx and the
Python balancer.

The second experiment, :func:`run_kill_under_load`, kills an instance *while* requests are in
its hands: client threads keep sending ``GET /cart`` and ``POST /cart/items`` through the
Python balancer to instances that take ``request_delay`` seconds per request, and the kill waits
until the doomed instance holds at least two of each. Which and how many requests are in flight
then depends on scheduling; what does not is the verdict: the POSTs it held fail (502) and are
not sent again, the GETs it held are sent to another instance and succeed, nothing else fails.

"Held" means handed over: each instance is one gunicorn sync worker, so it serves one request
at a time and the others wait in its socket's listen backlog, already sent. The balancer cannot
tell a waiting request from the one in service, so the waiting POSTs fail too. Only a queue kept
by the balancer (HAProxy's per-server ``maxconn``) holds requests that were never sent and may
go elsewhere; the simulation's ``retry_queued`` models that.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from requests import RequestException, Session

from labs.apps.users import load_test_users, login_body
from labs.cluster import ProcessCluster

TIMEOUT_SECONDS = 10
# What the clients of the kill-under-load experiment send: a read and a write of their cart.
LOAD_ROUTES = {"GET": "/cart", "POST": "/cart/items"}


class ExperimentError(RuntimeError):
    """The experiment could not run as designed (for example, a login was refused)."""


@dataclass(frozen=True)
class CrashResult:
    """What the users saw when one instance was killed in the middle of their requests."""

    app: str
    policy: str
    balancer: str  # "nginx" or "python"
    instances: int
    users: int
    requests: int  # GET /me requests after the logins
    kill_at: int | None  # the instance was killed after this many requests (None: no kill)
    killed_instance: str | None
    users_on_killed_instance: int  # users whose login the killed instance answered
    users_logged_out: int  # users who got a 401 from /me at least once
    users_rerouted: int  # users answered at least once by another instance than at login
    failed_requests: int  # no answer from any instance (connection error, 5xx)
    unauthorized_before_kill: int  # 401 answers before the kill
    unauthorized_after_kill: int  # 401 answers after the kill
    requests_per_instance: dict[str, int]  # which instance answered the /me requests
    logins_per_instance: dict[str, int]

    def summary(self) -> str:
        """The counts that do not vary from run to run, in a few lines (no timings, no ports)."""
        app = self.app.rsplit(".", 1)[-1]
        policy = self.policy.replace("_", " ")
        lines = [f"{app}: {self.instances} instances, {policy}, {self.users} users, "
                 f"{self.requests} requests"]  # fmt: skip
        facts: list[tuple[str, object]] = []
        if self.killed_instance is None:
            lines.append("  no instance was killed")
        else:
            killed = self.killed_instance
            lines.append(f"  instance {killed} killed (kill -9) after request {self.kill_at}")
            facts += [
                (f"requests {killed} answered before", self.requests_per_instance[killed]),
                (f"users who logged in on {killed}", self.users_on_killed_instance),
            ]
        facts += [
            ("users logged out", f"{self.users_logged_out} of {self.users}"),
            ("failed requests", self.failed_requests),
        ]
        lines += [f"  {label + ':':<32}{value}" for label, value in facts]
        return "\n".join(lines)


def crash_experiment(
    cluster: ProcessCluster,
    users: int = 20,
    requests: int = 200,
    kill_at: int | None = 100,
    kill: int | str = 1,
) -> CrashResult:
    """Log ``users`` in, send ``requests`` GET /me in a fixed order, kill ``kill`` midway."""
    if kill_at is not None and not 0 <= kill_at <= requests:
        raise ValueError(f"kill_at must be from 0 to requests ({requests}), or None")
    names = load_test_users(users)
    instance_ids = cluster.instance_ids
    sessions: dict[str, _User] = {}
    answers: Counter[str] = Counter()
    logged_out: set[str] = set()
    rerouted: set[str] = set()
    failed = 0
    unauthorized = [0, 0]  # before, after the kill
    killed = None
    try:
        for name in names:
            sessions[name] = _login(cluster.url, name)
        for number in range(requests):
            if number == kill_at:
                killed = instance_ids[kill] if isinstance(kill, int) else kill
                cluster.kill(killed)
            name = names[number % users]
            status, instance = sessions[name].get(cluster.url + "/me")
            if instance is not None:
                answers[instance] += 1
                if instance != sessions[name].home:
                    rerouted.add(name)
            if status == 401:
                logged_out.add(name)
                unauthorized[killed is not None] += 1
            elif status != 200:
                failed += 1
    finally:
        for session in sessions.values():
            session.close()
    home = {name: session.home for name, session in sessions.items()}
    return CrashResult(
        app=cluster.app,
        policy=cluster.policy,
        balancer=cluster.balancer_kind,
        instances=len(instance_ids),
        users=users,
        requests=requests,
        kill_at=kill_at,
        killed_instance=killed,
        users_on_killed_instance=sum(1 for name in names if home[name] == killed),
        users_logged_out=len(logged_out),
        users_rerouted=len(rerouted),
        failed_requests=failed,
        unauthorized_before_kill=unauthorized[0],
        unauthorized_after_kill=unauthorized[1],
        requests_per_instance={name: answers[name] for name in instance_ids},
        logins_per_instance={name: sum(h == name for h in home.values()) for name in instance_ids},
    )


def run_crash_experiment(
    app: str = "stateless",
    *,
    users: int = 20,
    requests: int = 200,
    kill_at: int | None = 100,
    kill: int | str = 1,
    policy: str = "round_robin",
    balancer: str = "auto",
    instances: int = 3,
) -> CrashResult:
    """Start a :class:`ProcessCluster` of ``app``, run :func:`crash_experiment`, stop it."""
    with ProcessCluster(app, instances=instances, policy=policy, balancer=balancer) as cluster:
        return crash_experiment(cluster, users=users, requests=requests, kill_at=kill_at, kill=kill)


class _User:
    """One user's browser: cookies (session, route) or a bearer token, and their login instance."""

    def __init__(self, session: Session, home: str, token: str | None) -> None:
        self.session = session
        self.home = home
        if token:
            session.headers["Authorization"] = f"Bearer {token}"

    def get(self, url: str) -> tuple[int | None, str | None]:
        """``(status, X-Instance)`` of ``GET url``; ``(None, None)`` if nothing answered."""
        return self.send("GET", url)

    def send(self, method: str, url: str) -> tuple[int | None, str | None]:
        """``(status, X-Instance)`` of ``method url`` (a POST adds one pen to the cart);
        ``(None, None)`` if nothing answered."""
        body = {"sku": "pen", "qty": 1} if method == "POST" else None
        try:
            response = self.session.request(method, url, json=body, timeout=TIMEOUT_SECONDS)
        except RequestException:
            return None, None
        return response.status_code, response.headers.get("X-Instance")

    def close(self) -> None:
        self.session.close()


def _login(url: str, name: str) -> _User:
    session = Session()
    response = session.post(
        url + "/login",
        json=login_body(name),
        timeout=TIMEOUT_SECONDS,
    )
    if response.status_code != 200:
        session.close()
        raise ExperimentError(f"login of {name} failed: {response.status_code} {response.text}")
    token = response.json().get("access_token")  # the JWT app; session apps set a cookie
    return _User(session, response.headers.get("X-Instance", "?"), token)


# --- a kill under load ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Sent:
    """One request of a load client: its method, when it left and came back, what came back."""

    method: str
    sent: float  # time.monotonic()
    answered: float
    status: int | None  # None: no answer at all
    instance: str | None


@dataclass(frozen=True)
class LoadKillResult:
    """What ``kill -9`` of one instance did to requests that were in flight (see
    :func:`kill_under_load`). Per-method counts are keyed ``"GET"`` and ``"POST"``."""

    app: str
    retry: str  # the balancer's retry setting (labs.cluster.balancer.RETRY)
    instances: int
    clients: int  # client threads per method, each with one request out at a time
    request_delay: float
    killed_instance: str
    held_at_kill: dict[str, int]  # method -> what the balancer had sent it, a moment before
    in_flight_at_kill: dict[str, int]  # method -> client requests out when the kill came
    failed_in_flight: dict[str, int]  # method -> of those, failed (502 or no answer)
    failed_otherwise: int  # requests that failed though not in flight at the kill
    retried: dict[str, int]  # method -> sent again by the balancer after the instance failed
    not_retried: dict[str, int]  # method -> answered 502 by the balancer instead
    sent: dict[str, int]  # method -> requests the clients sent in all
    answered_after_kill: dict[str, int] = field(default_factory=dict)  # instance -> 200s after

    @property
    def held_when_killed(self) -> dict[str, int]:
        """Method -> requests the killed instance died with: each one the balancer then resent
        or answered 502 (in service, or waiting in its socket: from outside, the same)."""
        return {m: self.retried.get(m, 0) + self.not_retried.get(m, 0) for m in LOAD_ROUTES}

    @property
    def waiting_when_killed(self) -> int:
        """How many of those, at least, were waiting rather than in service: one sync worker
        serves one request at a time, so all but one of them sat in its listen backlog."""
        return max(sum(self.held_when_killed.values()) - 1, 0)

    def verdict(self) -> str:
        """The part that does not depend on scheduling: a band and a yes or no per method."""
        killed, n = self.killed_instance, self.clients

        # The kill comes once B holds 2 of each; it serves one at a time, so at most one is
        # answered before the kill lands: at least 1 of each (3 in all) is left, and all but
        # one of those wait in its socket.
        def band(count: int) -> str:
            return f"yes, 1–{n} of {n}" if 1 <= count <= n else f"NO ({count} of {n})"

        waiting = self.waiting_when_killed
        waiting_band = "yes, 2 or more" if waiting >= 2 else f"NO ({waiting})"

        get, post = "GET", "POST"
        return "\n".join(
            [
                f"kill -9 of {killed} under load: {n} clients sending GET {LOAD_ROUTES[get]}, "
                f"{n} sending POST {LOAD_ROUTES[post]}; balancer retry: {self.retry}",
                f"  in-flight POSTs failed: {band(self.failed_in_flight[post])}; "
                f"retried: {self.retried[post]}",
                f"  in-flight GETs retried on another instance: {band(self.retried[get])}; "
                f"failed: {self.failed_in_flight[get]}",
                f"  requests {killed} held that waited in its socket, not in service: "
                f"{waiting_band} (already sent: the balancer treated them alike)",
                f"  requests failed that were not in flight at the kill: {self.failed_otherwise}",
            ]
        )

    def counts(self) -> str:
        """The exact numbers of this run (they vary from run to run)."""

        def per_method(counts: dict[str, int]) -> str:
            return ", ".join(f"{method} {counts.get(method, 0)}" for method in LOAD_ROUTES)

        after = ", ".join(f"{name} {count}" for name, count in self.answered_after_kill.items())
        rows = [
            (f"held by {self.killed_instance} just before the kill", per_method(self.held_at_kill)),
            (f"held by {self.killed_instance} when it died", per_method(self.held_when_killed)),
            ("  of those waiting in its socket", f"{self.waiting_when_killed} or more"),
            ("clients' requests out at the kill", per_method(self.in_flight_at_kill)),
            ("  of those failed", per_method(self.failed_in_flight)),
            ("resent by the balancer", per_method(self.retried)),
            ("answered 502, not resent", per_method(self.not_retried)),
            ("requests sent in all", per_method(self.sent)),
            ("answered 200 after the kill by", after),
        ]
        return "\n".join(f"{label + ':':<36}{value}" for label, value in rows)


def kill_under_load(
    cluster: ProcessCluster,
    clients: int = 8,
    kill: int | str = 1,
    hold: int = 2,
    after_seconds: float = 0.5,
    wait_seconds: float = 20.0,
) -> LoadKillResult:
    """Kill instance ``kill`` while ``clients`` threads send ``GET /cart`` and as many send
    ``POST /cart/items``, each one request at a time, through ``cluster``'s Python balancer.

    The kill comes once the instance holds at least ``hold`` requests of each method (an
    instance with a sync worker serves one at a time, so with 2, even if the one in service is
    answered in the instant before the kill lands, at least one of each is still in its hands,
    and all but one of what it holds wait in its listen backlog); the clients go on for
    ``after_seconds`` more.
    """
    balancer = cluster.balancer
    if balancer is None:
        raise ValueError(
            "kill_under_load reads the Python balancer's counters: start the cluster with "
            'balancer="python" (nginx keeps its retries to itself)'
        )
    if clients < 1 or hold < 1 or hold > clients:
        raise ValueError(f"need clients ≥ 1 and 1 ≤ hold ≤ clients, got {clients=} {hold=}")
    killed = cluster.instance_ids[kill] if isinstance(kill, int) else kill
    if killed not in cluster.instance_ids:
        raise ValueError(f"no instance {killed!r}; instances are {cluster.instance_ids}")
    names = load_test_users(2 * clients)
    users: list[_User] = []
    records: list[_Sent] = []
    stop = threading.Event()
    threads = []
    try:
        for name in names:
            users.append(_login(cluster.url, name))
        for number, user in enumerate(users):
            method = "GET" if number < clients else "POST"
            thread = threading.Thread(
                target=_keep_sending,
                args=(user, cluster.url, method, stop, records, cluster.request_delay / 2, number),
                name=f"load-client-{number}",
                daemon=True,
            )
            threads.append(thread)
            thread.start()
        deadline = time.monotonic() + wait_seconds
        while True:
            held = balancer.in_flight()[killed]
            if all(held.get(method, 0) >= hold for method in LOAD_ROUTES):
                break
            if time.monotonic() > deadline:
                raise ExperimentError(
                    f"instance {killed} never held {hold} requests of each method within "
                    f"{wait_seconds:g} s (it held {held}): is request_delay too short?"
                )
            time.sleep(0.002)
        before = Counter(balancer.retried), Counter(balancer.not_retried)
        held = balancer.in_flight()[killed]  # a moment before: more may arrive until the kill
        killed_at = time.monotonic()
        cluster.kill(killed)
        time.sleep(after_seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT_SECONDS + 5)
        for user in users:
            user.close()
    ok = 200
    in_flight = [r for r in records if r.sent < killed_at < r.answered]
    failed = [r for r in in_flight if r.status != ok]

    def count(requests: list[_Sent]) -> dict[str, int]:
        return {method: sum(r.method == method for r in requests) for method in LOAD_ROUTES}

    after = Counter(r.instance for r in records if r.sent > killed_at and r.status == ok)
    return LoadKillResult(
        app=cluster.app,
        retry=balancer.retry,
        instances=len(cluster.instance_ids),
        clients=clients,
        request_delay=cluster.request_delay,
        killed_instance=killed,
        held_at_kill={method: held.get(method, 0) for method in LOAD_ROUTES},
        in_flight_at_kill=count(in_flight),
        failed_in_flight=count(failed),
        failed_otherwise=sum(r.status != ok for r in records) - len(failed),
        retried={m: balancer.retried[m] - before[0][m] for m in LOAD_ROUTES},
        not_retried={m: balancer.not_retried[m] - before[1][m] for m in LOAD_ROUTES},
        sent=count(records),
        answered_after_kill={name: after[name] for name in cluster.instance_ids if after[name]},
    )


def run_kill_under_load(
    app: str = "stateless",
    *,
    clients: int = 8,
    request_delay: float = 0.1,
    retry: str = "idempotent",
    instances: int = 3,
    kill: int | str = 1,
    after_seconds: float = 0.5,
) -> LoadKillResult:
    """Start a :class:`ProcessCluster` of ``app`` (slow handlers, the Python balancer with
    ``retry``), run :func:`kill_under_load`, stop it, even if something failed."""
    with ProcessCluster(
        app, instances=instances, balancer="python", retry=retry, request_delay=request_delay
    ) as cluster:
        return kill_under_load(cluster, clients, kill=kill, after_seconds=after_seconds)


def _keep_sending(
    user: _User,
    url: str,
    method: str,
    stop: threading.Event,
    records: list[_Sent],
    pause: float,
    seed: int,
) -> None:
    """One load client: one request at a time until ``stop``; every answer goes in ``records``.

    Between two requests it pauses up to ``pause`` seconds, at random: with handlers that all
    take the same time, clients in lockstep could keep the GETs on one instance and the POSTs
    on another (round robin in phase with the requests), and a random pause breaks the lock.
    """
    rng = random.Random(seed)
    while not stop.is_set():
        sent = time.monotonic()
        status, instance = user.send(method, url + LOAD_ROUTES[method])
        records.append(_Sent(method, sent, time.monotonic(), status, instance))
        stop.wait(rng.uniform(0, pause))
