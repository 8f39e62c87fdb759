"""Pytest plugin: fail the run if a test or a lesson leaves a lab process behind.

Loaded with ``-p leftovers`` from pyproject. At the end of the session it looks for
processes started during the run that still exist and belong to the course: children of
this pytest process (a test that forgot to reap), and any process whose command line
names a lab app (``labs.``) or a course temp dir (``sbd-``), such as a gunicorn instance
or an nginx a notebook kernel started and did not stop.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MARKERS = ("labs.", "sbd-")


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) for every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        found[int(entry.name)] = (int(fields.get("PPid", "0")), fields.get("State", "?"), cmdline)
    return found


_before: set[int] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _before.update(_processes())


def leftovers() -> list[str]:
    me = os.getpid()
    problems = []
    for pid, (ppid, state, cmdline) in _processes().items():
        if pid in _before or pid == me:
            continue
        ours = ppid == me or any(marker in cmdline for marker in MARKERS)
        if ours and "pytest" not in cmdline:
            problems.append(f"pid {pid} (state {state.split()[0]}): {cmdline.strip()[:120]}")
    return problems


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not Path("/proc").is_dir():
        return
    problems = leftovers()
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("processes left behind", red=True)
            for line in problems:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
