"""A Redis client that lets a second request land between a first one's read and its write.

Exercise checks use it to find a read-then-write race deterministically (COURSE_DESIGN §4),
instead of hoping two threads collide: wrap instance A's client, ``arm(then)`` with what
instance B does, and ``then()`` runs right after A's next read returns. Reads in a pipeline
return at ``execute()``, except after ``WATCH``, when they return at once (optimistic
locking): both count. A learner's code that reads, then writes what it read, loses B's update
here every time; code that never reads, or that watches the key and retries, does not.

:class:`AfterCommand` fires after the ``nth`` store call of any kind instead: a check that runs
its race once for each ``n`` (1, 2, ...) until A's request ends first finds every gap, also the
one after a second read or between two writes that should have been one (:func:`each_gap`).
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

    TRIGGERS: frozenset[str] | None = READS  # None: every command

    def __init__(self, store: Any, nth: int = 1) -> None:
        self._store = store
        self._then: Callable[[], Any] | None = None
        self._nth = nth
        self.made: list[str] = []  # the trigger calls that returned, in order ("pipeline": one)

    def arm(self, then: Callable[[], Any]) -> None:
        self._then = then

    @property
    def calls(self) -> int:
        return len(self.made)

    @property
    def last_call(self) -> str:
        """The call that returned last (what ``then()`` ran after), or ``""``."""
        return self.made[-1] if self.made else ""

    @property
    def fired(self) -> bool:
        """Whether ``then()`` has run."""
        return self._then is None

    def fire(self) -> None:
        """Run ``then()`` now if it has not run yet."""
        then, self._then = self._then, None
        if then is not None:
            then()

    def after_read(self, name: str) -> None:
        """Called when the trigger ``name`` has returned: ``then()`` runs once it is the nth."""
        self.made.append(name)
        if len(self.made) >= self._nth:
            self.fire()

    def triggers(self, name: str) -> bool:
        if self.TRIGGERS is None:
            return not name.startswith("_") and name not in NOT_COMMANDS
        return name in self.TRIGGERS

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name == "pipeline":
            return lambda *args, **kwargs: InterleavedPipeline(attribute(*args, **kwargs), self)
        if not self.triggers(name) or not callable(attribute):
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            self.after_read(name)
            return value

        return read


class AfterWrite(Interleaving):
    """Once armed, runs ``then()`` right after the next write returns (a pipeline's writes
    return together, at ``execute()``): what a reader sees between two writes of one change."""

    TRIGGERS = WRITES


class AfterCommand(Interleaving):
    """Once armed, runs ``then()`` right after the ``nth`` store call of any kind returns (a
    pipeline counts once, at ``execute()``, and so does each read of a watched key)."""

    TRIGGERS = None


NOT_COMMANDS = frozenset({"pipeline", "close", "lock", "register_script", "get_encoder"})


def each_gap(race: Callable[[int], tuple[bool, bool]], most: int = 8) -> tuple[int, bool]:
    """Run ``race(n)`` for n = 1, 2, ... : it lands B after A's nth store call and returns
    ``(held, fired)``, whether the property held and whether B landed inside A's request. Stops
    at the first n that fails, or once B landed after A had finished (every gap was tried), or at
    ``most``. Returns ``(n, held)``: the last n run, and whether it held."""
    for n in range(1, most + 1):
        held, fired = race(n)
        if not held or not fired:
            return n, held
    return most, True


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
        self._owner.after_read("pipeline")  # one call: then() runs if it is the nth
        return value

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._pipeline, name)
        if name not in READS or not callable(attribute):  # writes in a pipeline fire at execute
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            value = attribute(*args, **kwargs)
            if value is not self._pipeline:  # a WATCH-ed read returned a value: run B now
                self._owner.after_read(name)
            return value

        return read
