"""The loopback TCP proxy: bytes pass unchanged, the delay shows, outages look like outages, and
nothing is left running. Runs against the embedded fakeredis TCP server, or the real server of
``REDIS_URL`` (keys under a per-test prefix, deleted after; never a FLUSHDB)."""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labs.cluster import TcpProxy
from labs.cluster.proxy import MAX_DELAY
from labs.redis_store import EmbeddedRedisServer, redis_url


@pytest.fixture
def upstream() -> Iterator[str]:
    """The store's URL: REDIS_URL's server, or an embedded one for this test."""
    url = redis_url()
    if url:
        yield url
    else:
        with EmbeddedRedisServer() as server:
            yield server.url


@pytest.fixture
def prefix(upstream: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    mine = f"test-proxy:{uuid.uuid4().hex}:"
    yield mine
    direct = redis.Redis.from_url(upstream)
    keys = list(direct.scan_iter(match=mine + "*"))
    if keys:
        direct.delete(*keys)
    direct.close()


def client(url: str, timeout: float = 2.0) -> redis.Redis:
    """A client that reports the first error (no retries), as the tests need to see it."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def timed_get(store: redis.Redis, key: str) -> float:
    started = time.perf_counter()
    store.get(key)
    return time.perf_counter() - started


def proxy_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("proxy-")]


def test_bytes_pass_unchanged_and_are_counted(upstream: str, prefix: str) -> None:
    every_byte = bytes(range(256)) * 4
    large = os.urandom(1_000_000)  # many chunks each way
    with TcpProxy(upstream) as proxy:
        store = client(proxy.url)
        store.set(prefix + "bytes", every_byte)
        store.set(prefix + "large", large)
        assert store.get(prefix + "bytes") == every_byte
        assert store.get(prefix + "large") == large
        pipe = store.pipeline(transaction=False)
        for i in range(100):
            pipe.set(f"{prefix}k{i}", i).get(f"{prefix}k{i}")
        assert pipe.execute() == [answer for i in range(100) for answer in (True, str(i).encode())]
        with store.pipeline() as transaction:  # MULTI/EXEC through the proxy
            assert transaction.incr(prefix + "n").incr(prefix + "n").execute() == [1, 2]
        stats = proxy.stats()
        store.close()
    assert stats.connections >= 1 and stats.open_connections >= 1
    assert stats.bytes_to_upstream > len(large) and stats.bytes_to_clients > len(large)


def test_the_url_keeps_database_and_password_and_swaps_the_address() -> None:
    with TcpProxy("redis://:s3cret@db.example:6380/3") as proxy:  # never connected to
        host, port = proxy.address
        assert proxy.url == f"redis://:s3cret@{host}:{port}/3"
    with TcpProxy(("127.0.0.1", 6379)) as proxy:
        assert proxy.url == f"redis://127.0.0.1:{proxy.address[1]}/0"


def test_a_round_trip_gains_the_delay_and_a_change_takes_effect_at_once(
    upstream: str, prefix: str
) -> None:
    with TcpProxy(upstream, delay=0.02) as proxy:
        store = client(proxy.url)
        store.set(prefix + "key", "value")
        assert all(timed_get(store, prefix + "key") >= 0.02 for _ in range(3))
        proxy.delay = 0.06  # while the connection is open
        assert proxy.delay == 0.06
        assert all(timed_get(store, prefix + "key") >= 0.06 for _ in range(3))
        proxy.delay = 0
        assert statistics.median(timed_get(store, prefix + "key") for _ in range(5)) < 0.015
        store.close()


def test_the_delay_is_latency_not_bandwidth(upstream: str, prefix: str) -> None:
    """A pipeline's answers come in many chunks; they wait together, not one after another."""
    with TcpProxy(upstream, delay=0.05) as proxy:
        store = client(proxy.url)
        store.ping()  # connected (a new connection costs round trips of its own)
        pipe = store.pipeline(transaction=False)
        for i in range(300):
            pipe.set(f"{prefix}{i}", "x" * 1000)
        started = time.perf_counter()
        pipe.execute()
        elapsed = time.perf_counter() - started
        store.close()
    assert 0.05 <= elapsed < 0.15  # one round trip's delay, not one per chunk


def test_cut_refuses_at_once_and_restore_serves_again(upstream: str, prefix: str) -> None:
    with TcpProxy(upstream) as proxy:
        store = client(proxy.url)
        store.set(prefix + "key", "kept")
        url = proxy.url
        proxy.cut()
        assert proxy.mode == "refuse" and proxy.stats().open_connections == 0
        started = time.perf_counter()
        with pytest.raises(redis.ConnectionError):
            store.get(prefix + "key")  # its open connection was closed
        with pytest.raises(redis.ConnectionError, match="refused"):
            client(proxy.url).get(prefix + "key")  # a new one is refused
        assert time.perf_counter() - started < 1.0
        proxy.restore()
        assert proxy.mode == "open" and proxy.url == url
        assert store.get(prefix + "key") == b"kept"  # the same client reconnects
        store.close()


def test_a_blackhole_answers_nothing_so_the_client_times_out(upstream: str, prefix: str) -> None:
    with TcpProxy(upstream) as proxy:
        store = client(proxy.url, timeout=0.2)
        store.set(prefix + "key", "kept")
        proxy.cut("blackhole")
        for attempt in (store, client(proxy.url, timeout=0.2)):  # an open connection, a new one
            started = time.perf_counter()
            with pytest.raises(redis.TimeoutError):
                attempt.get(prefix + "key")
            assert 0.2 <= time.perf_counter() - started < 2.0
        proxy.restore()
        assert store.get(prefix + "key") == b"kept"
        store.close()


def test_an_unreachable_upstream_closes_the_client_connection() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nobody = sock.getsockname()[1]
    with TcpProxy(("127.0.0.1", nobody)) as proxy:
        started = time.perf_counter()
        with pytest.raises(redis.ConnectionError):
            client(proxy.url).ping()
        assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("delay", "message"),
    [
        (-0.001, "between 0 and"),
        (float("nan"), "between 0 and"),
        (float("inf"), "between 0 and"),
        (MAX_DELAY + 1, "between 0 and"),
        ("0.01", "a number of seconds"),
        (None, "a number of seconds"),
        (True, "a number of seconds"),
    ],
)
def test_a_bad_delay_is_refused_with_a_clear_message(delay: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TcpProxy(("127.0.0.1", 6379), delay=delay)  # type: ignore[arg-type]
    with TcpProxy(("127.0.0.1", 6379), delay=0.01) as proxy:
        with pytest.raises(ValueError, match=message):
            proxy.delay = delay  # type: ignore[assignment]
        assert proxy.delay == 0.01  # unchanged


def test_bad_modes_and_upstreams_are_refused() -> None:
    with TcpProxy(("127.0.0.1", 6379)) as proxy:
        with pytest.raises(ValueError, match="refuse, blackhole"):
            proxy.cut("slow")
        assert proxy.mode == "open"
    for upstream in ("unix:///tmp/redis.sock", "127.0.0.1:6379", "redis://h:port/0"):
        with pytest.raises(ValueError, match="upstream"):
            TcpProxy(upstream)
    for pair in (("127.0.0.1", "6379"), ("127.0.0.1", 0), ("127.0.0.1",)):
        with pytest.raises(ValueError, match="upstream"):
            TcpProxy(pair)  # type: ignore[arg-type]


def test_a_proxy_must_run_to_be_cut_and_cannot_start_twice() -> None:
    proxy = TcpProxy(("127.0.0.1", 6379))
    with pytest.raises(RuntimeError, match="not running"):
        proxy.cut()
    with proxy:
        pass
    with pytest.raises(RuntimeError, match="not running"):
        proxy.restore()
    with pytest.raises(RuntimeError, match="cannot start again"):
        proxy.start()


def test_stop_ends_every_thread_and_socket_even_mid_outage(upstream: str, prefix: str) -> None:
    fds = Path("/proc/self/fd")
    before_fds = len(list(fds.iterdir())) if fds.is_dir() else None
    before_threads = proxy_threads()
    proxy = TcpProxy(upstream, delay=5.0).start()
    waiting = client(proxy.url, timeout=10)
    outcome = []

    def ping() -> None:
        try:
            outcome.append(waiting.ping())
        except redis.RedisError as exc:
            outcome.append(type(exc).__name__)

    stuck = threading.Thread(target=ping)
    stuck.start()  # its PING waits 2.5 s in the proxy when stop() comes
    time.sleep(0.1)
    held = socket.create_connection(proxy.address)  # one more, open
    assert len(proxy_threads()) > len(before_threads)
    started = time.perf_counter()
    proxy.stop()
    assert time.perf_counter() - started < 1.0  # a pending delay does not hold stop() up
    stuck.join(timeout=5)
    waiting.close()
    held.close()
    assert not stuck.is_alive() and outcome == ["ConnectionError"]
    assert proxy_threads() == before_threads
    assert proxy.mode == "stopped" and proxy.stats().open_connections == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=1)
    if before_fds is not None:  # the embedded upstream closes its side in its own thread: wait
        deadline = time.monotonic() + 3
        while len(list(fds.iterdir())) != before_fds and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(list(fds.iterdir())) == before_fds


def test_stop_after_a_blackhole_closes_the_held_connections(upstream: str) -> None:
    before = proxy_threads()
    with TcpProxy(upstream) as proxy:
        proxy.cut("blackhole")
        held = [socket.create_connection(proxy.address) for _ in range(3)]
        for sock in held:
            sock.sendall(b"PING\r\n")  # swallowed
        deadline = time.monotonic() + 2
        while proxy.stats().open_connections < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.stats().open_connections == 3
    for sock in held:
        sock.settimeout(1)
        assert sock.recv(10) == b""  # closed by the proxy, nothing answered
        sock.close()
    assert proxy_threads() == before
