"""JupyterLab for the browser tests: started as the README's Quick start does, stopped for sure.

``LabServer`` runs ``.venv/bin/jupyter lab --ServerApp.root_dir=<repo>`` plus only what a test
needs: no browser, root allowed (CI runs as root), a free loopback port, an empty token, and
``window.jupyterapp`` exposed so a test can fire JupyterLab's own commands. Its settings and
workspaces live in a temporary directory, so a learner's own JupyterLab settings never change what
the test sees, and three settings make the run honest and harmless:

* notebook windowing ``none``: every cell is in the page, so an error in cell 80 is found without
  scrolling (JupyterLab 4.6 otherwise leaves off-screen cells empty);
* autosave off: running a lesson in the browser must never rewrite the stored notebook that
  strict nbval compares;
* no news or update check: the machine may have no network, and a toast would cover the page.

Kernels run in process groups of their own (jupyter_client starts them with a new session), so
stopping the server's group is not enough: ``stop`` shuts every kernel down through the REST API
first (a lesson's clusters stop with their kernel), then ends the server's group, then any kernel
group still alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from labs.cluster.process import free_port

ROOT = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).with_name("jupyter")

SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the server's kernels among them), read from /proc."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in (entry / "status").read_text().splitlines()
            )
        except (OSError, ValueError):
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(entry.name))
    return found


def _kill_group(leader: int, sig: int) -> None:
    """Signal the process group ``leader`` leads (the server and each kernel start one), even
    after the leader itself has exited: what it started is still in the group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, sig)


class LabServer:
    """One JupyterLab server at the repository root, on a free loopback port."""

    def __init__(self, root: Path = ROOT, start_timeout: float = 90.0) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="sbd-lab-"))
        self.log_path = self.workdir / "jupyter.log"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            str(JUPYTER),
            "lab",
            f"--ServerApp.root_dir={self.root}",
            "--allow-root",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={self.workdir / 'settings'}",
            f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
        ]

    def start(self) -> None:
        for relative, values in SETTINGS.items():
            path = self.workdir / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        (self.workdir / "workspaces").mkdir()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited at start:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/api/status", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise RuntimeError(
            f"jupyter lab did not answer in {self.start_timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", timeout=30)

    def shutdown_kernels(self) -> None:
        """Shut down every session and kernel: a lesson's clusters stop with its kernel."""
        try:
            for session in self.api("GET", "/api/sessions").json():
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels").json():
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except requests.RequestException:
            pass

    def stop(self, grace: float = 15.0) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self.shutdown_kernels()
            kernels = _children(process.pid)
            _kill_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
            _kill_group(process.pid, signal.SIGKILL)
            for pid in kernels:
                _kill_group(pid, signal.SIGKILL)
        process.wait(timeout=grace)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
