"""Where the shared store lives (COURSE_DESIGN §5).

* ``REDIS_URL`` set: a client for the real server at that URL. If it cannot be
  reached you get :class:`RedisUnavailable`, naming the URL, at once, rather
  than a timeout in the middle of a lesson.
* ``REDIS_URL`` not set: a client for one embedded fakeredis server shared by
  everything in this Python process. Two app instances built in the same
  notebook therefore share one store, exactly as two real instances share one
  Redis.

Processes cannot share an in-process fake, so a multi-process cluster runs
:class:`EmbeddedRedisServer`, fakeredis behind a real TCP port on loopback, and
hands its URL to every instance.
"""

from __future__ import annotations

import os
import socketserver
import threading
from urllib.parse import urlsplit, urlunsplit

import fakeredis
import redis

# One fake server per process: every embedded client talks to it.
_EMBEDDED_SERVER = fakeredis.FakeServer()


class RedisUnavailable(RuntimeError):
    """The Redis named by ``REDIS_URL`` (or passed explicitly) did not answer."""


def redis_url() -> str | None:
    """The configured ``REDIS_URL``, or None when the embedded store is in use."""
    return os.environ.get("REDIS_URL") or None


def redis_mode() -> str:
    """``"real"`` when ``REDIS_URL`` is set, otherwise ``"embedded"``."""
    return "real" if redis_url() else "embedded"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A ``decode_responses`` client for the server at ``url``, checked with PING."""
    client = redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        client.close()
        raise RedisUnavailable(
            f"Cannot reach Redis at {redact(url)} ({exc}). Start that server, fix REDIS_URL, "
            "or unset REDIS_URL to use the embedded store."
        ) from None
    return client


def lazy_redis(url: str | None = None, timeout: float = 2.0) -> redis.Redis:
    """The store for this process, as :func:`get_redis` picks it, but *not contacted now*.

    An app factory uses this: creating the client sends nothing, so an instance started before
    Redis exists still starts (its first request that needs Redis gets a 503, and ``/readyz``
    says not ready). ``timeout`` bounds every connect and every reply, in seconds; a blocking
    read (``XREADGROUP ... BLOCK``, a pub/sub wait) must block for less than that.
    """
    url = url or redis_url()
    if url:
        return redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout
        )
    return fakeredis.FakeRedis(server=_EMBEDDED_SERVER, decode_responses=True)


def get_redis(url: str | None = None) -> redis.Redis:
    """The store for this process: ``url`` or ``REDIS_URL`` if set, else the embedded fake."""
    url = url or redis_url()
    if url:
        return connect(url)
    return fakeredis.FakeRedis(server=_EMBEDDED_SERVER, decode_responses=True)


class EmbeddedRedisServer:
    """fakeredis served over TCP on a free loopback port, for multi-process clusters.

    Use it as a context manager; ``url`` is ready once ``start()`` returns and
    ``stop()`` closes the port.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: socketserver.TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the embedded Redis server is not running")
        host, port = self._server.server_address[:2]
        return f"redis://{host}:{port}/0"

    def start(self) -> EmbeddedRedisServer:
        if self._server is None:
            server = fakeredis.TcpFakeServer((self._host, 0), server_type="redis")
            server.daemon_threads = True
            # Answer at once: with Nagle's algorithm on, a pipeline's second reply waits for the
            # client's delayed ACK, adding ~40 ms to every pipelined request.
            server.RequestHandlerClass = type(
                "NoDelayHandler", (server.RequestHandlerClass,), {"disable_nagle_algorithm": True}
            )
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits at most one poll
                name="embedded-redis",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmbeddedRedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
