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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from requests import RequestException, Session

from labs.apps.users import demo_password, load_test_users
from labs.cluster import ProcessCluster

TIMEOUT_SECONDS = 10


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
        try:
            response = self.session.get(url, timeout=TIMEOUT_SECONDS)
        except RequestException:
            return None, None
        return response.status_code, response.headers.get("X-Instance")

    def close(self) -> None:
        self.session.close()


def _login(url: str, name: str) -> _User:
    session = Session()
    response = session.post(
        url + "/login",
        json={"username": name, "password": demo_password(name)},
        timeout=TIMEOUT_SECONDS,
    )
    if response.status_code != 200:
        session.close()
        raise ExperimentError(f"login of {name} failed: {response.status_code} {response.text}")
    token = response.json().get("access_token")  # the JWT app; session apps set a cookie
    return _User(session, response.headers.get("X-Instance", "?"), token)
