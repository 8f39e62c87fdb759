"""A load balancer small enough to read: what nginx does in front of the lab cluster.

For every request it:

1. picks an instance: round robin over the instances it believes are up, or, with the
   ``sticky`` policy, the instance named by the ``route`` cookie (COURSE_DESIGN §7b);
2. forwards the request there (method, path, headers, body) and copies the answer back
   (status, every header including several ``Set-Cookie``, body) unchanged;
3. if the instance refuses the connection, marks it *down* for ``down_seconds`` and tries the
   next one, so a crashed instance costs the client nothing (nginx: ``proxy_next_upstream``);
   if the instance fails *with the request in its hands* (the connection breaks or times out
   before an answer), whether the request is sent again depends on ``retry`` (below);
4. with ``sticky``, stamps the answer with ``Set-Cookie: route=<instance>``, so the user's next
   requests go back to the instance that served them (and created their session).

An answer is read whole before it is copied back, except a *stream*: ``text/event-stream``, or
any answer with no ``Content-Length`` (lesson 09's ``GET /events``). That is passed on as it
arrives, each piece flushed at once (nginx: ``proxy_buffering off``), without a length, and the
connection is closed at its end (the balancer speaks HTTP/1.0 to its clients). A stream is never
sent again: if its instance dies in the middle, the client's stream just ends (the instance is
marked down), and the client reconnects, which lands on another instance.

``retry`` says which requests are sent to another instance after an instance failed, like
nginx's ``proxy_next_upstream`` (the default, ``"idempotent"``, is nginx's default):

* ``"idempotent"`` (``proxy_next_upstream error timeout``): a refused connection (nothing was
  sent) is tried on the next instance whatever the method; a request that was sent is sent
  again only if doing it twice does no harm: GET, HEAD, OPTIONS, PUT, DELETE. A POST or PATCH
  gets a 502: the instance may have done it before dying, and only the client can decide;
* ``"all"`` (``... non_idempotent``): every request is sent again, POSTs too (double orders);
* ``"off"`` (``proxy_next_upstream off``): one instance per request; any failure is a 502.

``retried`` and ``not_retried`` count, per method, the requests an instance failed with in
its hands that were sent again, or answered 502; ``in_flight()`` says what each instance holds.

A background thread also asks every instance ``GET /readyz`` a few times a second and leaves
out the ones that are not ready (draining, or cannot reach Redis): an *active* health check,
which nginx's open-source edition does not have.

It uses the standard library only and listens on loopback. It runs in a thread of the process
that starts it (a notebook's kernel, a test), not as a process of its own: it starts at once, a
lesson can read its counters (``served``, ``marked_down``) directly, and it is not what the crash
lessons kill; the instances behind it are real processes.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ROUTE_COOKIE = "route"
POLICIES = ("round_robin", "sticky")
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
# Which requests are sent again after an instance failed with them (nginx proxy_next_upstream).
RETRY = ("idempotent", "all", "off")
# Headers about one connection, not the message: never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
# The largest body it passes on: room for lesson 09's uploads (1 MiB by default, plus their
# multipart headers, and a raised MAX_UPLOAD_BYTES); the instances apply their own limits.
MAX_BODY_BYTES = 16 * 1024 * 1024
# A request target the balancer passes on: printable ASCII, no space (RFC 9112 §3.2), else 400.
TARGET = re.compile(r"[!-~]+")
STREAM_PIECE_BYTES = 64 * 1024  # a stream is copied in pieces of at most this, as they arrive


@dataclass
class Backend:
    """One instance behind the balancer, and what the balancer believes about it."""

    id: str
    host: str
    port: int
    down_until: float = 0.0  # time.monotonic() before which it is skipped
    ready: bool = True  # the last readiness check's answer

    def is_up(self, now: float) -> bool:
        return self.ready and now >= self.down_until


class Unavailable(Exception):
    """No instance could answer the request."""


class StreamBody:
    """The body of a stream, read piece by piece as it arrives; ``close()`` ends its connection."""

    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self.connection, self.response = connection, response

    def read(self) -> bytes:
        """What has arrived (waiting for something), at most ``STREAM_PIECE_BYTES``; b"" at the
        end. Raises ``OSError`` or ``http.client.HTTPException`` if the instance broke it."""
        return self.response.read1(STREAM_PIECE_BYTES)

    def close(self) -> None:
        self.response.close()
        self.connection.close()


class LoadBalancer:
    """A threaded HTTP reverse proxy over ``backends``: ``[(id, "http://127.0.0.1:port"), ...]``."""

    def __init__(
        self,
        backends: Sequence[tuple[str, str]],
        policy: str = "round_robin",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        down_seconds: float = 2.0,
        health_interval: float | None = 0.25,
        timeout: float = 30.0,
        retry: str = "idempotent",
        strict_readiness: bool = False,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        if retry not in RETRY:
            raise ValueError(f"retry must be one of {RETRY}, not {retry!r}")
        if not backends:
            raise ValueError("a load balancer needs at least one instance")
        self.backends = [Backend(id, *_host_port(url)) for id, url in backends]
        self.policy = policy
        self.down_seconds = down_seconds
        self.health_interval = health_interval
        self.timeout = timeout
        self.retry = retry
        # True: an instance not ready is never tried, even when no instance is (then: a 502), as a
        # Kubernetes Service routes only to ready pods. False: all looking down, try them all.
        self.strict_readiness = strict_readiness
        self.served: Counter[str] = Counter()  # instance id -> responses it produced
        self.marked_down: Counter[str] = Counter()  # instance id -> failures seen (refused, broken)
        self.retried: Counter[str] = Counter()  # method -> sent requests resent after a failure
        self.not_retried: Counter[str] = Counter()  # method -> sent requests answered 502 instead
        self._in_flight: dict[str, Counter[str]] = {b.id: Counter() for b in self.backends}
        self._host, self._port = host, port
        self._next = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- choosing an instance ----------------------------------------------------------------

    def candidates(self, route: str | None = None) -> list[Backend]:
        """The instances to try for one request, best first (the pinned one, then the pool)."""
        now = time.monotonic()
        with self._lock:
            up = [b for b in self.backends if b.is_up(now)]
            if self.strict_readiness:
                pool = up or [b for b in self.backends if b.ready]  # the ready ones, if any
            else:
                pool = up or list(self.backends)  # everyone looks down: try them all anyway
            if not pool:
                return []
            pinned = [b for b in up if self.policy == "sticky" and b.id == route]
            if pinned:  # its own instance is up: the round-robin turn is not used
                return pinned + [b for b in pool if b not in pinned]
            start = self._next % len(pool)
            self._next += 1
        return pool[start:] + pool[:start]

    def add_backend(self, id: str, url: str, ready: bool = True) -> Backend:
        """Put instance ``id`` at ``url`` in the pool (a scale-out)."""
        backend = Backend(id, *_host_port(url), ready=ready)
        with self._lock:
            if any(b.id == id for b in self.backends):
                raise ValueError(f"instance {id!r} is already behind the balancer")
            self.backends = [*self.backends, backend]
            self._in_flight.setdefault(id, Counter())
        return backend

    def remove_backend(self, id: str) -> None:
        """Take instance ``id`` out of the pool for good (a scale-in): no new request goes to it."""
        with self._lock:
            self.backends = [b for b in self.backends if b.id != id]

    def backend(self, id: str) -> Backend:
        """The balancer's record of instance ``id`` (``ready``: whether it gets requests)."""
        for backend in self.backends:
            if backend.id == id:
                return backend
        raise ValueError(f"no instance {id!r} behind the balancer")

    def mark_down(self, backend: Backend) -> None:
        with self._lock:
            backend.down_until = time.monotonic() + self.down_seconds
            self.marked_down[backend.id] += 1

    def in_flight(self) -> dict[str, dict[str, int]]:
        """What each instance holds right now: ``{"B": {"GET": 2, "POST": 1}, ...}`` (requests
        sent to it and not yet answered; an instance holding none has ``{}``)."""
        with self._lock:
            return {name: dict(+methods) for name, methods in self._in_flight.items()}

    def may_resend(self, method: str) -> bool:
        """Whether a request the instance failed with, after it was sent, goes to the next one."""
        return self.retry == "all" or (self.retry == "idempotent" and method in IDEMPOTENT)

    def check_health(self) -> None:
        """Ask every instance ``GET /readyz`` once: a 200 keeps it in the pool, a no removes it.

        An answer that is slow to come is no answer: a busy instance is not a dead one.
        """
        for backend in self.backends:
            connection = http.client.HTTPConnection(backend.host, backend.port, timeout=2.0)
            try:
                connection.request("GET", "/readyz")
                backend.ready = connection.getresponse().status == 200
            except TimeoutError:
                pass
            except (OSError, http.client.HTTPException):  # refused, reset: not serving
                backend.ready = False
            finally:
                connection.close()

    # --- forwarding --------------------------------------------------------------------------

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[Backend, http.client.HTTPResponse, bytes | StreamBody]:
        """Send the request to the first candidate that answers; ``Unavailable`` if none does.

        Returns the instance, its answer and the answer's body: all of it, or, for a stream
        (:func:`is_stream`), a :class:`StreamBody` to read as it arrives and then close.
        """
        route = _cookie(headers, ROUTE_COOKIE) if self.policy == "sticky" else None
        candidates = self.candidates(route)
        if self.retry == "off":
            candidates = candidates[:1]
        for backend in candidates:
            connection = http.client.HTTPConnection(backend.host, backend.port, self.timeout)
            content: bytes | StreamBody | None = None
            try:
                try:
                    connection.connect()
                except OSError:  # refused: the instance is gone, nothing was sent; try the next
                    self.mark_down(backend)
                    continue
                self._holding(backend, method, +1)
                try:
                    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                    for name, value in headers:  # a list, so repeated headers stay repeated
                        connection.putheader(name, value)
                    connection.endheaders(body)
                    response = connection.getresponse()
                    if is_stream(method, response):  # handed on unread, its connection open
                        content = StreamBody(connection, response)
                    else:
                        content = response.read()
                except (OSError, http.client.HTTPException):
                    # The instance died (or timed out) with the request in its hands: it may have
                    # done it already. Sending it again is safe only if doing it twice does no
                    # harm, which is why nginx, by default, resends only idempotent methods.
                    self.mark_down(backend)
                    if self.may_resend(method) and backend is not candidates[-1]:
                        with self._lock:
                            self.retried[method] += 1
                        continue
                    with self._lock:
                        self.not_retried[method] += 1
                    raise Unavailable("the instance failed while handling the request") from None
                finally:
                    self._holding(backend, method, -1)
            finally:
                if not isinstance(content, StreamBody):
                    connection.close()
            with self._lock:
                self.served[backend.id] += 1
            return backend, response, content
        raise Unavailable("no instance is available")

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: open streams end at their next piece."""
        return self._stopping.is_set()

    def _holding(self, backend: Backend, method: str, change: int) -> None:
        with self._lock:
            self._in_flight[backend.id][method] += change

    # --- running -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the load balancer is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoadBalancer:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _ProxyHandler)
        server.balancer = self
        self._server = server
        self._stopping.clear()
        serve = threading.Thread(target=server.serve_forever, args=(0.05,), name="balancer")
        self._threads = [serve]
        if self.health_interval:
            self._threads.append(threading.Thread(target=self._health_loop, name="health"))
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (safe to call twice)."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _health_loop(self) -> None:
        while not self._stopping.wait(self.health_interval):
            self.check_health()

    def __enter__(self) -> LoadBalancer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    balancer: LoadBalancer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up is not worth a traceback in the lesson's output."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection: read the request, let the balancer forward it, write the answer."""

    protocol_version = "HTTP/1.0"  # one request per connection: simple, and nothing lingers
    timeout = 30
    server_version = "course-balancer"

    def _proxy(self) -> None:
        balancer = self.server.balancer  # type: ignore[attr-defined]
        refusal = self._refusal()
        if refusal is not None:
            return self._error(*refusal)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if length and len(body or b"") < length:  # the client stopped short of what it announced
            return self._error(400, "the body is shorter than its Content-Length")
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if "Host" not in self.headers:  # an HTTP/1.0 client may omit it; HTTP/1.1 needs it
            headers.append(("Host", balancer.url.removeprefix("http://")))
        headers.append(("X-Forwarded-For", self.client_address[0]))
        try:
            backend, response, content = balancer.forward(self.command, self.path, headers, body)
        except Unavailable as exc:
            return self._error(502, str(exc))
        except ValueError:  # http.client refused to write a header or target: a bad request
            return self._error(400, "the request holds characters that cannot be forwarded")
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():  # a list: several Set-Cookie stay separate
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if balancer.policy == "sticky":
            self.send_header(
                "Set-Cookie", f"{ROUTE_COOKIE}={backend.id}; Path=/; HttpOnly; SameSite=Lax"
            )
        if isinstance(content, StreamBody):
            return self._relay(backend, content)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _relay(self, backend: Backend, stream: StreamBody) -> None:
        """Copy a stream to the client as it arrives, until it ends, breaks, or the client
        leaves; then close both sides (no Content-Length: the end of the connection is the
        end of the answer). A stream that broke is not sent again: it has begun."""
        balancer = self.server.balancer  # type: ignore[attr-defined]
        self.close_connection = True
        try:
            self.end_headers()
            self.wfile.flush()
            while not balancer.stopping:
                try:
                    piece = stream.read()
                except TimeoutError:  # quiet for `timeout` seconds: slow is not dead
                    return
                except (OSError, http.client.HTTPException):  # the instance died mid-stream
                    balancer.mark_down(backend)
                    return
                if not piece:
                    return
                self.wfile.write(piece)
                self.wfile.flush()
        except OSError:
            return  # the client hung up: closing the stream tells the instance
        finally:
            stream.close()

    def _refusal(self) -> tuple[int, str] | None:
        """Why the request cannot be forwarded as it is (a status and a reason), if it cannot.

        One unambiguous ``Content-Length`` of digits, no chunked body (the instances get the
        whole body at once), a target of printable ASCII: a balancer that passed on anything
        else would let the instance and itself disagree on where one request ends.
        """
        lengths = self.headers.get_all("Content-Length") or []
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return 411, "send the body with a Content-Length"
        if self.headers.get("Transfer-Encoding"):
            return 501, "only bodies with a Content-Length are supported"
        if len(lengths) > 1:
            return 400, "more than one Content-Length header"
        if lengths and not re.fullmatch(r"[0-9]{1,12}", lengths[0].strip()):
            return 400, "Content-Length must be a whole number of bytes"
        if lengths and int(lengths[0]) > MAX_BODY_BYTES:
            return 413, "request body too large"
        if not TARGET.fullmatch(self.path):
            return 400, "the request target must be printable ASCII"
        return None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (400, 414, 431, 501...) as JSON, like ours."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # an unreadable request line: answer with a status
        reason = message or self.responses.get(code, ("error",))[0]
        if code >= 200 and code not in (204, 304):
            self._error(code, reason)
        else:  # pragma: no cover - the server never sends these as errors
            super().send_error(code, message, explain)

    def _error(self, status: int, message: str) -> None:
        content = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":  # the answer to HEAD has the headers of a GET, no body
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _proxy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a notebook should not print a line per request."""


def is_stream(method: str, response: http.client.HTTPResponse) -> bool:
    """Whether an answer is passed on as it arrives: server-sent events, or a body of unknown
    length (no Content-Length; http.client gives 1xx, 204, 304 and HEAD answers a length 0)."""
    if method == "HEAD":
        return False
    kind = response.getheader("Content-Type", "")
    return response.length is None or kind.startswith("text/event-stream")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"expected an instance URL like http://127.0.0.1:8001, not {url!r}")
    return parts.hostname, parts.port


def _cookie(headers: list[tuple[str, str]], name: str) -> str | None:
    """The value of cookie ``name`` in the request's ``Cookie`` headers, if any."""
    for key, value in headers:
        if key.lower() == "cookie":
            try:
                jar = SimpleCookie(value)
            except CookieError:
                continue
            if name in jar:
                return jar[name].value
    return None
