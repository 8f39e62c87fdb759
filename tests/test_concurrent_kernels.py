"""A room of learners on one host: two kernels run the same cluster lessons at the same time.

On a shared JupyterHub many kernels run the same lesson at once on one machine. This runs each
of the lessons that start real processes (04, 05, 09, 10, 11: gunicorn instances, nginx or the
Python balancer, job workers, embedded Redis and S3 servers, a supervisor) in two nbclient
kernels at once, and asserts that both pass as they would alone: no cell raises, and every cell
nbval compares (not ``NBVAL_IGNORE_OUTPUT``) prints what the stored notebook shows, after the
sanitizers of ``tests/nbval_sanitize.cfg``. A fixed port, a shared temp path, a Redis key or a
process name two clusters both use would show here as a cell error or a changed output.

Each kernel runs in its own copy of notebooks/, as each learner of a hub has their own home:
lessons 09, 10 and 11 write ``my_jobs.py``, ``my_idempotency.py`` and ``my_probes.py`` next to
themselves (``%%writefile``), and two kernels writing and importing one file at once is a
shared-path collision of the room's making, not of the course's.

The second case points both kernels at one real ``redis-server`` (started here on a free port,
stopped at the end): the clusters' per-cluster key prefixes (COURSE_DESIGN §5) must keep them
apart, and no lesson may FLUSHDB.

What legitimately varies when two kernels share 2 cores (measured, see docs/instructor/README.md)
is listed in ``UNDER_LOAD`` and nothing else is excused: lesson 11's restart storm needs probes
on time (its verdict cell and its sanity cell may differ; a failed assertion there is reported,
any other error is not excused). Heavy: about 2.5 minutes per case on 2 cores, so the README's
test command runs the shared-Redis case (the one where two rooms' keys could collide) and the
embedded case only with ``SBD_ROOM_TESTS=all``.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import redis
from nbclient import NotebookClient
from nbval.plugin import (
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    transform_streams_for_comparison,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
LESSONS = ("04", "05", "09", "10", "11")
KERNELS = 2
CELL_TIMEOUT = 240  # s: a cell under double load on 2 cores (nbval's own is 120 s alone)
SKIP_COMPARE = {  # what nbval does not compare (its IPyNbFile.skip_compare, without nbdime)
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
}

# Which Redis the first cell names is the point of the second case, not a difference.
MASKS = [(re.compile(r"Redis: (?:embedded \(fakeredis[^)]*\)|real server at \S+)"), "Redis: WHICH")]
# lesson -> (why its cells may differ under double load, masks, sources of cells excused whole)
UNDER_LOAD: dict[str, tuple[str, list[tuple[re.Pattern[str], str]], tuple[str, ...]]] = {
    "11": (
        "its restart storm needs the supervisor's probes on time (0.5 s apart)",
        [],
        ("restart_storm(", 'storms["liveness checks the process"]'),
    ),
}

pytestmark = pytest.mark.slow


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


SANITIZERS = _sanitizers()


def _sanitize(value: Any, masks: list[tuple[re.Pattern[str], str]]) -> Any:
    if not isinstance(value, str):
        return value
    for pattern, replacement in [*SANITIZERS, *MASKS, *masks]:
        value = pattern.sub(replacement, value)
    return value


def _compared(cell: nbformat.NotebookNode) -> bool:
    """Whether strict nbval compares this cell's outputs (what its markers and tags say)."""
    options = dict(find_comment_markers(cell.source))
    options.update(find_metadata_tags(cell.metadata) or {})
    return options.get("check", True) and not options.get("skip", False)


def _flattened(outputs: list, masks: list[tuple[re.Pattern[str], str]]) -> dict[str, list[Any]]:
    """nbval's view of a cell's outputs: each compared key with its values in order."""
    outputs = transform_streams_for_comparison(coalesce_streams(nbformat.from_dict(outputs)))
    flat: dict[str, list[Any]] = defaultdict(list)
    for output in outputs:
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(_sanitize(data, masks))
            else:
                flat[key].append(_sanitize(value, masks))
    return dict(flat)


