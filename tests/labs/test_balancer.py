"""The readable load balancer (labs.cluster.balancer): choosing, failing over, passing answers.

The choice of instance is tested directly on ``candidates``; forwarding is tested against
small in-process HTTP servers on loopback, so no gunicorn is needed here (the real cluster is
in ``test_process_cluster.py``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
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

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

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


# --- an instance that fails with the request in its hands: what is sent again (retry) ---------


class DiesHoldingTheRequest(BaseHTTPRequestHandler):
    """Reads the whole request, then drops the connection without a word: what the balancer
    sees when ``kill -9`` lands while an instance holds a request. Counts what it received."""

    protocol_version = "HTTP/1.0"

    def _die(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.received.append(self.command)  # type: ignore[attr-defined]
        self.close_connection = True  # and no answer: the connection closes

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _die

    def log_message(self, format: str, *args: object) -> None:
        pass


class Hangs(BaseHTTPRequestHandler):
    """Takes the request and answers only when the test lets it (a timeout, or in flight)."""

    protocol_version = "HTTP/1.0"

    def _hang(self) -> None:
        self.server.received.append(self.command)  # type: ignore[attr-defined]
        self.server.release.wait(10)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    do_GET = do_POST = _hang

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstreams(echo_servers) -> Iterator[dict[str, tuple[str, str]]]:
    """A dying instance X, a hanging one H, and the echo instance A: ``{name: (id, url)}``."""
    servers = []
    for name, handler in (("X", DiesHoldingTheRequest), ("H", Hangs)):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.received = []  # type: ignore[attr-defined]
        server.release = threading.Event()  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((name, server, thread))
    urls = {name: (name, f"http://127.0.0.1:{s.server_address[1]}") for name, s, _ in servers}
    urls["A"] = echo_servers[0]
    urls["received"] = {name: s.received for name, s, _ in servers}  # type: ignore[assignment]
    urls["release"] = {name: s.release for name, s, _ in servers}  # type: ignore[assignment]
    yield urls
    for _, server, thread in servers:
        server.release.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def send(balancer: LoadBalancer, method: str) -> requests.Response:
    return requests.request(method, balancer.url + "/cart/items", json={"sku": "pen"}, timeout=10)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_by_default_an_idempotent_request_the_instance_died_with_is_sent_to_the_next(
    upstreams, method: str
) -> None:
    with LoadBalancer([upstreams["X"], upstreams["A"]], health_interval=None) as balancer:
        assert balancer.retry == "idempotent"  # nginx's default: proxy_next_upstream error timeout
        response = send(balancer, method)
        retried, not_retried = dict(balancer.retried), dict(balancer.not_retried)
    assert upstreams["received"]["X"] == [method]  # X had it, and died with it
    assert response.status_code == 201 and response.headers["X-Instance"] == "A"
    assert response.json()["method"] == method  # A got the same request
    assert retried == {method: 1} and not_retried == {}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_by_default_a_post_the_instance_died_with_is_a_502_and_is_not_sent_again(
    upstreams, method: str
) -> None:
    with LoadBalancer([upstreams["X"], upstreams["A"]], health_interval=None) as balancer:
        response = send(balancer, method)
        retried, not_retried = dict(balancer.retried), dict(balancer.not_retried)
        served, down = dict(balancer.served), dict(balancer.marked_down)
    assert upstreams["received"]["X"] == [method]
    assert response.status_code == 502
    assert response.json() == {"error": "the instance failed while handling the request"}
    assert served == {} and retried == {}  # A never saw it: the order is not placed twice
    assert not_retried == {method: 1} and down == {"X": 1}


def test_a_refused_post_is_sent_to_the_next_instance_since_nothing_was_sent(upstreams) -> None:
    dead = ("D", f"http://127.0.0.1:{free_port()}")
    with LoadBalancer([dead, upstreams["A"]], health_interval=None) as balancer:
        response = send(balancer, "POST")
        retried = dict(balancer.retried)
    assert response.status_code == 201 and response.headers["X-Instance"] == "A"
    assert retried == {}  # not a resend: the refused connection carried nothing


def test_retry_all_sends_even_a_post_again_like_nginx_non_idempotent(upstreams) -> None:
    with LoadBalancer([upstreams["X"], upstreams["A"]], health_interval=None, retry="all") as lb:
        response = send(lb, "POST")
        retried = dict(lb.retried)
    assert upstreams["received"]["X"] == ["POST"]
    assert response.status_code == 201 and response.json()["method"] == "POST"
    assert retried == {"POST": 1}  # X may have done it already: now perhaps twice


def test_retry_off_gives_each_request_one_instance(upstreams) -> None:
    dead = ("D", f"http://127.0.0.1:{free_port()}")
    with LoadBalancer(
        [upstreams["X"], dead, upstreams["A"]], health_interval=None, retry="off", down_seconds=0
    ) as lb:
        died = send(lb, "GET")  # turn 1: X, which dies holding it
        refused = send(lb, "GET")  # turn 2: D, nobody listening
        answered = send(lb, "GET")  # turn 3: A
        retried, not_retried = dict(lb.retried), dict(lb.not_retried)
    assert [died.status_code, refused.status_code, answered.status_code] == [502, 502, 201]
    assert refused.json() == {"error": "no instance is available"}
    assert retried == {} and not_retried == {"GET": 1}


def test_a_timeout_counts_as_a_failure_retried_only_for_idempotent_requests(upstreams) -> None:
    with LoadBalancer([upstreams["H"], upstreams["A"]], health_interval=None, timeout=0.3) as lb:
        get = send(lb, "GET")
        lb.backends[0].down_until = 0.0  # H back in the pool
        lb._next = 0  # and first in turn again
        post = send(lb, "POST")
        retried, not_retried = dict(lb.retried), dict(lb.not_retried)
    assert upstreams["received"]["H"] == ["GET", "POST"]
    assert get.status_code == 201 and get.headers["X-Instance"] == "A"
    assert post.status_code == 502
    assert retried == {"GET": 1} and not_retried == {"POST": 1}


def test_in_flight_shows_what_each_instance_holds_until_it_answers(upstreams) -> None:
    with LoadBalancer([upstreams["H"], upstreams["A"]], health_interval=None) as balancer:
        assert balancer.in_flight() == {"H": {}, "A": {}}
        holder = threading.Thread(target=send, args=(balancer, "POST"), daemon=True)
        holder.start()
        deadline = time.monotonic() + 5
        while balancer.in_flight()["H"] != {"POST": 1} and time.monotonic() < deadline:
            time.sleep(0.01)
        held = balancer.in_flight()
        upstreams["release"]["H"].set()  # H answers now
        holder.join(timeout=5)
        after = balancer.in_flight()
    assert held == {"H": {"POST": 1}, "A": {}}
    assert after == {"H": {}, "A": {}}


def test_a_bad_retry_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="retry must be one of"):
        LoadBalancer(three(), retry="sometimes")


# --- streams (server-sent events): passed on as they arrive ------------------------------------


class Streams(BaseHTTPRequestHandler):
    """``GET /events...``: a chunked ``text/event-stream``, as gunicorn sends it; ``GET /plain``:
    ``text/plain`` with no length, ended by closing. The first piece at once, the second when
    the test sets ``release``; ``.../dies`` breaks off mid-chunk; ``.../forever`` sends
    heartbeats until the connection fails (``gone`` is set then)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        server.received.append(self.path)  # type: ignore[attr-defined]
        chunked = self.path.startswith("/events")
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if chunked else "text/plain")
        self.send_header("X-Instance", "S")
        self.send_header(
            "Transfer-Encoding" if chunked else "Connection", "chunked" if chunked else "close"
        )
        self.end_headers()

        def piece(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            self.wfile.flush()

        piece(b"data: one\n\n")
        if self.path.endswith("/dies"):
            self.wfile.write(b"40\r\ndata: cut")  # a chunk that never ends: the instance died
            return
        if self.path.endswith("/forever"):
            deadline = time.monotonic() + 5
            try:
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                    piece(b": keepalive\n\n")
            except OSError:
                server.gone.set()  # type: ignore[attr-defined]
            return
        server.release.wait(5)  # type: ignore[attr-defined]
        piece(b"data: two\n\n")
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def streams(echo_servers) -> Iterator[dict]:
    """A streaming instance S and the echo instance A; S's ``received``, ``release``, ``gone``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Streams)
    server.daemon_threads = True
    server.received, server.release, server.gone = [], threading.Event(), threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield {
        "S": ("S", f"http://127.0.0.1:{server.server_address[1]}"),
        "A": echo_servers[0],
        "server": server,
    }
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def read_until(response: requests.Response, wanted: bytes, timeout: float = 5) -> bytes:
    """Bytes of ``response`` as they arrive, until they hold ``wanted`` (or the stream ends)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        piece = response.raw.read1(1024)
        if not piece:
            break
        seen += piece
    return seen


@pytest.mark.parametrize("path", ["/events", "/plain"])
def test_a_stream_is_passed_on_as_it_arrives_without_a_length(streams, path) -> None:
    with LoadBalancer([streams["S"]], "sticky", health_interval=None) as balancer:
        response = requests.get(balancer.url + path, stream=True, timeout=5)
        first = read_until(response, b"data: one\n\n")  # before the instance sent the rest
        streams["server"].release.set()
        rest = read_until(response, b"data: two\n\n")
        end = response.raw.read1(1024)  # then the balancer closes: the end of the answer
        response.close()
    assert first == b"data: one\n\n"
    assert rest == b"data: two\n\n" and end == b""
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "text/event-stream" if path == "/events" else "text/plain"
    )
    assert response.headers["X-Instance"] == "S"
    assert "Content-Length" not in response.headers
    assert "Transfer-Encoding" not in response.headers  # HTTP/1.0 to the client: no chunks
    assert response.headers["Set-Cookie"].startswith("route=S")  # sticky still stamps it
    assert balancer.served == {"S": 1} and balancer.in_flight() == {"S": {}}


