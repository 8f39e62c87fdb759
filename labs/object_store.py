"""Where uploaded files live (COURSE_DESIGN §5): an S3 API, embedded by default, real when asked.

* ``S3_ENDPOINT_URL`` set: clients for that endpoint (MinIO, S3, ...), with credentials from
  the usual AWS environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  optionally ``AWS_DEFAULT_REGION``). ``S3_BUCKET`` names the bucket (default
  :data:`DEFAULT_BUCKET`).
* ``S3_ENDPOINT_URL`` not set: the course starts :class:`EmbeddedS3Server`, moto's S3 behind a
  free port on loopback, and hands its URL to every instance, as it does with
  :class:`labs.redis_store.EmbeddedRedisServer`. :meth:`EmbeddedS3Server.environ` is the
  environment an instance process needs to use it: to that process it is just an endpoint.
* :func:`get_s3` is the rule in one call, as :func:`labs.redis_store.get_redis` is for Redis: a
  client for ``url``, else ``S3_ENDPOINT_URL``, else for ONE embedded server shared by everything
  in this Python process (apps made in a notebook or a test, no cluster), started on first use
  and stopped when the interpreter exits.

moto keeps its buckets in module globals, so every embedded server in one Python process
serves the *same* buckets, and they outlive ``stop()``: use fresh bucket names or prefixes.
moto checks only a bucket name's length; :func:`ensure_bucket` applies S3's full naming rules
itself, so a name that works embedded also works on a real S3.

A cluster's keys carry a per-cluster prefix (:func:`prefixed`), so several clusters can share
one real bucket; cleaning up deletes that prefix (:func:`delete_prefix`), and a bucket is
deleted only if :func:`ensure_bucket` reported that the course created it.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import socket
import threading

import boto3
import botocore.exceptions
from botocore.config import Config

DEFAULT_BUCKET = "stateless-course"
DEFAULT_REGION = "us-east-1"
# What the embedded server accepts; never a real secret.
EMBEDDED_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# Fail in seconds, not minutes: two attempts, short timeouts.
CLIENT_CONFIG = Config(
    retries={"max_attempts": 2},
    connect_timeout=2,
    read_timeout=5,
    s3={"addressing_style": "path"},  # http://host:port/bucket/key: what moto and MinIO expect
)
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MAX_KEY_BYTES = 1024

# URLs of the embedded servers running in this process: their clients get dummy credentials.
_embedded_urls: set[str] = set()
_embedded_lock = threading.Lock()
# One boto3 session makes every client: it caches the S3 service model (~0.1 s per new session).
# A session is not thread-safe, so clients are made under a lock; the clients themselves are.
_session = None
_session_lock = threading.Lock()
# The one embedded server of this process that get_s3() starts when no endpoint is configured.
_process_server: EmbeddedS3Server | None = None
_process_server_lock = threading.Lock()


class S3Unavailable(RuntimeError):
    """The S3 endpoint did not answer (refused, timed out)."""


class InvalidBucketName(ValueError):
    """A bucket name S3 refuses (3-63 characters: lowercase letters, digits, dots, hyphens)."""


class InvalidKey(ValueError):
    """An object key or key prefix the course refuses (empty, too long, or unsafe)."""


def s3_endpoint_url() -> str | None:
    """The configured ``S3_ENDPOINT_URL``, or None when the course runs the embedded server."""
    return os.environ.get("S3_ENDPOINT_URL") or None


def s3_mode() -> str:
    """``"real"`` when ``S3_ENDPOINT_URL`` is set, otherwise ``"embedded"``."""
    return "real" if s3_endpoint_url() else "embedded"


def bucket_name() -> str:
    """``S3_BUCKET``, or :data:`DEFAULT_BUCKET`; checked against S3's naming rules."""
    return check_bucket_name(os.environ.get("S3_BUCKET") or DEFAULT_BUCKET)


def check_bucket_name(name: str) -> str:
    """``name`` if S3 accepts it as a bucket name, else :class:`InvalidBucketName`."""
    ok = isinstance(name, str) and _BUCKET_NAME.fullmatch(name) is not None and ".." not in name
    if ok:
        try:
            ipaddress.ip_address(name)
            ok = False  # "192.168.0.1" is not a bucket name
        except ValueError:
            pass
    if not ok:
        raise InvalidBucketName(
            f"{name!r} is not a valid S3 bucket name: use 3-63 lowercase letters, digits, "
            "dots or hyphens, starting and ending with a letter or digit"
        )
    return name


def client(url: str | None = None):  # -> botocore.client.S3 (typed stubs are not installed)
    """An S3 client for ``url``, else ``S3_ENDPOINT_URL``.

    Embedded servers of this process get dummy credentials; any other endpoint gets the AWS
    environment variables (else boto3's credential chain: profiles, roles). Creating a client
    does not connect: the first request does, and fails within seconds if nothing answers.
    """
    url = url or s3_endpoint_url()
    if not url:
        raise S3Unavailable(
            "No S3 endpoint: S3_ENDPOINT_URL is not set and no url was given. Start an "
            "EmbeddedS3Server and pass its url, or set S3_ENDPOINT_URL."
        )
    with _embedded_lock:
        embedded = url.rstrip("/") in _embedded_urls
    if embedded:
        extra = {"region_name": DEFAULT_REGION, **EMBEDDED_CREDENTIALS}
    else:
        extra = {"region_name": os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION}
        # Read the variables now: the shared session would cache what it found first.
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            if os.environ.get(name.upper()):
                extra[name] = os.environ[name.upper()]
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", endpoint_url=url, config=CLIENT_CONFIG, **extra)


