"""Lesson 09: an uploaded file is state, and the instance's disk is the wrong place for it.

The app is ``labs/apps/stateless_app.py`` (login, ``/me``, logout, cart, sessions in Redis) plus
uploads (COURSE_DESIGN §6b), kept where ``config["STATE"]`` says (config, else the environment
``STATE``): ``"memory"`` (the instance's local disk: the anti-pattern) or ``"shared"`` (object
storage through the S3 API, the default).

``POST /files`` (logged in, else 401): a ``multipart/form-data`` body with one file part named
``file`` -> 201 ``{"file_id", "url"}``, ``url`` = ``/files/<file_id>`` (also sent as
``Location``). The file may hold up to ``MAX_UPLOAD_BYTES`` (default 1 MiB; config, else the
environment); the body may be :data:`MULTIPART_OVERHEAD` bytes larger, for the part headers.
Only this route gets the larger limit: every other body stays at ``web.MAX_BODY_BYTES`` (16 KB).
A larger file, announced or chunked, is 413 (a chunked body is read only from a server that
marks where it ends, as gunicorn does; else 411); no ``file`` part, an empty file name, a content
type that is not ``type/subtype``, or a body that is not multipart, is 400.

``GET /files/<file_id>`` -> 200, the bytes with the content type they were uploaded with, from
*any* instance, and **without logging in**: the id is the capability. It is
``secrets.token_urlsafe(16)`` (128 random bits, 22 characters), so nobody finds a file by
guessing; whoever holds the URL may read it, like an S3 presigned URL or a "share link". An id
of the wrong shape is 404 before any store is asked; an unknown one is 404 too.

Files are someone else's content served from our origin, so every answer carries
``X-Content-Type-Options: nosniff`` (the browser believes the declared type, it never guesses
"this looks like HTML") and ``Content-Security-Policy: sandbox`` (no script runs even if one
gets through). Only :data:`INLINE_TYPES` (PNG, JPEG, GIF, WebP images and plain text) are shown
in the browser; everything else, ``text/html``, ``image/svg+xml`` (SVG can carry scripts) and
PDF (readers run scripts and forms) included, is sent as ``Content-Disposition: attachment``, a
download, with the original name as an ASCII fallback plus RFC 6266's ``filename*``.

* ``"memory"``: **the anti-pattern**. Each instance (each app object; in a cluster, each
  process) writes to a temporary directory of its own on local disk
  (``tempfile.mkdtemp(prefix="sbd-uploads-")``, under ``TMPDIR``: a cluster points that into
  its work directory), made at the first upload and removed when the process exits. So a file
  uploaded to A is 404 on B, and after a restart A has a new, empty directory: the file is gone,
  as it is with a container's disk. (A process restarted on the *same* directory would find the
  file again; a redeployed container would not, and the lesson plays the container.)
* ``"shared"``: one object per file in S3 (:mod:`labs.object_store`), key
  ``<KEY_PREFIX without ':'>/files/<file_id>`` in bucket ``S3_BUCKET``, with its content type as
  the object's ``ContentType`` and the file name (percent-encoded: S3 metadata is ASCII) and
  uploader in its ``Metadata``. The endpoint is ``S3_ENDPOINT_URL`` (config, else environment);
  with neither, one embedded server shared by the whole Python process
  (:func:`labs.object_store.get_s3`). Creating the app contacts nothing: the client is made and
  the bucket checked at the first request that needs them, once. S3 unreachable or timing out is
  a JSON 503 (as a Redis outage is), never a 500.

A rejected upload stores nothing, and nothing stored is ever overwritten: every upload gets a
new id.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import unicodedata
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import botocore.exceptions
from flask import Flask, Response, jsonify, request
from redis import Redis
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import (
    BadRequest,
    LengthRequired,
    NotFound,
    RequestEntityTooLarge,
)
from werkzeug.http import parse_options_header

from labs import object_store
from labs.apps import stateless_app
from labs.apps.stateless_app import session_user
from labs.apps.web import (
    MAX_BODY_BYTES,
    choice_setting,
    error,
    framing_errors_are_400,
    int_setting,
    text_setting,
)
from labs.redis_store import lazy_redis

STATES = ("memory", "shared")
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024
MAX_MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # the highest MAX_UPLOAD_BYTES the app accepts
MULTIPART_OVERHEAD = MAX_BODY_BYTES  # room for the part headers around the file's bytes
MAX_FORM_PARTS = 8
MAX_FILENAME_CHARS = 255
UPLOAD_DIR_PREFIX = "sbd-uploads-"
FILE_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 16 bytes, base64url
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,63}"  # RFC 9110's token, bounded
MEDIA_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Shown in the browser; anything else is a download. Never text/html or image/svg+xml (scripts),
# nor application/pdf (PDF readers run scripts and forms of their own).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"})
S3_DOWN = "the object store (S3) is unavailable"
EXTENSION = "files"  # app.extensions[EXTENSION]: what this instance keeps (to look inside)


@dataclass(frozen=True)
class StoredFile:
    """One upload: its bytes, the content type to serve them with, the name it was sent with."""

    data: bytes
    content_type: str
    filename: str


def new_file_id() -> str:
    """An unguessable id: 128 random bits, URL-safe (the capability to read the file)."""
    return secrets.token_urlsafe(16)


def content_type_of(upload: FileStorage) -> str:
    """The part's content type, normalised: ``type/subtype`` in lower case, plus its ``charset``
    if it has one; other parameters are dropped. No header: ``application/octet-stream``."""
    raw = upload.headers.get("Content-Type")
    if raw is None or not raw.strip():
        return DEFAULT_CONTENT_TYPE
    mimetype = raw.split(";", 1)[0].strip().lower()
    if not MEDIA_TYPE.fullmatch(mimetype):
        raise BadRequest("the file's Content-Type must be type/subtype, e.g. image/png")
    _, params = parse_options_header(raw)
    charset = params.get("charset")
    if charset is None:
        return mimetype
    if not re.fullmatch(_TOKEN, charset):
        raise BadRequest("the file's charset must be a name such as utf-8")
    return f"{mimetype}; charset={charset.lower()}"


def filename_of(upload: FileStorage) -> str:
    """The file's own name (no directories), checked: 1-255 characters of text, no control
    characters."""
    raw = upload.filename or ""
    name = re.split(r"[/\\]", raw)[-1].strip()  # browsers may send C:\Users\me\photo.png
    if not name or name in (".", ".."):
        raise BadRequest("the file part needs a file name (was a file chosen?)")
    if len(name) > MAX_FILENAME_CHARS:
        raise BadRequest(f"the file name is longer than {MAX_FILENAME_CHARS} characters")
    # Cc: control characters; Cs: lone surrogates; Cf: invisible format characters, such as
    # U+202E, which shows "evil\u202egnp.exe" as "evilexe.png".
    if any(unicodedata.category(char) in ("Cc", "Cs", "Cf") for char in name):
        raise BadRequest("the file name holds control or invisible characters, or is not text")
    return name


def content_disposition(content_type: str, filename: str) -> str:
    """``inline`` for :data:`INLINE_TYPES`, else ``attachment``, with the name safely encoded:
    an ASCII ``filename`` (anything else replaced) and, when that differs, ``filename*``."""
    kind = "inline" if content_type.split(";")[0] in INLINE_TYPES else "attachment"
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip() or "download"
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe="")
    return value


class DiskFiles:
    """THE ANTI-PATTERN: files on this instance's local disk, in a temporary directory of its
    own, made at the first upload and removed when the process exits (or this object goes)."""

    def __init__(self) -> None:
        self.directory: str | None = None
        self._lock = threading.Lock()

    def _directory(self) -> str:
        with self._lock:
            if self.directory is None:
                self.directory = tempfile.mkdtemp(prefix=UPLOAD_DIR_PREFIX)
                weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
            return self.directory

    def put(self, file_id: str, stored: StoredFile, user: str) -> None:
        directory = self._directory()
        meta = {"content_type": stored.content_type, "filename": stored.filename, "user": user}
        for suffix, content in (("", stored.data), (".json", json.dumps(meta).encode())):
            part = os.path.join(directory, f"{file_id}{suffix}.part")
            with open(part, "wb") as out:
                out.write(content)
            os.replace(part, os.path.join(directory, file_id + suffix))  # whole, or not at all

    def get(self, file_id: str) -> StoredFile | None:
        if self.directory is None:
            return None  # nothing was ever uploaded here
        path = os.path.join(self.directory, file_id)
        try:
            with open(path + ".json", "rb") as meta_file:  # written last: the file is complete
                meta = json.load(meta_file)
            with open(path, "rb") as data_file:
                data = data_file.read()
        except FileNotFoundError:
            return None
        return StoredFile(data, meta["content_type"], meta["filename"])


class S3Files:
    """Files as objects in S3: every instance given the same endpoint, bucket and prefix sees
    every file. The client is made, and the bucket created if missing, at first use, once."""

    def __init__(self, endpoint: str | None, bucket: str, prefix: str) -> None:
        self.endpoint, self.bucket, self.prefix = endpoint, bucket, prefix
        self._s3: Any = None
        self._lock = threading.Lock()

    def key(self, file_id: str) -> str:
        return object_store.prefixed(self.prefix, "files/" + file_id)

    def client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                s3 = object_store.get_s3(self.endpoint)
                object_store.ensure_bucket(s3, self.bucket)  # raises if S3 cannot be reached
                self._s3 = s3
            return self._s3

    def put(self, file_id: str, stored: StoredFile, user: str) -> None:
        self.client().put_object(
            Bucket=self.bucket,
            Key=self.key(file_id),
            Body=stored.data,
            ContentType=stored.content_type,
            Metadata={"filename": quote(stored.filename, safe=""), "user": quote(user, safe="")},
        )

    def get(self, file_id: str) -> StoredFile | None:
        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self.key(file_id))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
                return None
            raise
        content_type = answer.get("ContentType") or DEFAULT_CONTENT_TYPE
        filename = unquote(answer.get("Metadata", {}).get("filename", "")) or "download"
        return StoredFile(answer["Body"].read(), content_type, filename)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance: the stateless app's routes, plus ``POST /files`` and ``GET /files/<id>``."""
    config = dict(config or {})
    store = redis if redis is not None else lazy_redis()
    app = stateless_app.create_app(instance_id, redis=store, config=config)
    state = choice_setting(config, "STATE", "shared", STATES)
    max_upload = int_setting(
        app.config, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_MAX_UPLOAD_BYTES
    )
    ttl = stateless_app.session_ttl(app.config)
    files: DiskFiles | S3Files
    if state == "memory":
        files = DiskFiles()
    else:
        prefix = text_setting(config, "KEY_PREFIX").rstrip(":")
        object_store.prefixed(prefix, "files/x")  # a bad KEY_PREFIX stops the app here
        bucket = text_setting(config, "S3_BUCKET")
        bucket = object_store.check_bucket_name(bucket) if bucket else object_store.bucket_name()
        endpoint = text_setting(config, "S3_ENDPOINT_URL") or None
        files = S3Files(endpoint, bucket, prefix)
    app.extensions[EXTENSION] = {"state": state, "files": files, "max_upload": max_upload}

    @app.post("/files")
    def upload() -> tuple[Response, int]:
        user = session_user(store, ttl)
        file_id = new_file_id()
        files.put(file_id, read_upload(max_upload), user)
        return created(file_id)

    @app.get("/files/<file_id>")
    def download(file_id: str) -> Response:
        if not FILE_ID.fullmatch(file_id):
            raise NotFound("no such file")  # not an id we could have made: no store is asked
        return served(files.get(file_id))

    add_s3_error_handlers(app)
    return app


