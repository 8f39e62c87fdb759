"""Lesson 13, the capstone's reference solution: the starter shop with every part shared.

The routes are the starter's (:func:`labs.apps.shop_app.build_app`), unchanged; only the parts
differ. Each keeps its state where every instance finds it, so any instance may serve any
request, and an instance may die, restart or be replaced at any time:

* **sessions and carts**: one Redis hash per session, ``<prefix>session:<id>`` (lesson 02: a
  sliding TTL, the cart changed in one optimistic transaction);
* **the quota**: one counter per user and window, ``INCR`` and ``EXPIRE NX`` in one
  ``MULTI`` (lesson 08's :func:`~labs.apps.quota_app.shared_hit`);
* **files**: objects in S3 (lesson 09's :class:`~labs.apps.files_app.S3Files`), endpoint and
  bucket from ``S3_ENDPOINT_URL`` and ``S3_BUCKET`` (config, else environment);
* **jobs**: a Redis Stream (lesson 09's :class:`~labs.jobs.queue.JobQueue`) that separate
  ``python -m labs.jobs.worker`` processes serve (``ProcessCluster(..., workers=1)``): the
  stream is ``<KEY_PREFIX>jobs``, the prefix the cluster gives instances and workers alike;
* **events**: a Redis stream per user (lesson 09's :class:`~labs.apps.events_app.StreamSource`),
  so a client reconnecting to any instance resumes after its ``Last-Event-ID``;
* **payments**: idempotent, through exercise 10's solution layer
  (:func:`labs.solutions.ex10_idempotency.idempotent`): a key is claimed with ``SET NX``, scoped
  to the user, its answer replayed for a day; another body is a 422, a key still running a 409.
  What it does not do (the audit does not kill an instance in the middle of a payment): its
  claim is a fixed 2 s lease, and the charge and the record of it are two writes, so an instance
  killed between them leaves a charge whose retry, once the lease lapses, charges again. Lesson
  10's ``labs/apps/payments_app.py`` records each step with the charge in one ``MULTI`` and
  resumes from the recorded step: the design for money that must never move twice;
* **probes**: liveness checks only the process; readiness pings Redis (:mod:`labs.apps.probes`).

Creating an app contacts nothing (a lazy Redis client, an S3 client made at first use): an
instance started before its stores stays up and answers ``/readyz`` 503. ``KEY_PREFIX`` (config,
else environment) goes in front of every key, so several clusters share one Redis.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Flask
from redis import Redis

from labs import object_store
from labs.apps import probes
from labs.apps.cart import add_to_stored_cart, cart_from_hash
from labs.apps.events_app import (
    STORE_TIMEOUT_SECONDS,
    STREAM_MAXLEN,
    STREAM_TTL_SECONDS,
    StreamSource,
)
from labs.apps.files_app import S3Files
from labs.apps.payments_app import CHARGES_TTL_SECONDS
from labs.apps.quota_app import shared_hit
from labs.apps.shop_app import (
    EventSource,
    Session,
    ShopParts,
    build_app,
    confirmed,
    new_session_id,
)
from labs.apps.stateless_app import ITEM_PREFIX, session_key, session_ttl
from labs.apps.web import text_setting
from labs.jobs.queue import JobQueue
from labs.jobs.status import status_module
from labs.redis_store import lazy_redis
from labs.solutions.ex10_idempotency import idempotent


class RedisSessions:
    """Sessions and carts in Redis: one hash per session (``user``, ``item:<sku>``), its TTL
    pushed back by every request that finds it."""

    def __init__(self, store: Redis, prefix: str, ttl: int) -> None:
        self.store, self.prefix, self.ttl = store, prefix, ttl

    def key(self, session_id: str) -> str:
        return self.prefix + session_key(session_id)

    def start(self, user: str, old_id: str = "") -> str:
        session_id = new_session_id()
        pipe = self.store.pipeline()
        if old_id:
            pipe.delete(self.key(old_id))  # no fixation: the old id dies with the new login
        pipe.hset(self.key(session_id), "user", user).expire(self.key(session_id), self.ttl)
        pipe.execute()
        return session_id

    def find(self, session_id: str) -> Session | None:
        key = self.key(session_id)
        fields, _ = self.store.pipeline().hgetall(key).expire(key, self.ttl).execute()
        if "user" not in fields:
            return None
        return Session(fields["user"], cart_from_hash(fields, ITEM_PREFIX))

    def add_item(self, session_id: str, sku: str, qty: int) -> dict[str, int]:
        return add_to_stored_cart(
            self.store,
            self.key(session_id),
            sku,
            qty,
            prefix=ITEM_PREFIX,
            ttl=self.ttl,
            require="user",
        )

    def end(self, session_id: str) -> None:
        self.store.delete(self.key(session_id))


class RedisQuota:
    """One counter per user and window in Redis, counted atomically (lesson 08)."""

    def __init__(self, store: Redis, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def hit(self, user: str, limit: int, window: int, now: float) -> tuple[bool, int, int]:
        return shared_hit(self.store, f"{self.prefix}quota:{user}", limit, window, now)


class RedisEvents:
    """A Redis stream per user: every instance's ``GET /events`` reads it, from the client's
    ``Last-Event-ID`` when it sends one."""

    def __init__(self, store: Redis, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def key(self, user: str) -> str:
        return f"{self.prefix}events:{user}"

    def publish(self, user: str, message: str, instance: str) -> str:
        pipe = self.store.pipeline(transaction=True)
        fields = {"message": message, "published_by": instance}
        pipe.xadd(self.key(user), fields, maxlen=STREAM_MAXLEN, approximate=True)
        pipe.expire(self.key(user), STREAM_TTL_SECONDS)
        event_id, _ = pipe.execute()
        return event_id

    def subscribe(self, user: str, last_id: str | None) -> EventSource:
        return StreamSource(self.store, self.key(user), last_id)


class RedisLedger:
    """Every charge, in a Redis list per user: the money that moved (no protection of its own)."""

    def __init__(self, store: Redis, prefix: str, instance_id: str) -> None:
        self.store, self.prefix, self.instance_id = store, prefix, instance_id

    def key(self, user: str) -> str:
        return f"{self.prefix}payments:{user}"

    def charge(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Charge ``body`` to ``user``, every time it is called: ``(201, answer)``."""
        answer = confirmed(body)
        charge = {"payment_id": answer["payment_id"], **body, "instance": self.instance_id}
        self.store.pipeline().rpush(self.key(user), json.dumps(charge)).expire(
            self.key(user), CHARGES_TTL_SECONDS
        ).execute()
        return 201, answer

    def charges(self, user: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.store.lrange(self.key(user), 0, -1)]


