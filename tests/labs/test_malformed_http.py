"""Malformed HTTP, sent byte by byte on a raw socket: to a real gunicorn instance, and to the
readable balancer in front of it. Every answer is a JSON 4xx (or, for the balancer's own
refusals, its JSON error); never a 500, a dropped connection, or an HTML page."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from labs.cluster import ProcessCluster

LOGIN = b'{"username": "alice", "password": "wonderland"}'


@pytest.fixture(scope="module")
def cluster() -> Iterator[ProcessCluster]:
    with ProcessCluster("stateless", instances=1, balancer="python") as running:
        yield running


def exchange(url: str, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is to ``url``'s host and port; the answer's status, headers and body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer, "the connection was dropped without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_json_4xx(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    """The answer is ``expected`` with a JSON ``{"error": ...}`` body."""
    assert status == expected, body
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert "error" in json.loads(body)


def post(path: str, extra: bytes, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: lab\r\nContent-Type: application/json\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


# --- straight to a gunicorn instance ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"zz\r\n" + LOGIN + b"\r\n0\r\n\r\n", 400),  # a chunk size that is not hex
        (b"5\r\n" + LOGIN + b"\r\n0\r\n\r\n", 400),  # a chunk longer than it says
        (b"%x\r\n" % 20_000 + b"a" * 20_000 + b"\r\n0\r\n\r\n", 413),  # over 16 KB, chunked
    ],
    ids=["bad-size", "bad-length", "too-large"],
)
def test_an_instance_answers_a_malformed_chunked_body_with_a_json_4xx(
    cluster: ProcessCluster, body: bytes, expected: int
) -> None:
    data = post("/login", b"Transfer-Encoding: chunked\r\n", body)
    assert_json_4xx(*exchange(cluster.instance_urls[0], data), expected)


def test_an_instance_reads_a_good_chunked_body(cluster: ProcessCluster) -> None:
    body = b"%x\r\n" % len(LOGIN) + LOGIN + b"\r\n0\r\n\r\n"
    status, _, answer = exchange(
        cluster.instance_urls[0], post("/login", b"Transfer-Encoding: chunked\r\n", body)
    )
    assert status == 200 and json.loads(answer) == {"user": "alice"}


def test_an_instance_answers_a_doubled_slash_with_a_json_404(cluster: ProcessCluster) -> None:
    data = post("/cart//items", b"Content-Length: 2\r\n", b"{}")
    assert_json_4xx(*exchange(cluster.instance_urls[0], data), 404)


# --- through the readable balancer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (post("/login", b"Content-Length: abc\r\n", LOGIN), 400),
        (post("/login", b"Content-Length: 1e3\r\n", LOGIN), 400),
        (post("/login", b"Content-Length: -5\r\n", LOGIN), 400),
        (post("/login", b"Content-Length: 2\r\nContent-Length: 48\r\n", LOGIN), 400),
        (post("/login", b"Content-Length: 99999999\r\n", LOGIN), 413),
        (post("/login", b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 411),
        (post("/login", b"Transfer-Encoding: gzip\r\n", LOGIN), 501),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: lab\r\n\r\n", 400),
        (b"GET /\x01 HTTP/1.1\r\nHost: lab\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: lab\r\n\r\n", 414),
        (b"GET /me HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /me HTTP/9.9\r\n\r\n", 505),
    ],
    ids=[
        "length-abc",
        "length-1e3",
        "length-negative",
        "length-twice",
        "length-huge",
        "chunked",
        "other-encoding",
        "non-ascii-path",
        "control-char-path",
        "long-target",
        "long-header",
        "no-request-line",
        "http-9.9",
    ],
)
def test_the_balancer_answers_malformed_requests_with_json(
    cluster: ProcessCluster, data: bytes, expected: int
) -> None:
    # 501 and 505 are the protocol's own answers (an encoding, a version it does not speak)
    assert_json_4xx(*exchange(cluster.url, data), expected)


def test_the_balancer_still_serves_a_good_request_afterwards(cluster: ProcessCluster) -> None:
    data = post("/login", b"Content-Length: %d\r\n" % len(LOGIN), LOGIN)
    status, headers, body = exchange(cluster.url, data)
    assert status == 200 and json.loads(body) == {"user": "alice"}
    assert headers["x-instance"] == "A"


def test_a_refused_head_request_gets_headers_and_no_body(cluster: ProcessCluster) -> None:
    status, headers, body = exchange(cluster.url, b"HEAD /\xc3\xa9 HTTP/1.1\r\nHost: lab\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert int(headers["content-length"]) > 0 and body == b""
