"""The ``leftovers`` plugin fails a run that leaves a process behind, and only for its own.

Each case runs pytest on a small test file of its own, in a subprocess, with only this plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

LEAKS = """
    import subprocess, sys

    def test_leaks():
        # a process of its own group and session, as RQ's work horses and gunicorn do
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                         start_new_session=True)
"""
CLEAN = """
    import subprocess, sys

    def test_cleans_up():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 start_new_session=True)
        child.kill()
        child.wait()
"""


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_case.py").write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("SBD_TEST_RUN", None)  # the outer run's marker: the inner run makes its own
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "leftovers", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_process_left_behind_fails_the_run(tmp_path: Path) -> None:
    ran = run_pytest(tmp_path, LEAKS)
    try:
        assert ran.returncode != 0, ran.stdout
        assert "processes left behind" in ran.stdout and "time.sleep(30)" in ran.stdout
    finally:  # this test's own leftover, found and stopped by its marker
        subprocess.run(["pkill", "-f", "import time; time.sleep(30)"], check=False)


@pytest.mark.parametrize("outer_leftover", [False, True])
def test_a_clean_run_passes_even_beside_another_runs_processes(
    tmp_path: Path, outer_leftover: bool
) -> None:
    other = None
    if outer_leftover:  # a process of this (outer) run: not the inner run's business
        other = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(30)  # labs. sbd-"],
            start_new_session=True,
        )
    try:
        ran = run_pytest(tmp_path, CLEAN)
        assert ran.returncode == 0, ran.stdout
    finally:
        if other is not None:
            other.kill()
            other.wait()
