"""Reference solution for lesson 07's exercise: a denylist whose entries die with the token."""

from __future__ import annotations

import math
from typing import Any

LEEWAY = 5  # seconds after exp that the instances still accept a token (clock skew)


def revoke(store: Any, claims: dict[str, Any], now: float) -> None:
    """Denylist the token until no instance accepts it anyway (at least 1 s)."""
    seconds = max(1, math.ceil(claims["exp"] + LEEWAY - now))
    store.set(f"denylist:{claims['iss']}:{claims['jti']}", "revoked", ex=seconds)


def is_revoked(store: Any, claims: dict[str, Any]) -> bool:
    """True when some instance put this token on the shared denylist."""
    return bool(store.exists(f"denylist:{claims['iss']}:{claims['jti']}"))
