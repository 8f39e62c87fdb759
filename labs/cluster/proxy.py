"""A loopback TCP proxy between app instances and their store: latency and outages on demand.

::

    with TcpProxy(store_url, delay=0.001) as proxy:   # every round trip gains 1 ms
        app = stateless_app.create_app("A", redis.Redis.from_url(proxy.url))
        proxy.delay = 0.005            # the network gets slower, while the app runs
        proxy.cut()                    # the store is gone: connections closed, new ones refused
        proxy.cut("blackhole")         # or silent: connections accepted, nothing ever answered
        proxy.restore()

How it works: the proxy listens on a free 127.0.0.1 port. Every connection it accepts gets its
own connection to the upstream (the real store) and four threads: in each direction a *reader*
takes bytes off one socket the moment they arrive and notes the time, and a *writer* puts them on
the other socket ``delay / 2`` later. A request and its answer each wait half the delay, so a
round trip gains ``delay`` however many chunks it is cut into (at least ``delay``: a sleep never
ends early; on the course's machine a 1 ms delay costs a round trip 1.1-1.3 ms), and chunks in
flight overlap like packets on a wire: the delay is distance, not a slower line. Only bytes
wait: connecting to the proxy is immediate, so a new connection pays the delay from its first
exchange on (redis-py 8's handshake is about four round trips). When either side closes, the
whole connection closes.

The two outages are the two ways a store disappears. ``cut()`` ("refuse") is a store whose machine
answers but whose server is down: open connections are closed and a new one is refused at once,
so a client fails fast with a connection error. ``cut("blackhole")`` is a network that drops
everything: connections are accepted, bytes are swallowed, nothing comes back, and a client
learns only when its own socket timeout runs out (without one, it waits forever). Either way the
server behind the proxy is untouched: nothing here stops or slows the Redis of ``REDIS_URL``,
which other programs may share.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import queue
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
MODES = ("refuse", "blackhole")  # what cut() can play
MAX_DELAY = 10.0  # seconds per round trip: more is not a network, it is an outage
CHUNK_BYTES = 65536
CONNECT_TIMEOUT = 2.0  # to the upstream
POLL_SECONDS = 0.05  # how often the accepting thread looks up; close() waits at most this


@dataclass(frozen=True)
class ProxyStats:
    """What the proxy has carried since it started."""

    connections: int  # accepted, in total
    open_connections: int  # open right now
    bytes_to_upstream: int  # forwarded from clients to the store
    bytes_to_clients: int  # forwarded from the store to clients


def check_delay(delay: object) -> float:
    """``delay`` as a float of seconds per round trip, or a ValueError that says what is wrong."""
    if not isinstance(delay, numbers.Real) or isinstance(delay, bool):
        raise ValueError(f"delay must be a number of seconds per round trip, not {delay!r}")
    seconds = float(delay)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY} seconds, not {delay!r}")
    return seconds


def _upstream_address(upstream: str | tuple[str, int]) -> tuple[str, int, str]:
    """``(host, port, url template)`` of a ``redis://`` URL or a ``(host, port)`` pair."""
    if isinstance(upstream, str):
        parts = urlsplit(upstream)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"upstream must be a redis://host:port/db URL, not {upstream!r}")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError(f"upstream {upstream!r} has no valid port") from None
        return parts.hostname, port, upstream
    if (
        not isinstance(upstream, tuple)
        or len(upstream) != 2
        or not isinstance(upstream[0], str)
        or not isinstance(upstream[1], int)
        or not 0 < upstream[1] < 65536
    ):
        raise ValueError(f"upstream must be a redis:// URL or a (host, port) pair: {upstream!r}")
    return upstream[0], upstream[1], f"redis://{upstream[0]}:{upstream[1]}/0"