def process_server() -> EmbeddedS3Server:
    """The embedded S3 server of this Python process, started on first call (~0.3 s: moto's
    import) and stopped when the interpreter exits. Every later call returns the same one (or,
    if someone stopped it, starts it again: moto's buckets live on in the process)."""
    global _process_server
    with _process_server_lock:
        if _process_server is None:
            _process_server = EmbeddedS3Server()
            atexit.register(_process_server.stop)
        return _process_server.start()  # a no-op while it runs


def get_s3(url: str | None = None):  # -> botocore.client.S3
    """The S3 for this process (the §5 rule): a client for ``url``, else ``S3_ENDPOINT_URL``,
    else for :func:`process_server`, the one embedded server every caller in this process
    shares (so two apps made in one notebook see the same objects, as two instances would).

    Nothing is sent: the first request connects (an embedded server is started, though).
    """
    return client(url or s3_endpoint_url() or process_server().url)


def ensure_bucket(s3, name: str) -> bool:
    """Create bucket ``name`` unless it exists. True if this call created it.

    Only a bucket the course created may be deleted again: keep the answer.
    """
    check_bucket_name(name)
    try:
        s3.head_bucket(Bucket=name)
        return False
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
    ) as exc:
        raise S3Unavailable(
            f"Cannot reach S3 at {s3.meta.endpoint_url} ({exc}). Start that server, fix "
            "S3_ENDPOINT_URL, or unset it to use the embedded server."
        ) from None
    region = s3.meta.region_name
    kwargs = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        s3.create_bucket(Bucket=name, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return False  # another instance created it a moment ago
    return True


def prefixed(prefix: str, key: str) -> str:
    """The object key ``<prefix>/<key>``: a cluster's keys all live under its prefix.

    ``prefix`` is one path segment (no ``/``), e.g. ``"sbd-3f2a9c1e"``; "" means no prefix.
    """
    if not isinstance(prefix, str) or "/" in prefix or prefix in (".", ".."):
        raise InvalidKey(f"a key prefix is one path segment without '/', not {prefix!r}")
    if not isinstance(key, str) or not key or key.startswith("/"):
        raise InvalidKey(f"an object key is a non-empty string not starting with '/', not {key!r}")
    full = f"{prefix}/{key}" if prefix else key
    if len(full.encode()) > _MAX_KEY_BYTES:
        raise InvalidKey(f"an object key is at most {_MAX_KEY_BYTES} bytes in UTF-8")
    return full


def delete_prefix(s3, bucket: str, prefix: str) -> int:
    """Delete every object under ``<prefix>/`` in ``bucket``; the number deleted.

    A cluster cleans up with this, never by deleting a shared bucket. An empty prefix is
    refused: it would empty the whole bucket.
    """
    if not prefix:
        raise InvalidKey("refusing to delete with an empty prefix: that is the whole bucket")
    start = prefixed(prefix, "x")[:-1]  # "<prefix>/"
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def _server_class():
    """A werkzeug threaded server for moto that stop() can empty (imported late: moto is slow)."""
    from moto.server import MotoRequestHandler
    from werkzeug.serving import ThreadedWSGIServer

    class QuietHandler(MotoRequestHandler):
        """moto's handler without werkzeug's access log (a lesson would store it as stderr)."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    class Server(ThreadedWSGIServer):
        """Knows every connection it serves and every thread serving one, from the moment
        it accepts the connection, so stop() can close the first and join the second."""

        def __init__(self, host: str, app: object) -> None:
            self.sbd_lock = threading.Lock()
            self.sbd_open: set[socket.socket] = set()
            self.sbd_threads: list[threading.Thread] = []
            super().__init__(host, 0, app, handler=QuietHandler)

        def process_request(self, request: socket.socket, client_address: object) -> None:
            thread = threading.Thread(
                target=self.process_request_thread,
                args=(request, client_address),
                name="embedded-s3-request",
                daemon=True,
            )
            with self.sbd_lock:
                self.sbd_open.add(request)
                self.sbd_threads = [t for t in self.sbd_threads if t.is_alive()] + [thread]
            thread.start()

        def shutdown_request(self, request: socket.socket) -> None:
            with self.sbd_lock:
                self.sbd_open.discard(request)
            super().shutdown_request(request)

    return Server


class EmbeddedS3Server:
    """moto's S3 served on a free loopback port (``url``), for the labs' clusters.

    Use it as a context manager; ``url`` is ready once ``start()`` returns, and ``stop()``
    closes the port and every open connection and joins the threads that served them.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server = None  # a werkzeug ThreadedWSGIServer while running
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the embedded S3 server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def environ(self) -> dict[str, str]:
        """The environment an instance process needs to use this server through the §5 rule."""
        return {
            "S3_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": EMBEDDED_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": EMBEDDED_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
        }

    def start(self) -> EmbeddedS3Server:
        if self._server is None:
            # What ThreadedMotoServer does, minus its access log and its 0.5 s stop; imported
            # here because moto takes ~0.3 s to import and a real endpoint never needs it.
            from moto.server import DomainDispatcherApplication, create_backend_app

            server = _server_class()(self._host, DomainDispatcherApplication(create_backend_app))
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits at most one poll
                name="embedded-s3",
                daemon=True,
            )
            self._thread.start()
            with _embedded_lock:
                _embedded_urls.add(self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        host, port = server.server_address[:2]
        with _embedded_lock:
            _embedded_urls.discard(f"http://{host}:{port}")
        server.shutdown()  # accepts no more connections
        server.server_close()
        with server.sbd_lock:
            stalled, threads = list(server.sbd_open), list(server.sbd_threads)
        for connection in stalled:  # a request still being read or answered holds its thread
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmbeddedS3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
