"""Exercise 09's check fails on the starter, passes on the solution and on right answers written
differently, and catches the classic wrong ones (each deterministically: the torn write is
forced by a reader placed between two writes, not hoped for). Each answer is a module file, as
the notebook's ``%%writefile`` makes it; the cluster phase runs it in real processes."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from labs.exercises.ex09_job_status import HINTS, STARTER, check_job_status


@pytest.fixture
def write_module(module_writer):
    """``write_module(source)``: a module file next to the "notebook"; returns its name."""
    return module_writer("my_jobs")


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


HASH_PIPELINE = """\
import json

def save_status(store, key, status, result=None):
    with store.pipeline() as pipe:
        pipe.hset(key, mapping={"status": status, "result": json.dumps(result)})
        pipe.expire(key, 3600)
        pipe.execute()

def load_status(store, key):
    record = store.hgetall(key)
    if not record:
        return None
    return {"status": record["status"], "result": json.loads(record["result"])}
"""

LIST_IN_A_STRING = """\
import json

def save_status(store, key, status, result=None):
    store.set(key, json.dumps([status, result]), px=600_000)

def load_status(store, key):
    raw = store.get(key)
    if raw is None:
        return None
    status, result = json.loads(raw)
    return dict(status=status, result=result)
"""

NONE_AS_EMPTY = """\
import json

def save_status(store, key, status, result=None):
    encoded = "" if result is None else json.dumps(result)   # 0 and [] are encoded: right
    with store.pipeline(transaction=True) as pipe:
        pipe.delete(key)                                     # inside MULTI: no reader sees it
        pipe.hset(key, mapping={"status": status, "result": encoded})
        pipe.expire(key, 24 * 3600)
        pipe.execute()

def load_status(store, key):
    record = store.hgetall(key)
    if not record:
        return None
    return {"status": record["status"], "result": json.loads(record["result"] or "null")}
"""

RESULT_DROPPED = """\
def save_status(store, key, status, result=None):
    store.set(key, status, ex=3600)

def load_status(store, key):
    status = store.get(key)
    return None if status is None else {"status": status, "result": None}
"""

RESULT_AS_STR = """\
def save_status(store, key, status, result=None):
    store.hset(key, mapping={"status": status, "result": str(result)})
    store.expire(key, 3600)

def load_status(store, key):
    record = store.hgetall(key)
    return {"status": record["status"], "result": record["result"]} if record else None
"""

ONE_KEY = """\
import json

def save_status(store, key, status, result=None):
    store.set("job-status", json.dumps({"status": status, "result": result}), ex=3600)

def load_status(store, key):
    raw = store.get("job-status")
    return None if raw is None else json.loads(raw)
"""

NO_EXPIRY = """\
import json

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}))

def load_status(store, key):
    raw = store.get(key)
    return None if raw is None else json.loads(raw)
"""

TORN_WRITE = """\
import json

def save_status(store, key, status, result=None):
    store.hset(key, "status", status)                 # a reader now sees "done" ...
    store.hset(key, "result", json.dumps(result))     # ... before the result is there
    store.expire(key, 3600)

def load_status(store, key):
    record = store.hgetall(key)
    if not record:
        return None
    return {"status": record["status"], "result": json.loads(record.get("result", "null"))}
"""

UNKNOWN_AS_EMPTY = """\
import json

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), ex=3600)

def load_status(store, key):
    return json.loads(store.get(key) or '{"status": "queued", "result": null}')
"""

ON_DISK = """\
import json, os, tempfile

FOLDER = os.path.join(tempfile.gettempdir(), "my-jobs-on-disk-{n}")

def save_status(store, key, status, result=None):
    os.makedirs(FOLDER, exist_ok=True)
    with open(os.path.join(FOLDER, key.replace(":", "_")), "w") as f:
        json.dump({"status": status, "result": result}, f)

def load_status(store, key):
    try:
        with open(os.path.join(FOLDER, key.replace(":", "_"))) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
"""

STALE_CACHE = """\
import json

CACHE = {}  # what this process saved, so that loading it costs no round trip

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), ex=3600)
    CACHE[key] = {"status": status, "result": result}

def load_status(store, key):
    if key in CACHE:
        return CACHE[key]                       # instance A answers 'queued' forever
    raw = store.get(key)
    return None if raw is None else json.loads(raw)
"""

PX_FOR_A_DAY = """\
import json

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), px=86400)  # 86 s

def load_status(store, key):
    raw = store.get(key)
    return None if raw is None else json.loads(raw)
"""

FALSY_LOST = """\
import json

