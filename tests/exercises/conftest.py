"""Every exercise test starts as a learner's first attempt: no failed attempts counted yet (the
second one earns a code-level hint, labs.checking). Checks that run a learner's module get their
answers as module files, as a notebook's ``%%writefile`` makes them (``module_writer``)."""

from __future__ import annotations

import itertools
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from labs import checking


@pytest.fixture(autouse=True)
def first_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checking, "FAILED_ATTEMPTS", Counter())


NAMES = itertools.count()  # every module written in this run has a name of its own


@pytest.fixture
def module_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``module_writer(stem)`` → ``write(source)``: writes a module file next to the "notebook"
    (a directory on ``sys.path``) and returns its name, ``<stem>_<n>``."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def for_stem(stem: str) -> Callable[[str], str]:
        def write(source: str) -> str:
            name = f"{stem}_{next(NAMES)}"
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
            return name

        return write

    return for_stem
