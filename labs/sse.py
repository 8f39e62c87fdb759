"""A small server-sent events client on ``requests``: what a browser's ``EventSource`` does.

:class:`Parser` turns the bytes of a ``text/event-stream`` into :class:`Event` objects, as the
WHATWG HTML standard says ("Parsing an event stream"): lines end with CRLF, LF or CR (even
split across two chunks); a line that starts with ``:`` is a comment (a heartbeat); ``field:
value`` (one space after the colon dropped); ``data`` lines add up (joined by ``\\n``); a blank
line dispatches the event; ``id`` sets the last event id, ``retry`` the reconnection delay; an
event cut off by the end of the stream is dropped.

:class:`EventSource` connects with ``requests`` (``stream=True``), yields events, and when the
stream ends or breaks, waits ``retry`` milliseconds and connects again with the header
``Last-Event-ID``: a server that keeps its events (a Redis stream) resumes after the last one
received; one that keeps none (pub/sub) cannot. Through a load balancer, the new connection
may land on another instance (:attr:`EventSource.instances` records which served each one)::

    source = EventSource(cluster.url + "/events", session)   # a logged-in requests.Session
    for event in source:
        print(event.id, event.json())
        if enough:
            break                                            # closes the connection
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

LINE_END = re.compile(r"\r\n|\r|\n")
CHUNK_BYTES = 64 * 1024
DEFAULT_RETRY_MS = 1000  # until the server sends ``retry:``
MAX_RETRY_MS = 10_000  # a server asking for longer waits is capped: every wait is bounded
RETRYABLE_STATUSES = {502, 503, 504}  # a balancer with no instance for us right now


class SSEError(RuntimeError):
    """The server refused the stream (an answer that is not ``200 text/event-stream``)."""


@dataclass(frozen=True)
class Event:
    """One dispatched event: its ``data`` (lines joined by ``\\n``), type and last event id."""

    data: str
    event: str = "message"
    id: str = ""

    def json(self) -> Any:
        return json.loads(self.data)


class Parser:
    """An incremental parser of one connection's event stream: :meth:`feed` it bytes.

    ``last_event_id`` starts at the previous connection's (browsers do the same), so a stream
    that opens with ``retry:`` and a blank line does not forget where the client was.
    """

    def __init__(self, last_event_id: str = "") -> None:
        self.last_event_id = last_event_id  # what a reconnect sends as Last-Event-ID
        self.retry: int | None = None  # the reconnection delay the server asked for, in ms
        self.comments = 0  # comment lines seen (heartbeats)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id_buffer = last_event_id

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk`` (possibly none)."""
        self._text += self._decoder.decode(chunk)
        if not self._started and self._text:
            self._started = True
            self._text = self._text.removeprefix("\ufeff")  # one byte order mark may open it
        events = []
        while match := LINE_END.search(self._text):
            if match.group() == "\r" and match.end() == len(self._text):
                break  # a CR at the end of the chunk: the next one may start with its LF
            line, self._text = self._text[: match.start()], self._text[match.end() :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[Event]:
        """The stream ended: a line cut by a final CR is read; an unfinished event is dropped."""
        self._text += self._decoder.decode(b"", final=True)
        events = []
        if self._text.endswith("\r"):
            event = self._line(self._text[:-1])
            events = [event] if event is not None else []
        self._text, self._data, self._event = "", [], ""
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None  # any other field is ignored

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._id_buffer
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return Event("\n".join(data), event, self.last_event_id)


class EventSource:
    """Events from ``url``, reconnecting with ``Last-Event-ID`` until :meth:`close`.

    ``session``: a ``requests.Session`` (its cookies log the stream in). ``timeout``: seconds
    to connect, and to wait for any byte (the server's heartbeats keep a live stream under it).
    At most ``max_connections`` connections are made (the first included), so a server that is
    gone for good ends the iteration instead of retrying forever. A ``204`` ends it too. A
    502/503/504 is retried like a broken connection (a balancer with no instance for us right
    now; a browser would give up); any other answer that is not ``200 text/event-stream``
    raises :class:`SSEError`.
    """

    def __init__(
        self,
        url: str,
        session: requests.Session | None = None,
        *,
        last_event_id: str = "",
        timeout: float = 5.0,
        max_connections: int = 10,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.url = url
        self.session = session or requests.Session()
        self.last_event_id = last_event_id
        self.timeout = timeout
        self.max_connections = max_connections
        self.retry_ms = DEFAULT_RETRY_MS
        self.instances: list[str | None] = []  # X-Instance of each stream connection
        self.connected = threading.Event()  # set while a stream is open
        self._closed = threading.Event()
        self._response: requests.Response | None = None

    def __iter__(self) -> Iterator[Event]:
        attempts = 0
        while not self._closed.is_set() and attempts < self.max_connections:
            attempts += 1
            try:
                response = self._connect()
            except requests.RequestException:  # refused, timed out: try again later
                response = None
            if response is not None:
                try:
                    yield from self._read(response)
                finally:
                    self.connected.clear()
                    response.close()
            if attempts < self.max_connections:
                self._closed.wait(min(self.retry_ms, MAX_RETRY_MS) / 1000)

    def _connect(self) -> requests.Response | None:
        """The stream's response, or None if there is none now (a 502/503/504)."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        response = self.session.get(
            self.url, headers=headers, stream=True, timeout=(self.timeout, self.timeout)
        )
        kind = response.headers.get("Content-Type", "")
        if response.status_code == 200 and kind.startswith("text/event-stream"):
            self._response = response
            self.instances.append(response.headers.get("X-Instance"))
            self.connected.set()
            return response
        response.close()
        if response.status_code == 204:  # the server says: do not reconnect
            self._closed.set()
            return None
        if response.status_code in RETRYABLE_STATUSES:
            return None
        raise SSEError(f"{self.url} answered {response.status_code} {kind!r}, not a stream")

    def _read(self, response: requests.Response) -> Iterator[Event]:
        parser = Parser(self.last_event_id)
        try:
            while not self._closed.is_set():
                chunk = response.raw.read1(CHUNK_BYTES)
                if not chunk:
                    break
                for event in parser.feed(chunk):
                    self.last_event_id = parser.last_event_id
                    yield event
                self.last_event_id = parser.last_event_id
                if parser.retry is not None:
                    self.retry_ms = parser.retry
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
            pass  # the connection broke (an instance killed, a timeout): reconnect
        for event in parser.close():  # an event cut off by the end is dropped, as browsers do
            self.last_event_id = parser.last_event_id
            yield event

    def close(self) -> None:
        """Stop: no more reconnects, and the open stream (if any) is cut now."""
        self._closed.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.raw.shutdown()  # wakes a read blocked in another thread
