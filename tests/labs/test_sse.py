"""The SSE client (labs.sse): the WHATWG parsing rules on hand-written byte streams, and the
reconnecting ``EventSource`` against a small scripted server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labs.sse import Event, EventSource, Parser, SSEError


def parse(*chunks: bytes, last_event_id: str = "") -> tuple[list[Event], Parser]:
    parser = Parser(last_event_id)
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return events, parser


def every_split(stream: bytes) -> Iterator[tuple[bytes, ...]]:
    """``stream`` cut in two at every byte, and one byte at a time."""
    for cut in range(len(stream) + 1):
        yield stream[:cut], stream[cut:]
    yield tuple(stream[i : i + 1] for i in range(len(stream)))


# --- parsing ---------------------------------------------------------------------------------


def test_an_event_has_its_id_type_and_data() -> None:
    events, parser = parse(b'id: 1-0\nevent: message\ndata: {"a": 1}\n\n')
    assert events == [Event('{"a": 1}', "message", "1-0")]
    assert events[0].json() == {"a": 1}
    assert parser.last_event_id == "1-0"


def test_data_lines_join_with_newlines_and_the_type_defaults_to_message() -> None:
    events, _ = parse(b"data: one\ndata:two\ndata:  three\ndata\n\n")
    assert events == [Event("one\ntwo\n three\n", "message", "")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_lines_may_end_with_lf_crlf_or_cr(ending: bytes) -> None:
    stream = ending.join([b"id: 7", b"event: ping", b"data: a", b"data: b", b"", b"data: c", b""])
    events, _ = parse(stream + ending)
    assert events == [Event("a\nb", "ping", "7"), Event("c", "message", "7")]


@pytest.mark.parametrize(
    "stream",
    [
        b": hello\r\nid: 5\r\ndata: x\r\n\r\ndata: y\r\n\r\n",
        b"data: caf\xc3\xa9\r\rdata: \xe2\x82\xac\n\n",
    ],
)
def test_any_split_into_chunks_gives_the_same_events(stream: bytes) -> None:
    whole, _ = parse(stream)
    assert len(whole) == 2
    for chunks in every_split(stream):
        assert parse(*chunks)[0] == whole, chunks


def test_a_cr_at_the_end_of_a_chunk_and_an_lf_at_the_start_of_the_next_are_one_line_end() -> None:
    events, _ = parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [Event("a\nb")]  # not two events: no empty line came between a and b


def test_comments_are_counted_and_never_dispatched() -> None:
    events, parser = parse(b": keepalive\n\n:another\ndata: x\n\n: keepalive\n\n")
    assert events == [Event("x")]
    assert parser.comments == 3


def test_retry_sets_the_delay_only_when_it_is_digits() -> None:
    assert parse(b"retry: 250\n\n")[1].retry == 250
    assert parse(b"retry: 250\nretry: soon\nretry: -5\nretry: 2.5\n\n")[1].retry == 250
    assert parse(b"retry: 1\xef\xbc\x90\n\n")[1].retry is None  # a fullwidth digit is no digit


def test_the_last_event_id_persists_and_an_empty_id_resets_it() -> None:
    events, parser = parse(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [event.id for event in events] == ["1", "1", ""]
    assert parser.last_event_id == ""


def test_an_id_holding_nul_is_ignored() -> None:
    events, _ = parse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [event.id for event in events] == ["1", "1"]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped_and_its_id_not_kept() -> None:
    events, parser = parse(b"id: 1\ndata: a\n\nid: 2\ndata: half")
    assert events == [Event("a", "message", "1")]
    assert parser.last_event_id == "1"  # a reconnect asks for what came after 1: nothing lost


def test_a_reconnect_keeps_the_last_event_id_through_a_blank_line_without_an_id() -> None:
    events, parser = parse(b"retry: 100\n\n", last_event_id="9-0")
    assert events == []
    assert parser.last_event_id == "9-0"


def test_unknown_fields_lines_without_colon_and_a_bom_are_handled() -> None:
    events, _ = parse(b"\xef\xbb\xbfdata: a\nfoo: bar\nevent\n\n")
    assert events == [Event("a", "message", "")]
    events, _ = parse(b"data:\n\n")  # one empty data line: an event whose data is ""
    assert events == [Event("")]
    assert parse(b"\n\n\nevent: x\n\n")[0] == []  # no data: nothing dispatched


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert parse(b"data: \xff\n\n")[0] == [Event("\ufffd")]


# --- the reconnecting EventSource ----------------------------------------------------------


class Scripted(BaseHTTPRequestHandler):
    """Answers each connection with the server's next script: ``(status, body)``; records the
    Last-Event-ID each connection sent."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(self.headers.get("Last-Event-ID"))  # type: ignore[attr-defined]
        script = server.scripts  # type: ignore[attr-defined]
        status, body = script.pop(0) if script else (200, b"")
        self.send_response(status)
        kind = "text/event-stream" if status == 200 else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("X-Instance", str(len(server.seen)))  # type: ignore[attr-defined]
        self.end_headers()
        for piece in body if isinstance(body, list) else [body]:
            self.wfile.write(piece)
            self.wfile.flush()
            time.sleep(0.01)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.daemon_threads = True
    httpd.seen, httpd.scripts = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/events"


