"""The audit: does a web app keep its promises when its instances die? (lesson 13)

``audit("my_shop")`` runs an app as a real cluster, 3 gunicorn processes behind a balancer (the
course's :class:`labs.cluster.ProcessCluster`, with a shared Redis, object storage, a job worker
and a loopback proxy in front of Redis), then breaks it the way production does and checks, for
each property, what a user would see. Every finding says what was done and what came back:

* ``errors``: bad input gets a 4xx JSON error, never a 500 or an HTML page;
* ``sessions``: every instance knows every user and their cart, also after ``kill -9`` of one
  instance and its restart;
* ``quota``: a user gets ``RATE_LIMIT`` requests per window in all, however many instances
  answer, also when requests arrive at once and every store call is 20 ms away (a counter read
  and then written by two instances at the same moment loses one of the two updates);
* ``files``: an upload sent to one instance is served by every other, and after the uploader
  restarts (each instance has a ``TMPDIR`` of its own, as on three machines; a fixed absolute path
  on this machine's disk is the one local store the audit cannot tell from a shared one);
* ``jobs``: a job outlives the instance that accepted it (``kill -9`` a moment after ``202``);
* ``payments``: 8 copies of one payment sent at once to 3 instances charge once (and at most
  one of them is answered as a new payment), a retry is replayed, a reused key with another
  body is refused, and a key is the user's own;
* ``rolling``: a rolling restart (SIGTERM, drain, start, one instance after the other) under a
  steady load of logged-in users fails no request;
* ``liveness``: with Redis cut off, ``/healthz`` still says 200 on every instance (a liveness
  probe that asks Redis would have the orchestrator restart the whole fleet at once);
* ``readiness``: ``/readyz`` says 200 with Redis up and, with Redis cut off, 503 where ``/me``
  cannot be served (a readiness that always says yes keeps users on instances that fail them;
  one that never does, or a missing route, leaves the balancer no instance to trust).

What it assumes of the app (COURSE_DESIGN §6 and §6b, which every course app follows): a module
with ``create_app(instance_id="A", redis=None, config=None)`` returning a WSGI app; the routes and
status codes of §6/§6b; the demo users of ``labs.apps.users``; Redis at ``REDIS_URL``, object
storage at ``S3_ENDPOINT_URL`` / ``S3_BUCKET``, names under ``KEY_PREFIX``, ``RATE_LIMIT``
from the environment; jobs run by ``python -m labs.jobs.worker`` from ``labs.jobs.queue`` (or
by whatever the app runs itself: then pass ``workers=0``). A route the app does not serve is
reported as such, not skipped. The audit needs nothing else: it speaks HTTP only.

It never raises on a wrong app: an app that fails to import, to start, answers garbage or hangs
gets findings that say so (every wait is bounded), and every process it started is stopped.
``python -m labs.audit MODULE`` runs it from a shell (``--help``).
"""

from __future__ import annotations

from labs.audit.properties import PROPERTIES, Audit, Finding, audit

__all__ = ["PROPERTIES", "Audit", "Finding", "audit"]