def save_status(store, key, status, result=None):
    store.hset(key, mapping={"status": status, "result": json.dumps(result) if result else ""})
    store.expire(key, 3600)

def load_status(store, key):
    record = store.hgetall(key)
    if not record:
        return None
    raw = record["result"]
    return {"status": record["status"], "result": json.loads(raw) if raw else None}
"""

NUMBERS_AS_FLOATS = """\
import json

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), ex=3600)

def load_status(store, key):
    raw = store.get(key)
    return None if raw is None else json.loads(raw, parse_int=float)   # 64 comes back 64.0
"""

DELETE_THEN_WRITE = """\
import json

def save_status(store, key, status, result=None):
    store.delete(key)                                 # a reader now finds no job at all
    store.hset(key, "status", status)
    store.hset(key, "result", json.dumps(result))
    store.expire(key, 3600)

def load_status(store, key):
    record = store.hgetall(key)
    if not record:
        return None
    return {"status": record["status"], "result": json.loads(record.get("result", "null"))}
"""

STAMP_THEN_TORN_WRITE = """\
import json, time

def save_status(store, key, status, result=None):
    store.hset(key, "updated", time.time())           # harmless: the record is still whole
    store.hset(key, "status", status)                 # a reader now sees "done" ...
    store.hset(key, "result", json.dumps(result))     # ... before the result is there
    store.expire(key, 3600)

def load_status(store, key):
    record = store.hgetall(key)
    if "status" not in record:
        return None
    return {"status": record["status"], "result": json.loads(record.get("result", "null"))}
"""

NEEDS_THE_NOTEBOOK = """\
import json
from notebook_only_helpers import TTL   # exists in the notebook's process only

def save_status(store, key, status, result=None):
    store.set(key, json.dumps({"status": status, "result": result}), ex=TTL)

def load_status(store, key):
    raw = store.get(key)
    return None if raw is None else json.loads(raw)