class PrefixedKeys:
    """The two commands exercise 10's layer sends (``SET``, ``GET``), with ``prefix`` in front of
    every key: its records become ``<prefix>idem:<user>:<key>``, the cluster's own."""

    def __init__(self, store: Redis, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def set(self, name: str, value: str, **options: Any) -> Any:
        return self.store.set(self.prefix + name, value, **options)

    def get(self, name: str) -> Any:
        return self.store.get(self.prefix + name)


class IdempotentPayments:
    """Payments made once per (user, ``Idempotency-Key``): exercise 10's layer around the ledger."""

    def __init__(self, store: Redis, prefix: str, instance_id: str) -> None:
        self.ledger = RedisLedger(store, prefix, instance_id)
        self.records = PrefixedKeys(store, prefix)
        self.handle = idempotent(self.ledger.charge)

    def pay(self, user: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        return self.handle(self.records, user, key, body)

    def charges(self, user: str) -> list[dict[str, Any]]:
        return self.ledger.charges(user)


def s3_files(config: dict[str, Any]) -> S3Files:
    """Lesson 09's object storage, as files_app configures it: ``S3_ENDPOINT_URL`` (else the
    process's embedded server), ``S3_BUCKET``, keys under ``KEY_PREFIX`` (without ``:``)."""
    prefix = text_setting(config, "KEY_PREFIX").rstrip(":")
    object_store.prefixed(prefix, "files/x")  # a bad KEY_PREFIX stops the app here
    bucket = text_setting(config, "S3_BUCKET")
    bucket = object_store.check_bucket_name(bucket) if bucket else object_store.bucket_name()
    return S3Files(text_setting(config, "S3_ENDPOINT_URL") or None, bucket, prefix)


def shared_parts(instance_id: str, store: Redis, config: dict[str, Any] | None = None) -> ShopParts:
    """Every part in a backing service that all instances share."""
    config = dict(config or {})
    prefix = text_setting(config, "KEY_PREFIX")
    instance = probes.Instance(instance_id, store)
    return ShopParts(
        sessions=RedisSessions(store, prefix, session_ttl(config)),
        quota=RedisQuota(store, prefix),
        files=s3_files(config),
        jobs=JobQueue(store, prefix, status_module(text_setting(config, "JOB_STATUS") or None)),
        events=RedisEvents(store, prefix),
        payments=IdempotentPayments(store, prefix, instance_id),
        liveness=functools.partial(probes.liveness, instance),  # the process only
        readiness=functools.partial(probes.readiness, instance),  # not draining, Redis answers
    )


def store_of(redis: Redis | None) -> Redis:
    """``redis``, else the §5 store, not contacted now (its replies bounded for ``XREAD BLOCK``)."""
    return redis if redis is not None else lazy_redis(timeout=STORE_TIMEOUT_SECONDS)


def create_app(
    instance_id: str = "A", redis: Redis | None = None, config: dict[str, Any] | None = None
) -> Flask:
    """One instance of the stateless shop; every instance given the same stores is the same."""
    return build_app(instance_id, config, shared_parts(instance_id, store_of(redis), config))