def test_an_answer_with_a_length_is_still_sent_whole_with_its_length(echo_servers) -> None:
    with LoadBalancer(echo_servers, health_interval=None) as balancer:
        response = requests.get(balancer.url + "/me", timeout=5)
    assert response.headers["Content-Length"] == str(len(response.content))


def test_an_instance_dying_mid_stream_ends_the_clients_stream_and_nothing_is_resent(
    streams,
) -> None:
    with LoadBalancer([streams["S"], streams["A"]], health_interval=None) as balancer:
        response = requests.get(balancer.url + "/events/dies", stream=True, timeout=5)
        received = read_until(response, b"never")
        response.close()
    assert response.headers["X-Instance"] == "S"
    # What arrived before it died (a cut chunk's bytes too: an SSE client drops that unfinished
    # event), then the end of the client's stream.
    assert received in (b"data: one\n\n", b"data: one\n\ndata: cut")
    assert streams["server"].received == ["/events/dies"]  # sent once
    assert balancer.served == {"S": 1}  # A never got it: a stream that began is not resent
    assert balancer.retried == {} and balancer.not_retried == {}
    assert balancer.marked_down == {"S": 1}


def test_a_client_leaving_a_stream_closes_it_at_the_instance(streams) -> None:
    with LoadBalancer([streams["S"]], health_interval=None) as balancer:
        response = requests.get(balancer.url + "/events/forever", stream=True, timeout=5)
        assert read_until(response, b"data: one\n\n").startswith(b"data: one")
        response.close()  # the client goes away
        assert streams["server"].gone.wait(2)  # the instance's next writes fail: it stops
    assert balancer.marked_down == {}


def test_a_body_larger_than_a_mebibyte_passes_and_a_short_one_is_a_400(echo_servers) -> None:
    import socket

    with LoadBalancer(echo_servers, health_interval=None) as balancer:
        big = b"x" * (1024 * 1024 + 64 * 1024)  # an upload of 1 MiB with its multipart headers
        answer = requests.post(balancer.url + "/files", data=big, timeout=10)
        assert answer.status_code == 201 and len(answer.json()["body"]) == len(big)
        host, port = balancer.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.sendall(
                b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 181\r\n\r\n" + b"y" * 50
            )
            client.shutdown(socket.SHUT_WR)  # announced 181 bytes, sent 50
            reply = b""
            while piece := client.recv(4096):  # the balancer closes after its answer
                reply += piece
        reply_text = reply.decode()
        served = dict(balancer.served)
    assert reply_text.startswith("HTTP/1.0 400") and "shorter than its Content-Length" in reply_text
    assert sum(served.values()) == 1  # the short body never reached an instance
