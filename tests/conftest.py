"""Shared fixtures, and the Hypothesis profiles the fuzz suites run under.

Profiles are explicit: under ``CI=true`` Hypothesis would otherwise switch to a profile of its
own, and its default 200 ms deadline flakes on a busy two-core machine. ``course`` (the normal
run) is derandomized, so CI sees the same examples every time; ``long`` draws fresh ones, many
more: ``HYPOTHESIS_PROFILE=long python -m pytest tests -k fuzz``.

``store`` is the Redis the lab tests run against: a fresh fakeredis server per
test by default, or the real server named by ``REDIS_URL`` (flushed before and
after each test), so the same tests run unchanged in CI's real-Redis pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, Phase, settings
from lab_stores import fresh_store

from labs.progress import ENV_VAR
from labs.redis_store import connect

# No "explain" phase: it traces every line run, which makes a simulation ten times slower.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
settings.register_profile(
    "course",
    phases=PHASES,
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    phases=PHASES,
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))


@pytest.fixture(autouse=True)
def progress_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test's checks write to a progress record of its own, never the learner's
    (tests/progress_isolation.py does the same for the whole run, nbval's kernels included)."""
    path = tmp_path_factory.mktemp("progress") / "progress.json"
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = fresh_store()
    yield client
    if os.environ.get("REDIS_URL"):
        client.flushdb()
        client.close()


@pytest.fixture
def store_factory(store: redis.Redis):
    """Another client on the same server as ``store`` (a second instance's connection)."""
    url = os.environ.get("REDIS_URL")

    def make() -> redis.Redis:
        if url:
            return connect(url)
        return fakeredis.FakeRedis(
            server=store.connection_pool.connection_kwargs["server"], decode_responses=True
        )

    return make