def test_it_reconnects_with_last_event_id_after_the_stream_ends(server) -> None:
    server.scripts += [
        (200, [b"retry: 10\n\n", b"id: 1-0\ndata: a\n\n", b"id: 2-0\nda", b"ta: b\n\n"]),
        (200, [b"retry: 10\n\nid: 3-0\ndata: c\n\nid: 4-0\ndata: cut off"]),
        (200, b"id: 5-0\ndata: d\n\n"),
    ]
    source = EventSource(url(server), max_connections=3)
    events = list(source)
    assert [event.data for event in events] == ["a", "b", "c", "d"]
    assert server.seen == [None, "2-0", "3-0"]  # each reconnect resumes after the last event
    assert source.last_event_id == "5-0"
    assert source.retry_ms == 10
    assert source.instances == ["1", "2", "3"]


def test_a_given_last_event_id_is_sent_on_the_first_connection(server) -> None:
    server.scripts.append((200, b"data: x\n\n"))
    list(EventSource(url(server), last_event_id="8-1", max_connections=1))
    assert server.seen == ["8-1"]


def test_a_502_is_retried_a_204_stops_and_a_401_raises(server) -> None:
    server.scripts += [(502, b"{}"), (200, b"retry: 10\n\ndata: x\n\n"), (204, b""), (200, b"")]
    source = EventSource(url(server), max_connections=10)
    assert [event.data for event in source] == ["x"]
    assert len(server.seen) == 3  # nothing after the 204
    server.scripts.append((401, b'{"error": "not logged in"}'))
    with pytest.raises(SSEError, match="401"):
        list(EventSource(url(server)))


def test_a_server_that_is_gone_ends_the_iteration_after_max_connections() -> None:
    from labs.cluster.process import free_port

    source = EventSource(f"http://127.0.0.1:{free_port()}/events", max_connections=3)
    source.retry_ms = 10
    started = time.monotonic()
    assert list(source) == []
    assert time.monotonic() - started < 2
    assert source.instances == []


def test_breaking_out_of_the_loop_closes_the_stream(server) -> None:
    server.scripts.append((200, [b"data: 1\n\n", b"data: 2\n\n"]))
    source = EventSource(url(server))
    for event in source:
        assert event.data == "1"
        break
    assert not source.connected.is_set()
    assert len(server.seen) == 1


def test_close_from_another_thread_ends_a_quiet_stream_at_once(server) -> None:
    server.scripts.append((200, [b"data: 1\n\n"] + [b""] * 200))  # then ~2 s of nothing
    source = EventSource(url(server), timeout=5)
    received = []
    reader = threading.Thread(target=lambda: received.extend(source), daemon=True)
    reader.start()
    assert source.connected.wait(5)
    started = time.monotonic()
    source.close()
    reader.join(5)
    assert not reader.is_alive()
    assert time.monotonic() - started < 1
    assert len(server.seen) == 1  # closed: no reconnect