"""


def test_the_check_fails_on_the_starter_with_the_idea_first(write_module) -> None:
    report = check_job_status(write_module(STARTER))
    assert not report.passed
    assert report.hint == HINTS["shared"][0]
    assert "Closer hint" not in report.text()  # a stored lesson never shows the solution
    assert "not run until the checks above pass" in failed(report)[-1]


def test_the_check_passes_on_the_solution() -> None:
    report = check_job_status("labs.solutions.ex09_job_status")
    assert report.passed, report.text()
    assert any("killed mid-job" in line.message for line in report.lines)


@pytest.mark.parametrize(
    "source",
    [HASH_PIPELINE, LIST_IN_A_STRING, NONE_AS_EMPTY],
    ids=["hash", "list-px", "none-as-empty-in-multi"],
)
def test_right_answers_written_differently_pass(write_module, source: str) -> None:
    report = check_job_status(write_module(source))
    assert report.passed, report.text()


def test_the_course_own_status_module_passes() -> None:
    import labs.jobs.status as status

    assert check_job_status(status).passed


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (RESULT_DROPPED, "result"),
        (RESULT_AS_STR, "result"),
        (ONE_KEY, "keys"),
        (NO_EXPIRY, "expire"),
        (UNKNOWN_AS_EMPTY, "unknown"),
    ],
    ids=["result-dropped", "result-as-str", "one-key", "no-expiry", "unknown-as-queued"],
)
def test_wrong_answers_fail_with_their_idea(write_module, source: str, hint: str) -> None:
    report = check_job_status(write_module(source))
    assert not report.passed
    assert report.hint == HINTS[hint][0]


@pytest.mark.parametrize("attempt", range(3))
def test_a_torn_write_is_caught_every_time(write_module, attempt: int) -> None:
    report = check_job_status(write_module(TORN_WRITE))
    assert not report.passed
    assert report.hint == HINTS["atomic"][0]
    assert any("saw {'status': 'done', 'result': None}" in line for line in failed(report))


def test_a_cache_in_the_process_that_saved_queued_goes_stale(write_module) -> None:
    report = check_job_status(write_module(STALE_CACHE))
    assert not report.passed
    assert report.hint == HINTS["stale"][0]
    line = failed(report)[0]
    assert line.startswith("after the worker saves 'done', A (which saved 'queued') loads")
    assert line.endswith("loads {'status': 'queued', 'result': None}")


def test_a_ttl_of_86400_milliseconds_is_too_short(write_module) -> None:
    report = check_job_status(write_module(PX_FOR_A_DAY))
    assert not report.passed
    assert report.hint == HINTS["short"][0]
    line = failed(report)[0]
    assert "10 minutes at the least" in line and "expires after 86 s" in line


@pytest.mark.parametrize(
    ("source", "hint", "says"),
    [
        (
            FALSY_LOST,
            "falsy",
            "the worker saves 'done' with result 0; B loads {'status': 'done', 'result': None}",
        ),
        (
            NUMBERS_AS_FLOATS,
            "result",
            "B loads result {'caption': 'crème brûlée', 'sizes': [64.0, 128.5]",
        ),
    ],
    ids=["falsy-as-none", "ints-as-floats"],
)
def test_a_result_comes_back_type_for_type_falsy_too(
    write_module, source: str, hint: str, says: str
) -> None:
    report = check_job_status(write_module(source))
    assert not report.passed
    assert report.hint == HINTS[hint][0]
    assert says in failed(report)[0], report.text()


@pytest.mark.parametrize(
    ("source", "saw"),
    [
        (DELETE_THEN_WRITE, "(saw None)"),
        (STAMP_THEN_TORN_WRITE, "(saw {'status': 'done', 'result': None})"),
    ],
    ids=["delete-first", "torn-after-a-first-write"],
)
@pytest.mark.parametrize("attempt", range(3))
def test_a_reader_after_every_store_call_sees_a_whole_record(
    write_module, source: str, saw: str, attempt: int
) -> None:
    report = check_job_status(write_module(source))
    assert not report.passed
    assert report.hint == HINTS["atomic"][0]
    line = failed(report)[0]
    assert saw in line


def test_a_record_on_local_disk_is_not_in_redis(write_module, tmp_path: Path) -> None:
    report = check_job_status(write_module(ON_DISK.replace("{n}", tmp_path.name)))
    assert not report.passed
    assert report.hint == HINTS["redis"][0]


@pytest.mark.parametrize("module", ["labs.jobs.status", "labs.solutions.ex09_job_status"])
def test_the_course_own_functions_imported_are_not_an_answer(write_module, module: str) -> None:
    report = check_job_status(write_module(f"from {module} import load_status, save_status\n"))
    assert not report.passed
    assert report.hint == HINTS["own"][0] and module in failed(report)[0]


def test_a_module_that_only_imports_in_the_notebook_fails_in_the_cluster(
    write_module, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers = types.ModuleType("notebook_only_helpers")
    helpers.TTL = 3600
    monkeypatch.setitem(sys.modules, "notebook_only_helpers", helpers)
    report = check_job_status(write_module(NEEDS_THE_NOTEBOOK))
    assert not report.passed
    line = failed(report)[0]
    assert "the cluster did not start" in line and "notebook_only_helpers" in line
    assert report.hint == HINTS["cluster"][0]


def save_status(store, key, status, result=None):  # what a learner defines in a notebook cell
    pass


@pytest.mark.parametrize("thing", [save_status, types.SimpleNamespace(), 42, None], ids=str)
def test_an_object_from_the_notebook_is_explained_not_run(thing: object) -> None:
    report = check_job_status(thing)
    assert not report.passed
    [line] = report.lines
    assert line.message.startswith("cannot run it:") and "%%writefile my_jobs.py" in line.message
    assert report.hint == HINTS["module"][0]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (
            "def save_status(store, key, status, result=None):\n    raise RuntimeError('todo')\n"
            "def load_status(store, key):\n    return None\n",
            "todo",
        ),
        ("def save_status(store, key, status, result=None):\n    pass\n", "load_status"),
        ("def save_status(:\n", "SyntaxError"),
        (
            "import time\ndef save_status(store, key, status, result=None):\n    time.sleep(60)\n"
            "def load_status(store, key):\n    return None\n",
            "had not returned",
        ),
    ],
    ids=["raises", "no-load", "syntax", "hangs"],
)
def test_broken_code_is_reported_not_raised(write_module, source: str, says: str) -> None:
    report = check_job_status(write_module(source))
    assert not report.passed
    assert says in report.text()


def test_an_edited_file_is_read_again(write_module, tmp_path: Path) -> None:
    name = write_module(NO_EXPIRY)
    assert not check_job_status(name).passed
    solution = Path("labs/solutions/ex09_job_status.py").read_text()
    (tmp_path / f"{name}.py").write_text(solution)  # the learner fixes it and runs the cell again
    assert check_job_status(name).passed


def test_hints_come_in_two_tiers(write_module) -> None:
    name = write_module(STARTER)
    first = check_job_status(name)
    assert "Closer hint" not in first.text() and "Run the check again" in first.text()
    second = check_job_status(name)
    assert f"Closer hint: {second.code_hint}" in second.text()
    assert f"Closer hint: {first.code_hint}" in check_job_status(name, hint=True).text()
