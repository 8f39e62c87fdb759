"""Lesson 09's experiment on ``labs/apps/files_app.py``: a file written to one instance's disk.

:func:`files_across_instances` runs two real gunicorn instances (``ProcessCluster``, the
readable balancer) of the files app, logs in through the balancer, uploads a small file
straight to instance A, reads it back from A and from B, restarts A and reads it from A again.
The restart is graceful by default (SIGTERM: the process exits, and removes its temporary
directory on the way out), or ``restart="kill"`` (``kill -9``: no exit code runs, so the old
directory stays on the machine's disk, and the cluster deletes it; about 0.5 s quicker):

* ``state="memory"``: the file is on A's local disk, in a temporary directory of A's process.
  B answers 404 (it has a disk of its own), and after the restart A answers 404 too: the new
  process made a new, empty directory (and after a graceful stop the old one is gone);
* ``state="shared"``: the file is an object in S3 (the cluster's embedded S3 server, or the one
  ``S3_ENDPOINT_URL`` names), so B and the restarted A both answer 200 with the same bytes.

Every status is decided by where the file lives, not by timing, so :meth:`FilesRun.verdict`
and :meth:`FilesRun.counts` print the same thing on every run (a compared cell may show both).
The cluster stops, and its objects and files are deleted, even when something fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests as requests_lib

from labs.apps.files_app import STATES, UPLOAD_DIR_PREFIX
from labs.cluster import ProcessCluster
from labs.cluster.clients import logged_in

USER = "alice"
CONTENT = b"hello from instance A\n"
FILENAME = "hello.txt"
TIMEOUT = 10  # seconds for any one request
DRAIN_SECONDS = 0.1  # the restart's graceful stop: a short drain keeps the lesson quick
RESTARTS = ("graceful", "kill")


@dataclass(frozen=True)
class FilesRun:
    """What each instance answered for one file uploaded to A (HTTP statuses)."""

    state: str
    restart: str  # "graceful" (SIGTERM, then a new process) or "kill" (kill -9, then a new one)
    upload: int  # POST /files on A: 201
    uploaded_on: str  # the X-Instance of that answer: "A"
    read_on_a: int  # GET the file's url on A, right after
    read_on_b: int  # ... on B: 404 with the file on A's disk
    same_bytes_on_b: bool  # B answered 200 with exactly the bytes uploaded
    after_restart: int  # GET on A after A restarted
    upload_dirs_before: int  # "sbd-uploads-*" directories on the cluster's disk, before ...
    upload_dirs_after: int  # ... and after the restart

    def verdict(self) -> str:
        """What happened, one line per step; the same on every run."""
        if self.state == "memory":
            where = "kept on A's local disk"
            on_b = "another instance's disk"
            after = "its temp dir is gone"
            if self.restart == "kill":
                after = "a new process has a new, empty temp dir"
        else:
            where = "stored in S3"
            on_b = "the same object in S3" + (", same bytes" if self.same_bytes_on_b else "")
            after = "the object outlived the process"
        restarted = "restarted" if self.restart == "graceful" else "was killed and restarted"
        return "\n".join(
            [
                f"upload on {self.uploaded_on}: {self.upload} ({where})",
                f"read on A: {self.read_on_a}",
                f"upload on A, read on B: {self.read_on_b} ({on_b})",
                f"after A {restarted}: {self.after_restart} ({after})",
            ]
        )

    def counts(self) -> dict[str, Any]:
        """Every field, as a dictionary (deterministic too)."""
        return asdict(self)


def _upload_dirs(cluster: ProcessCluster) -> int:
    """How many instance upload directories exist in the cluster's TMPDIR (its "local disk")."""
    if cluster.workdir is None:  # pragma: no cover - a running cluster has one
        return 0
    return len(list(Path(cluster.workdir, "tmp").glob(UPLOAD_DIR_PREFIX + "*")))


def files_across_instances(state: str = "memory", restart: str = "graceful") -> FilesRun:
    """Upload a file to instance A, read it on A and B, restart A, read it on A again."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    if restart not in RESTARTS:
        raise ValueError(f"restart must be one of {', '.join(RESTARTS)}, got {restart!r}")
    with ProcessCluster(
        "files",
        instances=2,
        balancer="python",
        s3=(state == "shared"),
        drain_seconds=DRAIN_SECONDS,
        env={"STATE": state},
    ) as cluster:
        a, b = cluster.instance_urls
        session = logged_in(cluster.url, USER, timeout=TIMEOUT)  # its cookie: for either
        try:
            files = {"file": (FILENAME, CONTENT, "text/plain")}
            sent = session.post(a + "/files", files=files, timeout=TIMEOUT)
            if sent.status_code != 201:  # pragma: no cover - the app is broken
                raise RuntimeError(f"the upload to A answered {sent.status_code}: {sent.text}")
            url = sent.json()["url"]
            # Reading needs no session: the url is the capability (another browser, even).
            read_on_a = requests_lib.get(a + url, timeout=TIMEOUT)
            read_on_b = requests_lib.get(b + url, timeout=TIMEOUT)
            dirs_before = _upload_dirs(cluster)
            if restart == "kill":
                cluster.kill(0)  # no goodbye: atexit does not run
            cluster.restart(0)  # (a running instance is stopped gracefully first)
            after = requests_lib.get(a + url, timeout=TIMEOUT)
            dirs_after = _upload_dirs(cluster)
            session.post(cluster.url + "/logout", timeout=TIMEOUT)
        finally:
            session.close()
    return FilesRun(
        state=state,
        restart=restart,
        upload=sent.status_code,
        uploaded_on=sent.headers.get("X-Instance", "?"),
        read_on_a=read_on_a.status_code,
        read_on_b=read_on_b.status_code,
        same_bytes_on_b=read_on_b.status_code == 200 and read_on_b.content == CONTENT,
        after_restart=after.status_code,
        upload_dirs_before=dirs_before,
        upload_dirs_after=dirs_after,
    )
