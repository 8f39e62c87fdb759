"""Lesson 07 exercise: the denylist that makes logout mean something.

The learner writes ``revoke(store, claims, now)``, called at logout, and
``is_revoked(store, claims)``, called on every request. ``claims`` are a verified token's
claims (``iss``, ``jti``, ``exp`` in seconds since the epoch, ...), ``store`` a Redis client
shared by every instance. The entry must be found by every instance under
``denylist:<iss>:<jti>`` and must expire when the token does (at least 1 s from now): a
denylist without TTLs only grows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis

from labs.checking import CheckReport

Revoke = Callable[[Any, dict[str, Any], float], Any]
IsRevoked = Callable[[Any, dict[str, Any]], Any]

NOW = 1_700_000_000.6  # a logout happens at any moment; exp is a whole second
ISSUER = "stateless-by-design"
KEY_HINT = (
    "Every instance must find the entry: name it after what identifies the token everywhere "
    "(its issuer and its id), in the shared store, and answer True or False.",
    "key = f\"denylist:{claims['iss']}:{claims['jti']}\"; return bool(store.exists(key))",
)
TTL_HINT = (
    "An entry only needs to outlive the token: give it the token's remaining lifetime, and "
    "remember that Redis refuses a lifetime of 0 seconds.",
    "store.set(key, 1, ex=max(1, math.ceil(claims['exp'] - now)))",
)


def _claims(jti: str, exp: int, issuer: str = ISSUER) -> dict[str, Any]:
    return {
        "iss": issuer,
        "aud": "course-api",
        "sub": "alice",
        "jti": jti,
        "iat": int(NOW) - 300,
        "exp": exp,
    }


def _ttl_text(ttl: int) -> str:
    return {-2: "there is no entry", -1: "yours never expires"}.get(ttl, f"yours: {ttl} s")


def check_denylist(revoke: Revoke, is_revoked: IsRevoked) -> CheckReport:
    """Check ``revoke`` and ``is_revoked`` against a fresh store shared by two 'instances'."""
    report = CheckReport("Exercise 07 · a denylist for logout")
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
    ok = 600_400 < instance_b.pttl(key) <= 601_000  # 601 s minus the few ms since then
    report.expect(
        ok,
        "the entry lives as long as the token: 600.4 s left, rounded up to 601 s"
        + ("" if ok else f" ({_ttl_text(instance_b.ttl(key))})"),
        *TTL_HINT,
    )

    nearly_dead = _claims("lesson-07-b", exp=1_700_000_001)  # 0.4 s left
    if _ran(report, "revoke() a token with 0.4 s left", revoke, instance_a, nearly_dead):
        short_key = f"denylist:{ISSUER}:lesson-07-b"
        ok = 500 <= instance_b.pttl(short_key) <= 1000
        report.expect(
            ok,
            "a token with 0.4 s left is denylisted for 1 s: Redis refuses a TTL of 0"
            + ("" if ok else f" ({_ttl_text(instance_b.ttl(short_key))})"),
            *TTL_HINT,
        )

    other_token = _claims("lesson-07-c", 1_700_000_601)
    other_issuer = _claims("lesson-07-a", 1_700_000_601, issuer="another-issuer")
    checks = [
        (token, True, "is_revoked() on instance B: the logged-out token is refused"),
        (other_token, False, "is_revoked(): another token of the same user is not"),
        (other_issuer, False, "is_revoked(): the same jti from another issuer is not"),
    ]
    for claims, expected, message in checks:
        before = len(report.lines)
        got = report.attempt(message, lambda c=claims: is_revoked(instance_b, c), *KEY_HINT)
        if len(report.lines) == before:  # it did not raise
            ok = isinstance(got, bool) and got is expected
            report.expect(ok, message + ("" if ok else f" (yours: {got!r})"), *KEY_HINT)
    return report.show()


def _ran(report: CheckReport, message: str, revoke: Revoke, store: Any, claims: dict) -> bool:
    """Call ``revoke``; False (and a ✗ line) when it raised."""
    before = len(report.lines)
    report.attempt(message, lambda: revoke(store, claims, NOW), *TTL_HINT)
    return len(report.lines) == before
