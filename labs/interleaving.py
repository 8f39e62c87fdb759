"""A Redis client that lets a second request land between a first one's read and its write.

Exercise checks use it to find a read-then-write race deterministically (COURSE_DESIGN §4),
instead of hoping two threads collide: wrap instance A's client, ``arm(then)`` with what
instance B does, and ``then()`` runs right after A's next read returns. Reads in a pipeline
return at ``execute()``, except after ``WATCH``, when they return at once (optimistic
locking): both count. A learner's code that reads, then writes what it read, loses B's update
here every time; code that never reads, or that watches the key and retries, does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

READS = frozenset(  # the commands that return what is stored
    {"get", "mget", "getex", "exists", "ttl", "pttl", "type", "json"}
    | {"hget", "hmget", "hgetall", "hvals", "hkeys", "scard", "smembers"}
    | {"zcard", "zcount", "zrange", "zrangebyscore", "lrange", "llen"}
)


WRITES = frozenset(  # the commands that change what is stored
    {"set", "setex", "psetex", "setnx", "mset", "getset", "append", "incr", "incrby", "decr"}
    | {"hset", "hmset", "hsetnx", "hincrby", "hdel", "delete", "unlink", "expire", "pexpire"}
    | {"rpush", "lpush", "sadd", "srem", "zadd", "zrem", "rename", "json"}
)


class Interleaving:
    """A Redis client that, once armed, runs ``then()`` right after its next read returns:
    what a second instance's request does when it lands between this one's read and write.

    ``TRIGGERS`` are the commands after which ``then()`` runs; :class:`AfterWrite` uses the
    writes instead, to find two writes that should have been one."""

    TRIGGERS = READS

    def __init__(self, store: Any) -> None:
        self._store = store
        self._then: Callable[[], Any] | None = None

    def arm(self, then: Callable[[], Any]) -> None:
        self._then = then

    def fire(self) -> None:
        """Run ``then()`` now if it has not run yet."""
        then, self._then = self._then, None
        if then is not None:
            then()

    def after_read(self) -> None:
        """Called when a read has returned (a subclass may note it first)."""
        self.fire()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name == "pipeline":
            return lambda *args, **kwargs: InterleavedPipeline(attribute(*args, **kwargs), self)
        if name not in self.TRIGGERS or not callable(attribute):
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            self.after_read()
            return value

        return read


class AfterWrite(Interleaving):
    """Once armed, runs ``then()`` right after the next write returns (a pipeline's writes
    return together, at ``execute()``): what a reader sees between two writes of one change."""

    TRIGGERS = WRITES


class InterleavedPipeline:
    """A pipeline of an :class:`Interleaving` client: ``then()`` runs once it has executed, or
    after a read made at once while a key is watched."""

    def __init__(self, pipeline: Any, owner: Interleaving) -> None:
        self._pipeline, self._owner = pipeline, owner

    def __enter__(self) -> InterleavedPipeline:
        self._pipeline.__enter__()
        return self

    def __exit__(self, *problem: Any) -> Any:
        return self._pipeline.__exit__(*problem)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        value = self._pipeline.execute(*args, **kwargs)
        self._owner.fire()
        return value

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._pipeline, name)
        if name not in READS or not callable(attribute):  # writes in a pipeline fire at execute
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            if value is not self._pipeline:  # a WATCH-ed read returned a value: run B now
                self._owner.after_read()
            return value

        return read
