"""Pytest plugin: fail the run if a test or a lesson leaves a lab process or work dir behind.

Loaded with ``-p leftovers`` from pyproject. At the start of the session it puts a marker in
the environment (``SBD_TEST_RUN=<random id>``), which every process this run starts inherits:
lab instances, nginx, notebook kernels and what they start in turn, even a process that made a
process group of its own. At the end it looks for processes that carry this run's marker and
still exist (and for direct children of pytest), so a cluster of another checkout running on the
same machine is none of its business. It also fails the run if a cluster work dir this run
created (``sbd-cluster-*`` in the temp dir, owned by one of its processes) is still there.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest

MARKER = "SBD_TEST_RUN"
_run_id = secrets.token_hex(8)
_before: set[str] = set()


def _environ(pid: str) -> bytes:
    try:
        return Path("/proc", pid, "environ").read_bytes()
    except OSError:
        return b""


def _processes() -> dict[int, tuple[int, str, str, bool]]:
    """pid -> (parent pid, state, command line, carries this run's marker)."""
    marker = f"{MARKER}={_run_id}".encode()
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
        ours = marker in _environ(entry.name).split(b"\0")
        found[int(entry.name)] = (
            int(fields.get("PPid", "0")),
            fields.get("State", "?"),
            cmdline,
            ours,
        )
    return found


def _workdirs() -> set[str]:
    return {str(path) for path in Path(tempfile.gettempdir()).glob("sbd-cluster-*")}


def pytest_configure(config: pytest.Config) -> None:
    os.environ[MARKER] = _run_id


def pytest_sessionstart(session: pytest.Session) -> None:
    _before.update(_workdirs())


def leftovers() -> list[str]:
    me = os.getpid()
    problems = []
    for pid, (ppid, state, cmdline, marked) in _processes().items():
        if pid == me:
            continue
        if (marked or ppid == me) and "pytest" not in cmdline:
            problems.append(f"pid {pid} (state {state.split()[0]}): {cmdline.strip()[:120]}")
    processes = _processes()
    for path in sorted(_workdirs() - _before):
        try:
            owner = int(Path(path, "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        alive_and_ours = owner in processes and processes[owner][3]
        if owner == me or alive_and_ours or owner not in processes:
            problems.append(f"cluster work dir not deleted: {path}")
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
