"""Worker processes beside a cluster's instances: what a queue's consumers are in production.

``ProcessCluster(..., workers=2)`` starts them after the instances, with the same environment
(``REDIS_URL``, ``KEY_PREFIX``, the cluster's ``env``); each runs ``python -m labs.jobs.worker``
in its own process group, so ``kill(i)`` is a real ``kill -9`` of a container's only process.
The pool never outlives its cluster: the cluster's ``stop()`` kills every worker it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from labs.jobs.worker import READY

MAX_WORKERS = 8


class WorkerError(RuntimeError):
    """A worker did not start (the message holds its last output)."""


Spawn = Callable[[list[str], Path], subprocess.Popen[bytes]]
Stop = Callable[[subprocess.Popen[bytes], float], None]


class WorkerPool:
    """``count`` worker processes named ``w1``, ``w2``, ...; started by the cluster's ``spawn``."""

    def __init__(
        self, count: int, spawn: Spawn, stop: Stop, workdir: str, start_timeout: float = 30.0
    ) -> None:
        if not 0 <= count <= MAX_WORKERS:
            raise ValueError(f"workers must be from 0 to {MAX_WORKERS}, not {count!r}")
        self.names = [f"w{i + 1}" for i in range(count)]
        self._spawn, self._stop = spawn, stop
        self._logs = {name: Path(workdir) / f"worker-{name}.log" for name in self.names}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_start: dict[str, int] = {}  # where this run's output starts in the log
        self.start_timeout = start_timeout

    def start(self) -> WorkerPool:
        for name in self.names:
            self._launch(name)
        for name in self.names:
            self._await_ready(name)
        return self

    def pid(self, which: int | str) -> int | None:
        process = self._processes.get(self._name(which))
        return process.pid if process is not None and process.poll() is None else None

    def is_alive(self, which: int | str) -> bool:
        return self.pid(which) is not None

    def kill(self, which: int | str) -> int:
        """``kill -9`` worker ``which`` (an index or a name such as ``"w1"``): its exit code."""
        name = self._name(which)
        process = self._processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"worker {name} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        self._stop(process, 0)
        return process.returncode

    def terminate(self, which: int | str, timeout: float = 30.0) -> int:
        """SIGTERM: the worker finishes the job in hand, then exits; its exit code."""
        process = self._processes[self._name(which)]
        process.send_signal(signal.SIGTERM)
        self._stop(process, timeout)
        return process.returncode

    def restart(self, which: int | str) -> None:
        """Start worker ``which`` again (after a kill): a new process, the same name."""
        name = self._name(which)
        if self.is_alive(name):
            self.terminate(name)
        self._launch(name)
        self._await_ready(name)

    def log_tail(self, which: int | str, lines: int = 20) -> str:
        try:
            text = self._logs[self._name(which)].read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def _name(self, which: int | str) -> str:
        name = self.names[which] if isinstance(which, int) else which
        if name not in self._logs:
            raise ValueError(f"no worker {which!r}; workers are {self.names}")
        return name

    def _launch(self, name: str) -> None:
        command = [sys.executable, "-m", "labs.jobs.worker", name]
        log = self._logs[name]
        self._log_start[name] = log.stat().st_size if log.exists() else 0
        self._processes[name] = self._spawn(command, self._logs[name])

    def _await_ready(self, name: str) -> None:
        process = self._processes[name]
        deadline = time.monotonic() + self.start_timeout
        marker = f"worker {name} {READY}"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WorkerError(
                    f"worker {name} exited with code {process.returncode} while starting. "
                    f"Its last output:\n{self.log_tail(name, 15)}"
                )
            with contextlib.suppress(OSError), open(self._logs[name], "rb") as log:
                log.seek(self._log_start[name])
                if marker.encode() in log.read():
                    return
            time.sleep(0.02)
        raise WorkerError(f"worker {name} did not start within {self.start_timeout:.0f} s")
