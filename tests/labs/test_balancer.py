"""The readable load balancer (labs.cluster.balancer): choosing, failing over, passing answers.

The choice of instance is tested directly on ``candidates``; forwarding is tested against
small in-process HTTP servers on loopback, so no gunicorn is needed here (the real cluster is
in ``test_process_cluster.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from labs.cluster.balancer import LoadBalancer, _cookie
from labs.cluster.process import free_port, port_is_open


class Echo(BaseHTTPRequestHandler):
    """Answers with what it received, its name, and two cookies."""

    protocol_version = "HTTP/1.0"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": self.rfile.read(length).decode(),
                "cookie": self.headers.get("Cookie"),
                "forwarded_for": self.headers.get("X-Forwarded-For"),
                "connection": self.headers.get("Connection"),
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Instance", self.server.name)  # type: ignore[attr-defined]
        self.send_header("Set-Cookie", "session=abc; HttpOnly")
        self.send_header("Set-Cookie", "theme=dark")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_servers() -> Iterator[list[tuple[str, str]]]:
    """Two running echo instances, A and B: ``[(id, url), ...]``."""
    servers, threads = [], []
    for name in "AB":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        server.name = name  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
    yield [(s.name, f"http://127.0.0.1:{s.server_address[1]}") for s in servers]  # type: ignore[attr-defined]
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def three() -> list[tuple[str, str]]:
    return [(name, f"http://127.0.0.1:{8001 + i}") for i, name in enumerate("ABC")]


def first_choices(balancer: LoadBalancer, count: int, route: str | None = None) -> list[str]:
    return [balancer.candidates(route)[0].id for _ in range(count)]


def test_round_robin_takes_turns() -> None:
    balancer = LoadBalancer(three())
    assert first_choices(balancer, 6) == ["A", "B", "C", "A", "B", "C"]
    # the other instances follow as fallbacks, in round-robin order
    assert [b.id for b in balancer.candidates()] == ["A", "B", "C"]


def test_an_instance_marked_down_is_skipped_then_tried_again() -> None:
    balancer = LoadBalancer(three(), down_seconds=60)
    balancer.mark_down(balancer.backends[1])
    assert "B" not in first_choices(balancer, 6)
    assert balancer.marked_down["B"] == 1
    balancer.backends[1].down_until = 0.0  # its time out is over
    assert "B" in first_choices(balancer, 3)


def test_when_every_instance_looks_down_all_are_tried() -> None:
    balancer = LoadBalancer(three(), down_seconds=60)
    for backend in balancer.backends:
        balancer.mark_down(backend)
    assert sorted(b.id for b in balancer.candidates()) == ["A", "B", "C"]


def test_an_instance_that_is_not_ready_gets_no_new_requests() -> None:
    balancer = LoadBalancer(three())
    balancer.backends[2].ready = False  # what the /readyz check sets while C drains
    assert first_choices(balancer, 4) == ["A", "B", "A", "B"]


def test_sticky_follows_the_route_cookie_and_falls_back_when_its_instance_is_down() -> None:
    balancer = LoadBalancer(three(), "sticky", down_seconds=60)
    assert first_choices(balancer, 3, route="B") == ["B", "B", "B"]
    assert first_choices(balancer, 3, route=None) == ["A", "B", "C"]  # no cookie: the pool
    assert first_choices(balancer, 3, route="nonsense") == ["A", "B", "C"]
    balancer.mark_down(balancer.backends[1])
    assert "B" not in first_choices(balancer, 4, route="B")


def test_round_robin_ignores_the_route_cookie() -> None:
    balancer = LoadBalancer(three(), "round_robin")
    assert first_choices(balancer, 3, route="B") == ["A", "B", "C"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        LoadBalancer(three(), "random")
    with pytest.raises(ValueError, match="at least one"):
        LoadBalancer([])
    with pytest.raises(ValueError, match="instance URL"):
        LoadBalancer([("A", "127.0.0.1:8000")])


def test_route_cookie_is_read_among_other_cookies() -> None:
    assert _cookie([("Cookie", "session=x; route=C")], "route") == "C"
    assert _cookie([("Cookie", "session=x")], "route") is None
    assert _cookie([("Accept", "*/*")], "route") is None


def test_requests_and_answers_pass_through_unchanged(echo_servers) -> None:
    with LoadBalancer(echo_servers, health_interval=None) as balancer:
        response = requests.post(
            balancer.url + "/cart/items?x=1", data=b'{"sku": "a"}', cookies={"k": "v"}, timeout=5
        )
    assert response.status_code == 201
    assert response.raw.headers.getlist("Set-Cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert response.headers["X-Instance"] == "A"  # the instance's own header, nothing added
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/cart/items?x=1"
    assert seen["body"] == '{"sku": "a"}'
    assert seen["cookie"] == "k=v"
    assert seen["forwarded_for"] == "127.0.0.1"
    assert seen["connection"] is None  # hop-by-hop headers are not forwarded


def test_a_refused_connection_fails_over_and_marks_the_instance_down(echo_servers) -> None:
    dead = ("X", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    with LoadBalancer([dead, *echo_servers], health_interval=None) as balancer:
        answers = [requests.get(balancer.url + "/me", timeout=5) for _ in range(4)]
        down = balancer.marked_down["X"]
        served = dict(balancer.served)
    assert [r.status_code for r in answers] == [201] * 4
    assert [r.headers["X-Instance"] for r in answers] == ["A", "B", "A", "B"]
    assert down == 1  # refused once, then left out
    assert served == {"A": 2, "B": 2}


def test_sticky_sets_the_route_cookie_to_the_instance_that_answered(echo_servers) -> None:
    with LoadBalancer(echo_servers, "sticky", health_interval=None) as balancer:
        browser = requests.Session()
        first = browser.get(balancer.url + "/login", timeout=5)
        later = [browser.get(balancer.url + "/me", timeout=5) for _ in range(4)]
        browser.close()
    assert "route=A; Path=/; HttpOnly; SameSite=Lax" in first.raw.headers.getlist("Set-Cookie")
    assert [r.headers["X-Instance"] for r in later] == ["A"] * 4


def test_no_instance_left_is_a_json_502_and_stop_closes_the_port() -> None:
    dead = [("A", f"http://127.0.0.1:{free_port()}")]
    balancer = LoadBalancer(dead, health_interval=0.05).start()
    port = int(balancer.url.rsplit(":", 1)[1])
    try:
        response = requests.get(balancer.url + "/me", timeout=5)
    finally:
        balancer.stop()
    assert response.status_code == 502
    assert response.json() == {"error": "no instance is available"}
    assert not port_is_open(port)
    assert not [t for t in threading.enumerate() if t.name in ("balancer", "health")]