def _differences(
    lesson: str, stored: nbformat.NotebookNode, ran: nbformat.NotebookNode
) -> tuple[list[str], list[str]]:
    """(problems, excused): compared cells whose outputs differ from the stored ones, and cells
    that raised; those ``UNDER_LOAD`` excuses for ``lesson`` are reported apart."""
    _, masks, excused_sources = UNDER_LOAD.get(lesson[:2], ("", [], ()))
    problems, excused = [], []
    for index, (want, got) in enumerate(zip(stored.cells, ran.cells, strict=True)):
        if want.cell_type != "code":
            continue
        whole = any(fragment in want.source for fragment in excused_sources)
        errors = [o for o in got.outputs if o.output_type == "error"]
        for error in errors:
            report = f"cell {index} raised {error.ename}: {error.evalue[:300]}"
            (excused if whole and error.ename == "AssertionError" else problems).append(report)
        if errors or not _compared(want):
            continue
        expected, actual = _flattened(want.outputs, masks), _flattened(got.outputs, masks)
        if expected != actual:
            report = f"cell {index}: stored {expected!r:.600} but got {actual!r:.600}"
            if whole:  # say only what changed: the lines the stored output has and this lacks
                lost = set(str(expected).split("\\n")) - set(str(actual).split("\\n"))
                report = f"cell {index}: lines no longer printed: {sorted(lost)!r:.600}"
            (excused if whole else problems).append(report)
    return problems, excused


def _run(lesson: Path, folder: Path) -> tuple[nbformat.NotebookNode | None, str | None, float]:
    """Execute ``lesson`` in a fresh kernel whose cwd is ``folder``; (notebook, error, seconds)."""
    nb = nbformat.read(folder / lesson.name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(  # errors kept in the outputs and judged by _differences
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    started = time.perf_counter()
    try:
        client.execute()
    except Exception as error:  # a cell raised, or the kernel died: reported, not raised here
        return None, f"{type(error).__name__}: {str(error)[-1500:]}", time.perf_counter() - started
    return nb, None, time.perf_counter() - started


def _room(folders: list[Path], lesson: Path) -> list[tuple[Any, str | None, float]]:
    """Run ``lesson`` in one kernel per folder, all at once (one thread each)."""
    results: list[Any] = [None] * len(folders)
    go = threading.Barrier(len(folders))

    def learner(index: int) -> None:
        go.wait(timeout=60)
        results[index] = _run(lesson, folders[index])

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(len(folders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CELL_TIMEOUT * 10)
    return [
        r if r is not None else (None, "the kernel's thread did not finish", 0.0) for r in results
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def shared_redis() -> Iterator[str]:
    """One real redis-server on a free loopback port for both kernels, stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server installed")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _learner_folders(root: Path) -> list[Path]:
    """One copy of notebooks/ per kernel (no files a previous run wrote next to the lessons)."""
    folders = []
    for index in range(KERNELS):
        folder = root / f"learner{index}" / "notebooks"
        shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("my_*.py", ".ipynb*"))
        folders.append(folder)
    return folders


def _assert_room_passes(monkeypatch: pytest.MonkeyPatch, redis_url: str | None) -> None:
    if redis_url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", redis_url)  # inherited by both kernels
    problems, excused, timings = [], [], []
    with tempfile.TemporaryDirectory(prefix="sbd-room-") as root:
        folders = _learner_folders(Path(root))
        for lesson in (next(NOTEBOOKS.glob(f"{number}_*.ipynb")) for number in LESSONS):
            stored = nbformat.read(lesson, as_version=4)
            started = time.perf_counter()
            results = _room(folders, lesson)
            timings.append(f"{lesson.stem} {time.perf_counter() - started:.0f} s")
            for kernel, (ran, error, _) in enumerate(results):
                where = f"{lesson.stem}, kernel {kernel}"
                if error is not None:  # the kernel died or a cell timed out: never excused
                    problems.append(f"{where}: {error}")
                    continue
                found, allowed = _differences(lesson.stem, stored, ran)
                problems += [f"{where}, {d}" for d in found]
                excused += [f"{where}, {d}" for d in allowed]
    print("two kernels at once:", ", ".join(timings))
    for line in excused:  # what double load changed where UNDER_LOAD says it may
        print("varied under load (excused):", line[:400])
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(
    os.environ.get("SBD_ROOM_TESTS") != "all",
    reason="2.5 minutes: the shared-Redis case runs by default; SBD_ROOM_TESTS=all runs this too",
)
def test_two_kernels_with_embedded_stores_pass_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each kernel starts its own embedded Redis and S3 on free ports (or, in .ci/run's real
    Redis pass, both share the REDIS_URL it set)."""
    _assert_room_passes(monkeypatch, os.environ.get("REDIS_URL"))


def test_two_kernels_sharing_one_real_redis_pass_together(
    monkeypatch: pytest.MonkeyPatch, shared_redis: str
) -> None:
    """Both kernels' clusters use one real Redis: per-cluster key prefixes keep them apart,
    and nothing is left under any prefix when the lessons end."""
    _assert_room_passes(monkeypatch, shared_redis)
    client = redis.Redis.from_url(shared_redis, decode_responses=True)
    left = sorted(client.scan_iter(count=500))
    print(f"keys left in the shared Redis: {len(left)}", left[:10])
    forever = [key for key in left if client.ttl(key) == -1]
    assert not forever, f"keys left for ever in a shared Redis: {forever[:20]}"
