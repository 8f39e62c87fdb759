"""Lesson 09's event experiments, on real gunicorn processes behind the readable balancer: what
the lesson prints must be what happens (each run starts and stops its own cluster)."""

from __future__ import annotations

import time

import pytest
import requests

from labs.cluster import ProcessCluster
from labs.events_experiments import delivery_across_instances, reconnect_after_kill


def test_in_memory_a_subscriber_on_a_gets_exactly_one_in_n() -> None:
    result = delivery_across_instances("memory", instances=3, events=9)
    assert result.published_on == {"A": 3, "B": 3, "C": 3}  # round robin
    assert result.received == 3 and result.received_from == {"A": 3, "B": 0, "C": 0}
    assert result.verdict() == (
        "events in instance memory, 3 instances: the subscriber on A received 3 of 9 events "
        "(1/3): only those published on A (3)"
    )
    assert result.seconds < 10


@pytest.mark.parametrize("via", ["pubsub", "stream"])
def test_through_redis_the_subscriber_gets_every_event(via: str) -> None:
    result = delivery_across_instances("shared", instances=2, events=6, via=via)
    assert result.received == 6 and result.received_from == {"A": 3, "B": 3}
    assert result.verdict() == (
        f"events in Redis ({via}), 2 instances: the subscriber on A received 6 of 6 events: "
        "all of them, whichever instance published them"
    )


def test_pubsub_loses_what_was_published_while_the_client_reconnected() -> None:
    result = reconnect_after_kill("pubsub")
    assert result.reconnected_elsewhere
    assert len(result.lost) >= 1 and result.duplicates == 0
    assert result.received == result.published - len(result.lost)
    assert result.verdict() == (
        "pubsub: the subscriber's instance killed (kill -9); the client reconnected to another "
        "instance; events lost during the reconnect: yes (1 or more); received twice: 0"
    )
    assert result.counts()["lost"] == len(result.lost) >= 1


def test_a_stream_with_last_event_id_loses_nothing_and_repeats_nothing() -> None:
    result = reconnect_after_kill("stream")
    assert result.reconnected_elsewhere
    assert result.lost == () and result.duplicates == 0
    assert result.received == result.published > result.before_kill
    assert result.verdict() == (
        "stream: the subscriber's instance killed (kill -9); the client reconnected to another "
        "instance; events lost during the reconnect: 0; received twice: 0"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: delivery_across_instances("disk"), "state must be one of"),
        (lambda: delivery_across_instances("shared", via="kafka"), "via must be one of"),
        (lambda: delivery_across_instances("memory", instances=0), "instances"),
        (lambda: delivery_across_instances("memory", events=0), "events"),
        (lambda: reconnect_after_kill("carrier pigeon"), "via must be one of"),
        (lambda: reconnect_after_kill("stream", interval=0), "interval"),
        (lambda: reconnect_after_kill("stream", before=0), "before"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_a_sigterm_ends_open_streams_so_the_instance_stops_long_before_graceful_timeout() -> None:
    env = {"STATE": "shared", "GUNICORN_CMD_ARGS": "--threads 8", "STREAM_SECONDS": "60"}
    with ProcessCluster(
        "events", instances=1, balancer="python", worker_class="gthread", env=env, drain_seconds=0.5
    ) as cluster:
        url = cluster.instance_urls[0]
        session = requests.Session()
        session.post(url + "/login", json={"username": "alice", "password": "wonderland"})
        stream = session.get(url + "/events", stream=True, timeout=5)
        assert stream.raw.read1(100).startswith(b"retry:")
        started = time.monotonic()
        cluster.terminate(0)
        while stream.raw.read1(1000):  # the stream ends (draining), not after 60 s
            pass
        ended = time.monotonic() - started
        assert cluster.wait(0, timeout=20) == 0
        stopped = time.monotonic() - started
        session.close()
    assert ended < 2.5  # the drain (0.5 s), then at most one wait of the stream (1 s)
    assert stopped < 8  # gunicorn's graceful_timeout here is 10 s: it did not wait for it
