"""A cluster in one Python process: N instances of a lab app behind a load balancer.

Each instance is one ``create_app(instance_id=...)`` call ("A", "B", "C", ...): its own Flask
app with its own memory, exactly like separate processes would have. Instances of an app that
uses Redis share one store (the same ``redis`` client, or the §5 rule when it is ``None``).

``cluster.client()`` is a browser: it keeps its own cookies and sends every request through the
cluster's balancer, which picks an instance by ``policy``:

* ``round_robin``: A, B, C, A, B, ... in turn (one turn counter for every browser);
* ``random``: uniformly at random, from a generator seeded with ``seed``;
* ``sticky``: pinned to the instance that served the browser first, i.e. the one that created
  its session (COURSE_DESIGN §7b). The balancer stamps the answer with a routing cookie
  ``route=<instance>`` and sends later requests carrying it back there; a request without it
  (or naming an unknown instance) goes round robin and gets a new one.

Every answer carries ``X-Instance``, the instance that served it. No sockets, no threads:
requests go through each app's Flask test client, so a lesson can run thousands in a second.
For real processes that can be killed, see ``labs.cluster.process``.

    cluster = LocalCluster("stateful", instances=2)
    browser = cluster.client()
    browser.post("/login", json={"username": "alice", "password": "wonderland"})  # A
    browser.get("/me").status_code                                                # B: 401
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from types import ModuleType
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from labs.apps import app_module

POLICIES = ("round_robin", "random", "sticky")
ROUTE_COOKIE = "route"
INSTANCE_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

AppFactory = Callable[..., Flask]


def resolve_factory(app: str | ModuleType | AppFactory) -> AppFactory:
    """``create_app`` of an app (a name from ``labs.apps.APPS``, a module path or a module),
    or the factory itself."""
    if isinstance(app, str):
        app = app_module(app)
    if isinstance(app, ModuleType):
        factory = getattr(app, "create_app", None)
        if factory is None:
            raise ValueError(f"module {app.__name__} has no create_app()")
        return factory
    if callable(app):
        return app
    raise TypeError("give a lab app's name, its module or module path, or a create_app factory")


def describe(response: TestResponse) -> str:
    """One line for a lesson: ``POST /login → instance A: 200 {'user': 'alice'}``."""
    request = response.request
    body = response.get_json(silent=True)
    shown = body if body is not None else response.get_data(as_text=True)
    return (
        f"{request.method:<4} {request.path:<11} → instance {response.headers.get('X-Instance')}: "
        f"{response.status_code} {shown}"
    ).rstrip()


class LocalCluster:
    """``instances`` instances of one lab app behind a balancer, all in this process."""

    def __init__(
        self,
        app: str | ModuleType | AppFactory,
        instances: int = 2,
        policy: str = "round_robin",
        seed: int = 0,
        redis: Any = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}")
        if isinstance(instances, bool) or not isinstance(instances, int):
            raise TypeError("instances must be an integer")
        if not 1 <= instances <= len(INSTANCE_IDS):
            raise ValueError(f"instances must be from 1 to {len(INSTANCE_IDS)}")
        self.factory = resolve_factory(app)
        self.policy = policy
        self.seed = seed
        self.redis = redis
        self.config = dict(config or {})
        self.instances: list[str] = list(INSTANCE_IDS[:instances])
        self.apps: dict[str, Flask] = {name: self._start(name) for name in self.instances}
        self.requests_per_instance: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._turn = 0
        self._lock = threading.Lock()

    def _start(self, instance_id: str) -> Flask:
        return self.factory(instance_id=instance_id, redis=self.redis, config=dict(self.config))

    def client(self) -> ClusterClient:
        """A new browser: an empty cookie jar whose requests go through the balancer."""
        return ClusterClient(self)

    def restart(self, instance_id: str) -> None:
        """Replace an instance by a fresh ``create_app`` call: what it kept in memory is lost."""
        if instance_id not in self.apps:
            raise ValueError(f"no instance {instance_id!r}: the instances are {self.instances}")
        self.apps[instance_id] = self._start(instance_id)

    def choose(self, route: str | None = None) -> str:
        """The instance for the next request (``route``: the routing cookie's value, if any)."""
        with self._lock:
            if self.policy == "sticky" and route in self.apps:
                return route
            if self.policy == "random":
                return self._rng.choice(self.instances)
            instance = self.instances[self._turn % len(self.instances)]
            self._turn += 1
            return instance

    def reset_counts(self) -> None:
        """Forget how many requests each instance served."""
        self.requests_per_instance.clear()

    def __repr__(self) -> str:
        app = getattr(self.factory, "__module__", "?")
        return f"LocalCluster({app}, instances={self.instances}, policy={self.policy!r})"


class ClusterClient:
    """A browser in front of a :class:`LocalCluster`: ``get``/``post`` like Flask's test client.

    It keeps one cookie jar (name -> value, every cookie sent to every path, as the lab apps
    set them for ``/``), honours deletions (``Max-Age=0``), and returns Werkzeug test responses.
    """

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.cookies: dict[str, str] = {}
        self.history: list[str] = []  # the instance that served each request, in order

    def open(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        """Send one request through the balancer; ``kwargs`` as for Flask's test client."""
        cluster = self.cluster
        route = self.cookies.get(ROUTE_COOKIE)
        instance = cluster.choose(route)
        headers = dict(kwargs.pop("headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        app = cluster.apps[instance]
        response = app.test_client(use_cookies=False).open(
            path, method=method, headers=headers, **kwargs
        )
        response.headers.setdefault("X-Instance", instance)
        if cluster.policy == "sticky" and route != instance:
            response.headers.add(
                "Set-Cookie", f"{ROUTE_COOKIE}={instance}; Path=/; HttpOnly; SameSite=Lax"
            )
        self._remember(response)
        with cluster._lock:
            cluster.requests_per_instance[instance] += 1
        self.history.append(instance)
        return response

    def _remember(self, response: TestResponse) -> None:
        for header in response.headers.getlist("Set-Cookie"):
            try:
                parsed = SimpleCookie(header)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                deleted = morsel["max-age"] in ("0", "-1") or morsel.value == ""
                if deleted:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("DELETE", path, **kwargs)