class TcpProxy:
    """Forwards a loopback port to ``upstream``; adds ``delay`` seconds per round trip; can
    ``cut()`` the connection to it and ``restore()`` it. Use it as a context manager."""

    def __init__(self, upstream: str | tuple[str, int], delay: float = 0.0) -> None:
        self._upstream_host, self._upstream_port, self._upstream_url = _upstream_address(upstream)
        self._delay = check_delay(delay)
        self._mode = "open"  # "open", one of MODES, or "stopped"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._port = 0  # chosen at the first start, kept across cuts
        self._links: set[_Link] = set()
        self._connections = self._bytes_up = self._bytes_down = 0

    # --- what a lesson reads and turns -------------------------------------------------------

    @property
    def delay(self) -> float:
        """Seconds added to every request/answer round trip (half on the way there, half back)."""
        return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._delay = check_delay(value)  # bytes that arrive from now on wait the new delay

    @property
    def mode(self) -> str:
        """``"open"`` (forwarding), ``"refuse"`` or ``"blackhole"`` (cut), or ``"stopped"``."""
        return self._mode

    @property
    def address(self) -> tuple[str, int]:
        if not self._port:
            raise RuntimeError("the proxy is not started")
        return HOST, self._port

    @property
    def url(self) -> str:
        """The upstream's redis URL with the proxy's address in it: hand it to instances."""
        parts = urlsplit(self._upstream_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}{HOST}:{self.address[1]}"))

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(self._connections, len(self._links), self._bytes_up, self._bytes_down)

    def cut(self, mode: str = "refuse") -> None:
        """Play an outage: ``"refuse"`` (closed, fails fast) or ``"blackhole"`` (silent)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._switch(mode)

    def restore(self) -> None:
        """End the outage: forward again (connections broken by it stay closed)."""
        self._switch("open")

    # --- start and stop ----------------------------------------------------------------------

    def start(self) -> TcpProxy:
        if self._mode == "stopped":
            raise RuntimeError("a stopped proxy cannot start again: make a new one")
        if self._listener is None and self._mode != "refuse":
            self._listen()
        return self

    def stop(self) -> None:
        """Close every connection and the port, and wait for every thread to end."""
        with self._lock:
            self._mode = "stopped"
        self._close_listener()  # after this, no new connection can appear
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        for link in links:
            link.join()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- inside ------------------------------------------------------------------------------

    def _switch(self, mode: str) -> None:
        if self._mode == "stopped" or not self._port:
            raise RuntimeError("the proxy is not running")
        with self._lock:
            self._mode = mode
        if mode == "refuse":
            self._close_listener()  # connect() is refused from now on
        elif self._listener is None:
            self._listen()
        with self._lock:
            # Refused: every connection goes. Open again: those whose bytes a blackhole
            # swallowed are broken for good. Blackhole: the others stay, silent.
            broken = [link for link in self._links if mode == "refuse" or link.broken]
        if mode != "blackhole":
            for link in broken:
                link.close()
            for link in broken:
                link.join()  # when cut() returns, they are closed

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # same port after a cut
        try:
            listener.bind((HOST, self._port))
        except OSError as exc:
            listener.close()
            raise RuntimeError(f"cannot listen on {HOST}:{self._port} again: {exc}") from None
        listener.listen(64)
        listener.settimeout(POLL_SECONDS)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name=f"proxy-{self._port}-accept", daemon=True
        )
        self._acceptor.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join()  # it notices within POLL_SECONDS
            self._acceptor = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: a cut, or stop()
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle: no added wait
        with self._lock:
            mode = self._mode
            self._connections += 1
        upstream = None
        if mode == "open":
            try:
                upstream = socket.create_connection(
                    (self._upstream_host, self._upstream_port), timeout=CONNECT_TIMEOUT
                )
            except OSError:
                client.close()  # the store itself is unreachable: the client sees it closed
                return
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        elif mode != "blackhole":
            client.close()  # cut or stopped while this connection was being accepted
            return
        link = _Link(self, client, upstream)
        with self._lock:
            self._links.add(link)
            number = self._connections
        link.start(f"proxy-{self._port}-{number}")

    def _carried(self, to_upstream: bool, count: int) -> None:
        with self._lock:
            if to_upstream:
                self._bytes_up += count
            else:
                self._bytes_down += count

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


class _Link:
    """One client connection and its own connection to the upstream (None: held by a
    blackhole, never connected)."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket | None):
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.broken = upstream is None  # True once a blackhole swallowed some of its bytes
        self.closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._lock = threading.Lock()

    def start(self, name: str) -> None:
        if self.upstream is None:
            jobs = [(self._read, (self.client, None), "hold")]
        else:
            up: queue.SimpleQueue = queue.SimpleQueue()
            down: queue.SimpleQueue = queue.SimpleQueue()
            jobs = [
                (self._read, (self.client, up), "read-up"),
                (self._write, (self.upstream, up, True), "write-up"),
                (self._read, (self.upstream, down), "read-down"),
                (self._write, (self.client, down, False), "write-down"),
            ]
        self._running = len(jobs)
        for target, args, role in jobs:
            thread = threading.Thread(target=target, args=args, name=f"{name}-{role}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _read(self, source: socket.socket, chunks: queue.SimpleQueue | None) -> None:
        """Take bytes off ``source`` as they arrive; stamp each chunk with when it is due."""
        try:
            while data := source.recv(CHUNK_BYTES):
                if chunks is None or self.proxy.mode == "blackhole":
                    self.broken = True  # swallowed, as a dead network would
                    continue
                chunks.put((time.monotonic() + self.proxy.delay / 2, data))
        except OSError:
            pass  # closed under us
        finally:
            if chunks is None:
                self.close()
            else:
                chunks.put(None)  # the writer delivers what is queued, then closes the link
            self._done()

    def _write(self, target: socket.socket, chunks: queue.SimpleQueue, to_upstream: bool) -> None:
        """Put each chunk on ``target`` when it is due."""
        try:
            while (item := chunks.get()) is not None:
                due, data = item
                while (wait := due - time.monotonic()) > 0:
                    if self.closed.wait(wait):
                        return
                target.sendall(data)
                self.proxy._carried(to_upstream, len(data))
        except OSError:
            pass
        finally:
            self.close()
            self._done()

    def close(self) -> None:
        """Wake every thread of this link (they end, the last closes the sockets)."""
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):  # already shut
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a recv/send blocked on it

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:  # nobody else uses the sockets any more
            for sock in (self.client, self.upstream):
                if sock is not None:
                    sock.close()
            self.proxy._forget(self)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
