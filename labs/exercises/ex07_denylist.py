"""Lesson 07 exercise: the denylist that makes logout mean something.

The learner writes ``revoke(store, claims, now)``, called at logout, and
``is_revoked(store, claims)``, called on every request. ``claims`` are a verified token's
claims (``iss``, ``jti``, ``exp`` in seconds since the epoch, ...), ``store`` a Redis client
shared by every instance. The entry must be found by every instance under
``denylist:<iss>:<jti>`` and must last as long as the token can still be accepted: until
``exp`` plus the verifier's leeway (``LEEWAY``, the app's 5 s), at least 1 s from now. A
shorter entry lets the token come back to life; a denylist without TTLs only grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import fakeredis

from labs.apps.jwt_app import DEFAULT_LEEWAY_SECONDS as LEEWAY
from labs.checking import CheckReport

Revoke = Callable[[Any, dict[str, Any], float], Any]
IsRevoked = Callable[[Any, dict[str, Any]], Any]

NOW = 1_700_000_000.6  # a logout happens at any moment; exp is a whole second
ISSUER = "stateless-by-design"
KEY_HINT = (
    "Every instance must find the entry: name it after what identifies the token everywhere "
    "(its issuer and its id), in the shared store, ask the store at every call (not a set in "
    "this process), and answer True or False.",
    "key = f\"denylist:{claims['iss']}:{claims['jti']}\"; return bool(store.exists(key))",
)
TTL_HINT = (
    "An entry must outlive the token: the instances accept it until exp plus their leeway "
    "(LEEWAY seconds), and Redis refuses a lifetime of 0 seconds.",
    "store.set(key, 1, ex=max(1, math.ceil(claims['exp'] + LEEWAY - now)))",
)
# (token id, seconds from the logout to exp, what the case shows); NOW ends in .6 on purpose
LIFETIMES = [
    ("lesson-07-b", 0.4, f"0.4 s before exp: {0.4 + LEEWAY:g} s with the leeway, rounded up"),
    ("lesson-07-d", -2.6, f"a logout 2.6 s after exp, inside the {LEEWAY} s leeway: 2.4 s left"),
    ("lesson-07-e", -LEEWAY - 0.6, "a token already past its leeway: still at least 1 s"),
]


def _claims(jti: str, exp: int, issuer: str = ISSUER) -> dict[str, Any]:
    return {
        "iss": issuer,
        "aud": "course-api",
        "sub": "alice",
        "jti": jti,
        "iat": int(NOW) - 300,
        "exp": exp,
    }


def _lives(pttl_ms: int, seconds: float) -> bool:
    """Is a TTL of ``pttl_ms`` (read a few ms after it was set) ``seconds``, rounded up to a
    whole second, or anything from ``seconds`` itself up to that?"""
    return seconds * 1000 - 100 < pttl_ms <= math.ceil(seconds) * 1000


def _ttl_text(ttl: int) -> str:
    return {-2: "there is no entry", -1: "yours never expires"}.get(ttl, f"yours: {ttl} s")


def check_denylist(revoke: Revoke, is_revoked: IsRevoked, *, hint: bool = False) -> CheckReport:
    """Check ``revoke`` and ``is_revoked`` against a fresh store shared by two 'instances'."""
    report = CheckReport("Exercise 07 · a denylist for logout", closer=hint)
    server = fakeredis.FakeServer()
    instance_a = fakeredis.FakeRedis(server=server, decode_responses=True)
    instance_b = fakeredis.FakeRedis(server=server, decode_responses=True)

    token = _claims("lesson-07-a", exp=1_700_000_601)  # 600.4 s left
    key = f"denylist:{ISSUER}:lesson-07-a"
    if not _ran(report, "revoke() a token with 600.4 s left", revoke, instance_a, token):
        return report.show()
    report.expect(
        instance_b.exists(key) == 1,
        f"after logout on instance A, {key} exists in the shared store",
        *KEY_HINT,
    )
    ok = _lives(instance_b.pttl(key), 600.4 + LEEWAY)
    report.expect(
        ok,
        f"the entry lives as long as the token is accepted: 600.4 s left + {LEEWAY} s of "
        f"leeway, rounded up to {math.ceil(600.4 + LEEWAY)} s"
        + ("" if ok else f" ({_ttl_text(instance_b.ttl(key))})"),
        *TTL_HINT,
    )
    for jti, left, story in LIFETIMES:
        claims = _claims(jti, exp=round(NOW + left))
        if _ran(report, f"revoke(), {story}", revoke, instance_a, claims):
            ttl_key = f"denylist:{ISSUER}:{jti}"
            ok = _lives(instance_b.pttl(ttl_key), max(1.0, claims["exp"] + LEEWAY - NOW))
            report.expect(
                ok, story + ("" if ok else f" ({_ttl_text(instance_b.ttl(ttl_key))})"), *TTL_HINT
            )

    other_token = _claims("lesson-07-c", 1_700_000_601)
    other_issuer = _claims("lesson-07-a", 1_700_000_601, issuer="another-issuer")
    checks = [
        (token, True, "is_revoked() on instance B: the logged-out token is refused"),
        (other_token, False, "is_revoked(): another token of the same user is not"),
        (other_issuer, False, "is_revoked(): the same jti from another issuer is not"),
    ]
    _ask(report, is_revoked, instance_b, checks)
    # What the store says, not what this process remembers: an entry another instance's logout
    # wrote (revoke() here never saw that token), and an entry gone (expired) since.
    elsewhere = _claims("lesson-07-f", 1_700_000_601)
    instance_a.set(f"denylist:{ISSUER}:lesson-07-f", "1", ex=60)
    instance_a.delete(key)
    _ask(
        report,
        is_revoked,
        instance_b,
        [
            (elsewhere, True, "is_revoked(): a token another instance revoked is refused"),
            (token, False, "is_revoked(): the logged-out token, once its entry expired, is not"),
        ],
    )
    return report.show()


def _ask(
    report: CheckReport, is_revoked: IsRevoked, store: Any, checks: list[tuple[dict, bool, str]]
) -> None:
    """``is_revoked(store, claims)`` must be ``expected`` (True or False) for each check."""
    for claims, expected, message in checks:
        before = len(report.lines)
        got = report.attempt(message, lambda c=claims: is_revoked(store, c), *KEY_HINT)
        if len(report.lines) == before:  # it did not raise
            ok = isinstance(got, bool) and got is expected
            report.expect(ok, message + ("" if ok else f" (yours: {got!r})"), *KEY_HINT)


def _ran(report: CheckReport, message: str, revoke: Revoke, store: Any, claims: dict) -> bool:
    """Call ``revoke``; False (and a ✗ line) when it raised."""
    before = len(report.lines)
    report.attempt(message, lambda: revoke(store, claims, NOW), *TTL_HINT)
    return len(report.lines) == before