# --- What the routes share with the capstone shop (labs/apps/shop_app.py) ----------------------


def the_upload(max_upload: int) -> FileStorage:
    """The request's one ``file`` part, its body bounded (413) and checked (400): only this
    route takes more than the 16 KB every other body is held to."""
    too_large = f"a file may hold at most {max_upload} bytes"
    request.max_content_length = max_upload + MULTIPART_OVERHEAD  # this request only
    request.max_form_parts = MAX_FORM_PARTS
    if request.content_length is not None and request.content_length > (
        max_upload + MULTIPART_OVERHEAD
    ):
        raise RequestEntityTooLarge(too_large)  # announced: refused before it is read
    if request.content_length is None and not request.environ.get("wsgi.input_terminated"):
        raise LengthRequired("send a Content-Length (this server cannot bound the body)")
    if request.mimetype != "multipart/form-data":
        raise BadRequest("send multipart/form-data with the file in a part named 'file'")
    try:
        with framing_errors_are_400():
            uploads = request.files.getlist("file")  # reads the body (chunked: bounded too)
    except RequestEntityTooLarge:
        if request.content_length is not None:  # within the size: werkzeug counted parts
            raise BadRequest(f"send one file, in at most {MAX_FORM_PARTS} form parts") from None
        raise RequestEntityTooLarge(f"{too_large}, in at most {MAX_FORM_PARTS} parts") from None
    if not uploads:
        where = "a form field" if "file" in request.form else "missing"
        raise BadRequest(f"the part 'file' is {where}: send it as a file (with a filename)")
    if len(uploads) > 1:
        raise BadRequest("send one file per request")
    return uploads[0]


