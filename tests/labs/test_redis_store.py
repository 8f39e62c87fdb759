"""The §5 rule (labs.redis_store): embedded by default, the real server when REDIS_URL says so."""

from __future__ import annotations

import uuid

import pytest
import redis

from labs import redis_store
from labs.cluster.process import free_port, port_is_open
from labs.redis_store import EmbeddedRedisServer, RedisUnavailable, get_redis, redact


def test_embedded_clients_share_one_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert redis_store.redis_mode() == "embedded"
    first, second = get_redis(), get_redis()
    key = f"test:{uuid.uuid4().hex}"  # the embedded server lives as long as the process
    try:
        first.set(key, "seen by both", ex=60)
        assert second.get(key) == "seen by both"  # str, not bytes: decode_responses
    finally:
        first.delete(key)
    assert first is not second


def test_redis_url_selects_the_real_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert redis_store.redis_mode() == "real"
    assert redis_store.redis_url() == "redis://127.0.0.1:1/0"


def test_an_unreachable_redis_url_says_which_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(RedisUnavailable) as raised:
        get_redis()
    message = str(raised.value)
    assert redact(url) in message
    assert "hunter2" not in message  # never print a password
    assert "REDIS_URL" in message  # and say how to fix it


def test_an_explicit_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable, match=url):
        get_redis(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://u:p%40ss@example.com:6380/2", "rediss://u:***@example.com:6380/2"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://user@host:6379/0", "redis://user@host:6379/0"),
    ],
)
def test_redact_hides_passwords(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_the_embedded_server_speaks_real_tcp_and_frees_its_port() -> None:
    with EmbeddedRedisServer() as server:
        url = server.url
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(url, decode_responses=True)
        try:
            assert client.ping()
            client.set("greeting", "hello over TCP")
            assert client.get("greeting") == "hello over TCP"
            other = redis_store.connect(url)  # a second process would do exactly this
            assert other.get("greeting") == "hello over TCP"
            other.close()
        finally:
            client.close()
    assert not port_is_open(port)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_the_embedded_server_stops_even_after_an_error() -> None:
    with pytest.raises(RuntimeError, match="a bug"), EmbeddedRedisServer() as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        raise RuntimeError("a bug in the with block")
    assert not port_is_open(port)
    server.stop()  # stopping twice is harmless
