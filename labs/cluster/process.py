"""A real cluster on your machine: gunicorn processes, a shared Redis and a load balancer.

``LocalCluster`` (``labs.cluster.local``) runs instances inside one Python process, which is quick
but cannot crash. ``ProcessCluster`` runs every instance as its own operating-system process,
so lessons can do what happens in production: ``kill -9`` one (:meth:`ProcessCluster.kill`),
stop one gracefully with SIGTERM (:meth:`ProcessCluster.terminate`), and start it again
(:meth:`ProcessCluster.restart`)::

    with ProcessCluster("stateless", instances=3) as cluster:
        requests.get(cluster.url + "/healthz")   # through the balancer
        cluster.kill(1)                          # instance "B" is gone, for real

What it starts, and stops again even after an error (no process, port or file left behind):

* **instances**: ``python -m gunicorn -c python:labs.cluster.gunicorn_conf
  "labs.apps.stateless_app:create_app(instance_id='A')"``, one sync worker each, on a free loopback
  port, each in its own process group (so a kill reaches the worker too);
* **the shared store**: the Redis at ``REDIS_URL`` if set, else fakeredis served over TCP
  (:class:`labs.redis_store.EmbeddedRedisServer`); instances get its URL in ``REDIS_URL``;
* **a load balancer** at :attr:`ProcessCluster.url`: nginx when it is installed (a generated
  config, everything in a temporary directory), else :class:`labs.cluster.balancer.LoadBalancer`.
  ``policy="sticky"`` pins each user to the instance that served them, with a ``route`` cookie
  (COURSE_DESIGN §7b). ``retry`` says which requests either balancer sends to another instance
  after one failed with them in hands (nginx's ``proxy_next_upstream``; see
  :mod:`labs.cluster.balancer`): by default, as nginx does, only idempotent ones.
  ``upstream_timeout`` is how long either balancer waits for an instance's answer (nginx's
  ``proxy_read_timeout``) before it counts as failed (lesson 10: a slow answer, retried).

``request_delay`` makes every instance wait that many seconds before handling a request (not
``/healthz``, ``/readyz`` or ``/login``): a slow handler, so that a kill under load is sure to
catch requests in flight (lesson 04).

``workers=N`` adds N job workers (lesson 09): ``python -m labs.jobs.worker`` processes beside the
instances, with the same environment, each in its own process group (:attr:`ProcessCluster.workers`:
``kill("w1")``, ``terminate``, ``restart``; :mod:`labs.cluster.workers`).

``s3=True`` adds object storage (lesson 09): the S3 endpoint of ``S3_ENDPOINT_URL`` if set, else
an embedded S3 server (:class:`labs.object_store.EmbeddedS3Server`); instances get its address
in ``S3_ENDPOINT_URL``. Every instance also gets ``KEY_PREFIX`` (:attr:`ProcessCluster.key_prefix`,
the start of every key and object name the cluster owns, so clusters can share one Redis or
bucket) and a ``TMPDIR`` inside the work directory ("local disk" that leaves with the cluster).

Lesson 11's additions:

* ``probes=Probes(liveness=..., readiness=..., startup=...)`` puts a supervisor in charge
  (:mod:`labs.cluster.supervisor`, :attr:`ProcessCluster.supervisor`): it restarts an instance
  whose liveness fails and keeps an unready one out of the pool, as a kubelet does. The Python
  balancer then routes only to instances the supervisor calls ready (no ready instance: a 502),
  as a Kubernetes Service routes only to ready pods, and it does not probe on its own.
* ``store_proxy="open"`` puts a loopback proxy (:class:`labs.cluster.proxy.TcpProxy`,
  :attr:`ProcessCluster.store_proxy`) between the instances and the store, so a lesson can cut
  the store for them (``cluster.store_proxy.cut()``, ``.restore()``) without touching the server
  behind ``REDIS_URL``; ``"refuse"`` starts it cut: instances that start before Redis exists.
* ``boot_seconds`` makes every instance wait that long before its first request (a slow start:
  what a restart costs); ``instance_env={"C": {"DRAIN_SECONDS": "0"}}`` sets one instance's
  environment apart; :meth:`ProcessCluster.scale` adds or removes instances while it runs.

``stop()`` (or leaving the ``with``) is abrupt on purpose: SIGKILL to every process group, since
a lab cluster has nothing to save and lessons must stay quick; a graceful stop of one instance
is ``terminate``. A cluster never stopped is stopped when Python exits (a kernel restart too).
If that Python is killed hard instead, the instances notice and stop themselves
(``labs.cluster.gunicorn_conf``); nginx cannot, and would be left running.

The instances share fixed secrets (``SECRET_KEY``, ``JWT_SECRET``) so that any of them accepts
what another signed. They are course values for a cluster that only listens on loopback; set
those variables in the environment to use your own.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from labs import object_store
from labs.apps import app_module
from labs.cluster.balancer import MAX_BODY_BYTES, RETRY, ROUTE_COOKIE, LoadBalancer
from labs.cluster.proxy import MODES as PROXY_MODES
from labs.cluster.proxy import TcpProxy
from labs.cluster.supervisor import Probes, Supervisor
from labs.cluster.workers import WorkerPool
from labs.jobs.queue import JobQueue
from labs.redis_store import EmbeddedRedisServer, connect, redis_url

HOST = "127.0.0.1"
POLICIES = ("round_robin", "sticky")
BALANCERS = ("auto", "nginx", "python")
WORKER_CLASSES = ("sync", "gthread")
INSTANCE_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Fixed secrets of the local teaching cluster (loopback only): every instance must share them.
COURSE_SECRET_KEY = "course-cluster-secret-key: loopback teaching cluster, not for production"
COURSE_JWT_SECRET = "course-cluster-jwt-secret: loopback teaching cluster, not for production"
FAIL_TIMEOUT_SECONDS = 2  # how long a balancer skips an instance that refused a connection
MAX_REQUEST_DELAY = 10.0  # seconds: a slow handler, not a hung one
MAX_BOOT_SECONDS = 20.0  # a slow start, within gunicorn's 30 s worker timeout
STORE_PROXY = (None, "open", *PROXY_MODES)  # the store proxy's mode when the cluster starts
UNDELAYED_PATHS = ("/healthz", "/readyz", "/login")  # probes and set-up stay quick
# What each retry setting is in nginx's words (labs.cluster.balancer.RETRY).
NGINX_NEXT_UPSTREAM = {
    "idempotent": "error timeout",
    "all": "error timeout non_idempotent",
    "off": "off",
}


class ClusterError(RuntimeError):
    """The cluster could not start (the message includes the failing process's last output)."""


WORKDIR_PREFIX = "sbd-cluster-"  # in the system's temp dir: logs, nginx config, sockets
OWNER_FILE = "owner.pid"  # the process that started the cluster


def sweep_stale_workdirs(root: str | None = None) -> list[str]:
    """Delete the work dirs of clusters whose owner is gone (a kernel killed hard cannot clean up
    after itself; the next cluster does). Returns what it deleted."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge: no owner recorded
        if owner != os.getpid() and not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def find_nginx() -> str | None:
    """The nginx binary, if installed (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def group_pids(pgid: int) -> list[int]:
    """The processes still in process group ``pgid`` (Linux ``/proc``; empty elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # after "pid (name)": state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def delayed_app(module: str, instance_id: str, seconds: float) -> Any:
    """``module.create_app(instance_id)`` behind a wait of ``seconds`` before each request but
    the probes and logins: what gunicorn runs for a cluster with ``request_delay``."""
    if not 0 <= seconds <= MAX_REQUEST_DELAY:
        raise ValueError(f"request_delay must be from 0 to {MAX_REQUEST_DELAY:g} s, not {seconds}")
    app = importlib.import_module(module).create_app(instance_id=instance_id)
    handle = app.wsgi_app

    def slowly(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") not in UNDELAYED_PATHS:
            time.sleep(seconds)  # the handler "works"; a kill -9 now loses the request
        return handle(environ, start_response)

    app.wsgi_app = slowly
    return app


def nginx_config(
    instances: list[tuple[str, int]],
    listen_port: int,
    policy: str,
    workdir: str,
    retry: str = "idempotent",
    upstream_timeout: float = 30.0,
) -> str:
    """The nginx configuration for ``instances`` (``[(id, port), ...]``) behind one port.

    Round robin over every instance; an instance that refuses a connection is skipped
    (``proxy_next_upstream``, which ``retry`` sets) and left out for a while
    (``max_fails``/``fail_timeout``). With
    ``sticky``, nginx 1.22 has no ``sticky`` directive, so a ``map`` sends users whose ``route``
    cookie names an instance to that instance (the others are its backups), and every answer
    sets the cookie to the instance that served it.
    """
    failover = f"max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s"
    pool = [f"        server {HOST}:{port} {failover};" for _, port in instances]
    lines = [
        "# nginx in front of the lab cluster, generated by labs.cluster.process.",
        "daemon off;",
        "master_process off;  # one process: nothing to orphan, round robin in one place",
        f"pid {workdir}/nginx.pid;",
        f"error_log {workdir}/nginx-error.log warn;",
        "events {",
        "    worker_connections 512;",
        "}",
        "http {",
        "    access_log off;",
        *(f"    {kind}_temp_path {workdir}/{kind};" for kind in _NGINX_TEMP_PATHS),
        "",
        f"    # Every instance; one refused connection leaves it out for {FAIL_TIMEOUT_SECONDS} s.",
        "    upstream pool {",
        *pool,
        "    }",
    ]
    target, cookie = "pool", []
    if policy == "sticky":
        target = "$backend"
        lines += ["", "    # Sticky: the route cookie names an instance; its upstream tries it"]
        lines += ["    # first, then the others (backups). No cookie yet: the round-robin pool."]
        for name, port in instances:
            lines += [f"    upstream pin_{name} {{", f"        server {HOST}:{port} {failover};"]
            lines += [
                f"        server {HOST}:{other} {failover} backup;"
                for other_name, other in instances
                if other_name != name
            ]
            lines += ["    }"]
        lines += [f"    map $cookie_{ROUTE_COOKIE} $backend {{", "        default pool;"]
        lines += [f"        {name} pin_{name};" for name, _ in instances]
        lines += ["    }", "    # Which instance answered: the last address nginx tried."]
        lines += ["    map $upstream_addr $served_by {"]
        escaped_host = HOST.replace(".", "\\.")
        lines += [f"        ~(^|\\s){escaped_host}:{port}$ {name};" for name, port in instances]
        lines += ["    }"]
        cookie = [
            f'            add_header Set-Cookie "{ROUTE_COOKIE}=$served_by; Path=/; HttpOnly; '
            'SameSite=Lax" always;'
        ]
    lines += [
        "",
        "    server {",
        f"        listen {HOST}:{listen_port};",
        f"        client_max_body_size {MAX_BODY_BYTES // 2**20}m;  # as the Python balancer",
        "        location / {",
        f"            proxy_pass http://{target};",
        f"            proxy_next_upstream {NGINX_NEXT_UPSTREAM[retry]};  # {_RETRY_NOTE[retry]}",
        "            proxy_connect_timeout 1s;",
        f"            proxy_read_timeout {round(upstream_timeout * 1000)}ms;  # then: a timeout",
        "            proxy_set_header Host $http_host;",
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        *cookie,
        "        }",
        "        error_page 502 504 = @unavailable;",
        "        location @unavailable {",
        "            default_type application/json;",
        """            return 502 '{"error": "no instance is available"}';""",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


_NGINX_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_RETRY_NOTE = {
    "idempotent": "instance down: try the next one (a sent POST: no)",
    "all": "instance down: try the next one, even for a sent POST",
    "off": "one instance per request",
}


@dataclass
class _Instance:
    id: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class _Resources:
    """Everything the cluster started, so it can all be stopped without the cluster object."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    supervisor: Supervisor | None = None  # stopped first: it would restart what is stopped
    balancer: LoadBalancer | None = None
    store_proxy: TcpProxy | None = None
    store: EmbeddedRedisServer | None = None
    s3: object_store.EmbeddedS3Server | None = None
    s3_url: str | None = None  # the endpoint whose objects under key_prefix are the cluster's
    real_redis_url: str | None = None  # a shared Redis whose keys under key_prefix are ours
    key_prefix: str = ""
    workdir: str | None = None

    def release(self) -> None:
        """Stop the balancer, every process group, the stores; delete the work directory and,
        on a shared Redis or S3, every key and object under the cluster's prefix."""
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.balancer is not None:
            self.balancer.stop()
        # Abrupt on purpose: a lab cluster has nothing to save, and lessons must stay quick.
        # (A graceful stop of one instance is ProcessCluster.terminate.)
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            _stop_group(process, grace=0)
        for log in self.logs:
            log.close()
        if self.store_proxy is not None:
            self.store_proxy.stop()
        if self.real_redis_url is not None:
            _delete_keys(self.real_redis_url, self.key_prefix)
        if self.s3_url is not None:
            with contextlib.suppress(Exception):  # cleaning up must not hide the real error
                s3 = object_store.client(self.s3_url)
                object_store.delete_prefix(s3, object_store.bucket_name(), self.key_prefix[:-1])
        if self.s3 is not None:
            self.s3.stop()
        if self.store is not None:
            self.store.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.processes, self.logs = [], []
        self.supervisor, self.store_proxy = None, None
        self.balancer, self.store, self.workdir = None, None, None
        self.s3, self.s3_url, self.real_redis_url = None, None, None


def _delete_keys(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` in the shared Redis at ``url`` (never FLUSHDB)."""
    if not prefix:
        return
    with contextlib.suppress(Exception):  # Redis may be down by now; nothing more to do
        client = connect(url)
        try:
            batch = []
            for key in client.scan_iter(match=prefix + "*", count=500):
                batch.append(key)
                if len(batch) == 500:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        finally:
            client.close()


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``process`` to exit, then SIGKILL its whole group."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    if group_pids(process.pid) or process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group: the worker too, even if orphaned
    process.wait()
    deadline = time.monotonic() + 5
    while group_pids(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # a worker re-parented to init takes a moment to be reaped


class ProcessCluster:
    """``instances`` gunicorn processes of ``app`` behind a load balancer, sharing one Redis."""

    def __init__(
        self,
        app: str = "stateless",
        instances: int = 3,
        policy: str = "round_robin",
        balancer: str = "auto",
        *,
        worker_class: str = "sync",
        retry: str = "idempotent",
        request_delay: float = 0.0,
        drain_seconds: float = 1.0,
        start_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        s3: bool = False,
        workers: int = 0,
        upstream_timeout: float = 30.0,
        probes: Probes | None = None,
        store_proxy: str | None = None,
        boot_seconds: float = 0.0,
        instance_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        if not 1 <= instances <= len(INSTANCE_IDS):
            raise ValueError(f"instances must be from 1 to {len(INSTANCE_IDS)}")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        if balancer not in BALANCERS:
            raise ValueError(f"balancer must be one of {BALANCERS}, not {balancer!r}")
        if worker_class not in WORKER_CLASSES:
            raise ValueError(f"worker_class must be one of {WORKER_CLASSES}")
        if retry not in RETRY:
            raise ValueError(f"retry must be one of {RETRY}, not {retry!r}")
        if not 0.1 <= upstream_timeout <= 300:
            raise ValueError(
                f"upstream_timeout must be from 0.1 to 300 s, not {upstream_timeout!r}"
            )
        if not 0 <= request_delay <= MAX_REQUEST_DELAY:
            raise ValueError(
                f"request_delay must be from 0 to {MAX_REQUEST_DELAY:g} s, not {request_delay!r}"
            )
        if store_proxy not in STORE_PROXY:
            raise ValueError(f"store_proxy must be one of {STORE_PROXY}, not {store_proxy!r}")
        if not 0 <= boot_seconds <= MAX_BOOT_SECONDS:
            raise ValueError(
                f"boot_seconds must be from 0 to {MAX_BOOT_SECONDS:g} s, not {boot_seconds!r}"
            )
        if probes is not None and not isinstance(probes, Probes):
            raise ValueError("probes must be a labs.cluster.supervisor.Probes")
        if probes is not None and balancer == "nginx":
            raise ValueError(
                "a supervised cluster needs the Python balancer (the supervisor sets its pool); "
                "use balancer='python' or 'auto'"
            )
        if probes is not None:
            balancer = "python"
        nginx = find_nginx()
        if balancer == "nginx" and nginx is None:
            raise ClusterError("nginx is not installed (apt-get install nginx), use 'python'")
        self.app = app_module(app).__name__  # what gunicorn imports: fails here if it cannot
        self.policy = policy
        self.balancer_kind = "nginx" if balancer != "python" and nginx else "python"
        self.worker_class = worker_class
        self.retry = retry
        self.request_delay = float(request_delay)
        self.upstream_timeout = float(upstream_timeout)
        self.drain_seconds = drain_seconds
        self.start_timeout = start_timeout
        self.probes = probes
        self.store_proxy_mode = store_proxy
        self.boot_seconds = float(boot_seconds)
        self._instance_env = {name: dict(values) for name, values in (instance_env or {}).items()}
        self._nginx = nginx
        self._extra_env = dict(env or {})
        self.s3 = bool(s3)
        self._workers = WorkerPool(workers, self._spawn, _stop_group, ".")  # checks the count
        # Every key and object name of this cluster starts with this, so clusters (two kernels'
        # too) can share one real Redis or bucket; stop() deletes what lies under it.
        self.key_prefix = f"sbd-{secrets.token_hex(4)}:"
        self._count = instances
        self._instances: list[_Instance] = []
        self._balancer_port: int | None = None
        self._redis_url: str | None = None
        self._store_port: int | None = None
        self._nginx_process: subprocess.Popen[bytes] | None = None
        self._s3_env: dict[str, str] = {}
        self._resources = _Resources(key_prefix=self.key_prefix)
        self._finalizer = weakref.finalize(self, _Resources.release, self._resources)
        self._started = False

    # --- what a lesson reads -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The load balancer's address: send every request here."""
        if self._balancer_port is None:
            raise RuntimeError("the cluster is not running: use it in a `with` block or start()")
        return f"http://{HOST}:{self._balancer_port}"

    @property
    def instance_ids(self) -> list[str]:
        return [instance.id for instance in self._instances]

    @property
    def instance_urls(self) -> list[str]:
        """Each instance's own address (bypassing the balancer)."""
        return [instance.url for instance in self._instances]

    @property
    def redis_url(self) -> str | None:
        """The shared store itself (behind the store proxy, if the cluster has one)."""
        return self._redis_url

    @property
    def store_proxy(self) -> TcpProxy:
        """The proxy between the instances and the store (``store_proxy=...``): ``cut()`` it."""
        if self._resources.store_proxy is None:
            raise RuntimeError("this cluster has no store proxy: start it with store_proxy='open'")
        return self._resources.store_proxy

    @property
    def supervisor(self) -> Supervisor:
        """The supervisor acting on the probes (``probes=...``): restarts, readiness, events."""
        if self._resources.supervisor is None:
            raise RuntimeError("this cluster has no supervisor: start it with probes=Probes(...)")
        return self._resources.supervisor

    @property
    def ports(self) -> list[int]:
        """Every port the cluster listens on: instances, balancer, embedded store."""
        ports = [instance.port for instance in self._instances]
        if self._balancer_port is not None:
            ports.append(self._balancer_port)
        if self._store_port is not None:
            ports.append(self._store_port)
        return ports

    @property
    def workers(self) -> WorkerPool:
        """The job workers (``workers=N``): ``kill("w1")``, ``restart``, ``names``, ``pid``."""
        return self._workers

    @property
    def s3_url(self) -> str | None:
        """The S3 endpoint the instances use (``s3=True``), embedded or ``S3_ENDPOINT_URL``."""
        return self._resources.s3_url

    @property
    def balancer(self) -> LoadBalancer | None:
        """The Python balancer (its counters), or None when nginx is in front."""
        return self._resources.balancer

    @property
    def workdir(self) -> str | None:
        """The temporary directory holding logs and nginx's files (deleted by stop())."""
        return self._resources.workdir

    def process_ids(self) -> dict[str, list[int]]:
        """The cluster's running processes: ``{"A": [master, worker], ..., "nginx": [pid]}``."""
        found = {}
        for instance in self._instances:
            if instance.process is not None and instance.process.poll() is None:
                found[instance.id] = group_pids(instance.process.pid)
        if self._nginx_process is not None and self._nginx_process.poll() is None:
            found["nginx"] = group_pids(self._nginx_process.pid)
        return found

    def pid(self, which: int | str) -> int | None:
        """The gunicorn master's process id of instance ``which``, or None if it is not running."""
        process = self._instance(which).process
        return process.pid if process is not None and process.poll() is None else None

    def is_alive(self, which: int | str) -> bool:
        return self.pid(which) is not None

    def log_tail(self, which: int | str, lines: int = 20) -> str:
        """The last lines gunicorn wrote for instance ``which`` (its stderr)."""
        return _tail(self._instance(which).log_path, lines)

    # --- starting and stopping ---------------------------------------------------------------

    def start(self) -> ProcessCluster:
        """Start the store, the instances (waiting until each answers) and the balancer."""
        if not self._finalizer.alive:
            raise RuntimeError("this cluster was stopped; make a new ProcessCluster")
        if self._started:
            return self
        self._started = True
        try:
            sweep_stale_workdirs()
            workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
            Path(workdir, OWNER_FILE).write_text(str(os.getpid()))
            self._resources.workdir = workdir
            Path(workdir, "tmp").mkdir()  # the instances' TMPDIR: gone with the cluster
            self._redis_url = redis_url()
            if self._redis_url is not None:
                connect(self._redis_url).close()  # RedisUnavailable now, not in every instance
                self._resources.real_redis_url = self._redis_url
            else:
                self._resources.store = EmbeddedRedisServer().start()
                self._redis_url = self._resources.store.url
                self._store_port = int(self._redis_url.rsplit(":", 1)[1].split("/")[0])
            if self.s3:
                self._start_s3()
            if self.store_proxy_mode is not None:
                proxy = TcpProxy(self._redis_url).start()
                self._resources.store_proxy = proxy
                if self.store_proxy_mode != "open":
                    proxy.cut(self.store_proxy_mode)  # the store does not exist yet, for them
            self._instances = [
                _Instance(INSTANCE_IDS[i], free_port(), Path(workdir) / f"instance-{i}.log")
                for i in range(self._count)
            ]
            for instance in self._instances:
                self._launch(instance)
            for instance in self._instances:
                self._await_ready(instance, retry_port=True)
            if self._workers.names:
                with contextlib.closing(connect(self._redis_url)) as store:
                    JobQueue(store, self.key_prefix).ensure_group()  # once, before workers start
                count = len(self._workers.names)
                self._workers = WorkerPool(count, self._spawn, _stop_group, workdir).start()
            self._start_balancer(workdir)
            if self.probes is not None:
                supervisor = Supervisor(self, self.probes)
                self._resources.supervisor = supervisor
                for instance in self._instances:
                    supervisor.watch(instance.id)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the balancer, every instance and the store (safe to call twice)."""
        self._finalizer()
        self._balancer_port = None

    def __enter__(self) -> ProcessCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what happens to instances in production -------------------------------------------

    def kill(self, which: int | str) -> int:
        """``kill -9`` instance ``which`` (master and worker): no goodbye. Returns its exit code."""
        instance = self._instance(which)
        if instance.process is None or instance.process.poll() is not None:
            raise RuntimeError(f"instance {instance.id} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(instance.process.pid, signal.SIGKILL)
        _stop_group(instance.process, grace=0)
        return instance.process.returncode

    def terminate(self, which: int | str) -> None:
        """Send SIGTERM, as a deploy does: the instance drains, then exits (see :meth:`wait`)."""
        instance = self._instance(which)
        if instance.process is None or instance.process.poll() is not None:
            raise RuntimeError(f"instance {instance.id} is not running")
        if self._resources.supervisor is not None:
            self._resources.supervisor.terminating(instance.id)  # a stop, not a failure
        instance.process.send_signal(signal.SIGTERM)

    def wait(self, which: int | str, timeout: float = 30.0) -> int:
        """Wait for instance ``which`` to exit; its exit code (0 after a graceful stop)."""
        process = self._instance(which).process
        if process is None:
            raise RuntimeError("that instance was never started")
        code = process.wait(timeout=timeout)
        _stop_group(process, grace=0)  # nothing of it may linger
        return code

    def restart(self, which: int | str) -> None:
        """Stop instance ``which`` if it runs (gracefully), then start it again on its port."""
        instance = self._instance(which)
        if instance.process is not None and instance.process.poll() is None:
            self.terminate(which)
            self.wait(which, timeout=self.drain_seconds + 20)
        self._launch(instance)
        self._await_ready(instance, retry_port=False)
        if self._resources.supervisor is not None:
            self._resources.supervisor.watch(instance.id)  # probed again, from its start

    def relaunch(self, which: int | str) -> None:
        """``kill -9`` instance ``which`` if it runs, and start a new process on its port at
        once, without waiting for it to answer (what the supervisor does on a failed probe)."""
        instance = self._instance(which)
        if instance.process is not None and instance.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(instance.process.pid, signal.SIGKILL)
            _stop_group(instance.process, grace=0)
        self._launch(instance)

    def scale(self, replicas: int) -> list[str]:
        """Run ``replicas`` instances from now on: new ones are started (and join the pool once
        they answer); the newest are removed first, out of the pool, then stopped gracefully
        (SIGTERM). The same command for every replica. Returns the instances now running."""
        if not 1 <= replicas <= len(INSTANCE_IDS):
            raise ValueError(f"replicas must be from 1 to {len(INSTANCE_IDS)}, not {replicas!r}")
        balancer = self._resources.balancer
        if balancer is None:
            raise RuntimeError("scale() needs the Python balancer: start with balancer='python'")
        added = []
        while len(self._instances) < replicas:
            used = {instance.id for instance in self._instances}
            name = next(letter for letter in INSTANCE_IDS if letter not in used)
            workdir = Path(str(self._resources.workdir))
            instance = _Instance(name, free_port(), workdir / f"instance-{name}.log")
            self._instances.append(instance)
            self._launch(instance)  # all of them start at once, as a ReplicaSet's pods do
            added.append(instance)
        for instance in added:
            self._await_ready(instance, retry_port=True)
            balancer.add_backend(instance.id, instance.url, ready=self.probes is None)
            if self._resources.supervisor is not None:
                self._resources.supervisor.watch(instance.id)
        removed = self._instances[replicas:]
        for instance in removed:
            if self._resources.supervisor is not None:
                self._resources.supervisor.forget(instance.id)
            balancer.remove_backend(instance.id)  # first out of the pool, then stopped
            if instance.process is not None and instance.process.poll() is None:
                self.terminate(instance.id)
        for instance in removed:
            if instance.process is not None:
                self.wait(instance.id, timeout=self.drain_seconds + 20)
        del self._instances[replicas:]
        return self.instance_ids

    def instance_port(self, which: int | str) -> int:
        """The loopback port instance ``which`` listens on."""
        return self._instance(which).port

    def set_ready(self, which: str, ready: bool) -> None:
        """Put instance ``which`` in the balancer's pool, or take it out (the supervisor's job)."""
        balancer = self._resources.balancer
        if balancer is not None:
            with contextlib.suppress(ValueError):  # already removed by a scale-in
                balancer.backend(which).ready = ready

    # --- internals ---------------------------------------------------------------------------

    def _instance(self, which: int | str) -> _Instance:
        if not self._instances:
            raise RuntimeError("the cluster is not running")
        if isinstance(which, str):
            for instance in self._instances:
                if instance.id == which:
                    return instance
            raise ValueError(f"no instance {which!r}; instances are {self.instance_ids}")
        return self._instances[which]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("SECRET_KEY", COURSE_SECRET_KEY)
        env.setdefault("JWT_SECRET", COURSE_JWT_SECRET)
        env.update(
            REDIS_URL=str(self._redis_url),
            KEY_PREFIX=self.key_prefix,
            DRAIN_SECONDS=str(self.drain_seconds),
            SBD_PARENT_PID=str(os.getpid()),
            PYTHONUNBUFFERED="1",
        )
        if self._resources.store_proxy is not None:
            env["REDIS_URL"] = self._resources.store_proxy.url  # the store, through the proxy
        if self.boot_seconds:
            env["BOOT_SECONDS"] = str(self.boot_seconds)
        if self._resources.workdir is not None:
            env["TMPDIR"] = str(Path(self._resources.workdir, "tmp"))  # files on "local disk"
        env.update(self._s3_env)
        env.update(self._extra_env)
        return env

    def _start_s3(self) -> None:
        """The object store: ``S3_ENDPOINT_URL`` if set, else an embedded server of our own."""
        url = object_store.s3_endpoint_url()
        if url is None:
            self._resources.s3 = object_store.EmbeddedS3Server().start()
            url = self._resources.s3.url
            self._s3_env = self._resources.s3.environ()
        object_store.ensure_bucket(object_store.client(url), object_store.bucket_name())
        self._resources.s3_url = url
        self._s3_env = {**self._s3_env, "S3_BUCKET": object_store.bucket_name()}

    def _launch(self, instance: _Instance) -> None:
        env = {**self._environment(), **self._instance_env.get(instance.id, {})}
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:labs.cluster.gunicorn_conf",
            "--bind",
            f"{HOST}:{instance.port}",
            "--worker-class",
            self.worker_class,
            f"{self.app}:create_app(instance_id={instance.id!r})",
        ]
        if self.request_delay:
            command[-1] = (
                f"{__name__}:delayed_app({self.app!r}, {instance.id!r}, {self.request_delay!r})"
            )
        instance.process = self._spawn(command, instance.log_path, env)

    def _spawn(
        self, command: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` with the instances' environment, its output appended to
        ``log_path``, in a process group of its own (a kill reaches all of it); stop() ends it."""
        log = open(log_path, "ab")  # noqa: SIM115 - closed by _Resources.release
        self._resources.logs.append(log)
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env if env is not None else self._environment(),
            start_new_session=True,
        )
        self._resources.processes.append(process)
        return process

    def _await_ready(self, instance: _Instance, retry_port: bool) -> None:
        """Poll the instance's ``/healthz`` until it answers as itself; a clear error if not."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            process = instance.process
            assert process is not None
            if process.poll() is not None:
                log = _tail(instance.log_path, 15)
                if retry_port and "Address already in use" in log:  # lost a race for the port
                    instance.port = free_port()
                    self._launch(instance)
                    retry_port = False
                    continue
                raise ClusterError(
                    f"instance {instance.id} ({self.app}) exited with code {process.returncode} "
                    f"while starting. Its last output:\n{log}"
                )
            if _answers_as(instance.port, instance.id):
                return
            time.sleep(0.05)
        raise ClusterError(
            f"instance {instance.id} ({self.app}) did not answer /healthz within "
            f"{self.start_timeout:.0f} s. Its last output:\n{_tail(instance.log_path, 15)}"
        )

    def _start_balancer(self, workdir: str) -> None:
        backends = [(instance.id, instance.url) for instance in self._instances]
        if self.balancer_kind == "python":
            balancer = LoadBalancer(
                backends,
                self.policy,
                down_seconds=FAIL_TIMEOUT_SECONDS,
                retry=self.retry,
                timeout=self.upstream_timeout,
                # Supervised: the supervisor says who is ready; the balancer asks no one itself.
                health_interval=None if self.probes is not None else 0.25,
                strict_readiness=self.probes is not None,
            )
            self._resources.balancer = balancer.start()
            self._balancer_port = int(balancer.url.rsplit(":", 1)[1])
            return
        for _attempt in range(3):
            port = free_port()
            config = Path(workdir) / "nginx.conf"
            members = [(instance.id, instance.port) for instance in self._instances]
            config.write_text(
                nginx_config(members, port, self.policy, workdir, self.retry, self.upstream_timeout)
            )
            log = open(Path(workdir) / "nginx-stderr.log", "ab")  # noqa: SIM115 - see release
            self._resources.logs.append(log)
            command = [str(self._nginx), "-p", workdir, "-c", str(config)]
            command += ["-e", f"{workdir}/nginx-error.log"]
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._resources.processes.append(process)
            self._nginx_process = process
            deadline = time.monotonic() + self.start_timeout
            while process.poll() is None and time.monotonic() < deadline:
                if port_is_open(port):  # a bare connect: no request, so round robin is untouched
                    self._balancer_port = port
                    return
                time.sleep(0.02)
            errors = _tail(Path(workdir) / "nginx-error.log", 10)
            if process.poll() is None or "Address already in use" not in errors:
                break
        raise ClusterError(f"nginx did not start. Its error log:\n{errors}")

    def __repr__(self) -> str:
        state = "running" if self._balancer_port else "stopped"
        return (
            f"<ProcessCluster {self.app} x{self._count} {self.policy} via {self.balancer_kind}, "
            f"{state}>"
        )


def _answers_as(port: int, instance_id: str) -> bool:
    """True when ``GET /healthz`` on ``port`` is answered (200 or 503) by ``instance_id``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        # 503 too: an instance whose liveness says no (lesson 11's deep probe, with the store
        # down) has started; acting on that is the supervisor's job, not the start-up's.
        answered = response.status in (200, 503)
        return answered and response.getheader("X-Instance") == instance_id
    except OSError:
        return False
    finally:
        connection.close()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