def read_upload(max_upload: int) -> StoredFile:
    """The request's file, read (at most ``max_upload`` bytes: 413 past it), with its checked
    content type and file name."""
    part = the_upload(max_upload)
    stored_type, name = content_type_of(part), filename_of(part)
    data = part.stream.read(max_upload + 1)
    if len(data) > max_upload:
        raise RequestEntityTooLarge(f"a file may hold at most {max_upload} bytes")
    return StoredFile(data, stored_type, name)


def created(file_id: str) -> tuple[Response, int]:
    """``201 {"file_id", "url"}``, with the file's URL in ``Location`` too."""
    url = f"/files/{file_id}"
    response = jsonify(file_id=file_id, url=url)
    response.headers["Location"] = url
    return response, 201


def served(found: StoredFile | None) -> Response:
    """A stored file as a download that no browser runs as a page (``nosniff``, a sandbox, an
    attachment unless its type is on the allow-list); 404 for none."""
    if found is None:
        raise NotFound("no such file")
    response = Response(found.data, status=200, content_type=found.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Content-Disposition"] = content_disposition(
        found.content_type, found.filename
    )
    return response


def add_s3_error_handlers(app: Flask) -> None:
    """Object storage that cannot be reached, or refuses, is a JSON 503, never a 500."""

    def s3_down(exc: Exception) -> tuple[Response, int]:
        return error(503, S3_DOWN)

    def s3_refused(exc: botocore.exceptions.ClientError) -> tuple[Response, int]:
        code = exc.response.get("Error", {}).get("Code", "?")
        return error(503, f"{S3_DOWN}: it answered {code}")

    app.register_error_handler(object_store.S3Unavailable, s3_down)
    app.register_error_handler(botocore.exceptions.BotoCoreError, s3_down)
    app.register_error_handler(botocore.exceptions.ClientError, s3_refused)
