"""Every exercise test starts as a learner's first attempt: no failed attempts counted yet (the
second one earns a code-level hint, labs.checking)."""

from __future__ import annotations

from collections import Counter

import pytest

from labs import checking


@pytest.fixture(autouse=True)
def first_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checking, "FAILED_ATTEMPTS", Counter())
