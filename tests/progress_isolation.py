"""Pytest plugin: no test run reads or writes the learner's real progress record (labs/progress.py).

Loaded with ``-p progress_isolation`` from pyproject, so it holds for every run, a single lesson
under nbval included (tests/conftest.py is not loaded for ``pytest notebooks/05_....ipynb``).
At start-up ``SBD_PROGRESS_FILE`` points into a fresh temporary directory; nbval's kernels are
started later and inherit it, so the checks a lesson runs write there. Each test also gets a
file of its own (the autouse fixture in tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from labs.progress import ENV_VAR

_state: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    directory = tempfile.mkdtemp(prefix="sbd-progress-")
    _state.update(directory=directory, previous=os.environ.get(ENV_VAR))
    os.environ[ENV_VAR] = os.path.join(directory, "progress.json")


def pytest_unconfigure(config: pytest.Config) -> None:
    if "directory" not in _state:
        return
    previous = _state.pop("previous")
    if previous is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = previous
    shutil.rmtree(_state.pop("directory") or "", ignore_errors=True)
