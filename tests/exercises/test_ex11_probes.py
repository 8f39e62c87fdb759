"""Exercise 11's check fails on the starter, passes on the solution and on right answers written
differently, and catches the classic wrong probes, each deterministically: the store's outages
are a proxy switched before each question (refused, silent, back), and draining is the flag set
while the check asks. Each answer is a module file, as the notebook's ``%%writefile`` makes it.

The cluster phase (real gunicorn instances, a supervisor, a 2 s outage: about 4 s each) runs for
the solution, for a module that imports only in the notebook (the one wrong answer that passes
the in-process phase), and for the course's deep probes (a restart storm: the phase can fail)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from labs.apps import draining
from labs.exercises import ex11_probes as ex11
from labs.exercises.ex11_probes import HINTS, STARTER, check_probes
from labs.health_experiments import lab_probes

SOLUTION = (Path(__file__).resolve().parents[2] / "labs/solutions/ex11_probes.py").read_text()
LIVE = "def liveness(instance):\n"
READY = "def readiness(instance):\n"
LIVE_BODY = "    return True\n"
CATCH = "    except (redis.ConnectionError, redis.TimeoutError, OSError):\n        return False\n"


@pytest.fixture
def write_module(module_writer):
    """``write_module(source)``: a module file next to the "notebook"; returns its name."""
    return module_writer("my_probes")


@pytest.fixture
def in_process_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cluster phase left out (it costs 4 s); the names it would have run, recorded."""
    ran: list[str] = []
    monkeypatch.setattr(ex11, "_check_cluster", lambda report, name, path: ran.append(name))
    return ran


def variant(*changes: tuple[str, str]) -> str:
    """The solution with each ``(old, new)`` of ``changes`` made."""
    source = SOLUTION
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


def liveness_is(body: str) -> str:
    """The solution with liveness's body replaced by ``body`` (indented lines)."""
    start = SOLUTION.index(LIVE)
    end = SOLUTION.index("\n\n\n", start)
    return SOLUTION[:start] + LIVE + body + SOLUTION[end:]


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


LIVENESS_PINGS = liveness_is("    instance.store.ping()\n    return True")
LIVENESS_PINGS_CAUGHT = liveness_is(  # never fails, but waits for a silent store
    "    try:\n        instance.store.ping()\n    except Exception:\n        pass\n    return True"
)
LIVENESS_IS_READINESS = liveness_is("    return readiness(instance)")
LIVENESS_NOT_DRAINING = liveness_is("    return not instance.draining")
READINESS_ALWAYS = variant(
    ("    if instance.draining:\n        return False\n", "    return True\n")
)
READINESS_IGNORES_DRAINING = variant(("    if instance.draining:\n        return False\n", ""))
READINESS_CONFIGURED = variant(  # Redis is configured, so it must be up
    (
        "    try:\n        instance.store.ping()\n" + CATCH + "    return True\n",
        "    return instance.store is not None\n",
    )
)
READINESS_REMEMBERS = variant(  # the first failure, cached forever
    ("import redis\n", "import redis\n\nBROKEN = False\n"),
    ('    """Ready: not draining, and the store answers now."""\n', "    global BROKEN\n"),
    ("    if instance.draining:\n", "    if BROKEN or instance.draining:\n"),
    (CATCH, CATCH.replace("return False", "BROKEN = True\n        return False")),
)
READINESS_VALUE_ERROR = variant(
    (CATCH, CATCH.replace("return False", 'raise ValueError("the store is down")'))
)
READINESS_RETRIES = variant(  # two tries, a pause after each failure: too slow when silent
    ("import redis\n", "import time\n\nimport redis\n"),
    (
        "    try:\n        instance.store.ping()\n" + CATCH + "    return True\n",
        "    for _ in range(2):\n        try:\n            return instance.store.ping()\n"
        "        except (redis.ConnectionError, redis.TimeoutError):\n"
        "            time.sleep(0.2)\n    return False\n",
    ),
)
LIVENESS_CACHED = liveness_is(  # asks Redis once, then answers from its cache for 5 s
    "    if time.monotonic() - SEEN[0] > 5:\n"
    "        try:\n            SEEN[1] = bool(instance.store.ping())\n"
    "        except redis.RedisError:\n            SEEN[1] = False\n"
    "        SEEN[0] = time.monotonic()\n"
    "    return SEEN[1]"
).replace("import redis\n", "import time\n\nimport redis\n\nSEEN = [-1e9, True]\n")
READINESS_EXITS = variant((CATCH, CATCH.replace("return False", "raise SystemExit(1)")))
NEEDS_THE_NOTEBOOK = liveness_is("    return ALIVE").replace(  # only the notebook has it
    "import redis\n", "import redis\n\nfrom notebook_only_helpers import ALIVE\n"
)

READINESS_PROPAGATES = variant(  # the store's error reaches the app: a 503 naming the store
    ("    try:\n        instance.store.ping()\n" + CATCH, "    instance.store.ping()\n")
)
READINESS_EXECUTE_COMMAND = variant(
    ("instance.store.ping()", 'instance.store.execute_command("PING")')
)
TRUTHY_NOT_BOOL = """\
import redis


def liveness(instance):
    return 1


def readiness(instance):
    if instance.draining:
        return 0
    try:
        return instance.store.ping() and "ready"
    except redis.RedisError:
        return None
"""


def test_the_check_fails_on_the_starter_with_the_idea_first(write_module) -> None:
    report = check_probes(write_module(STARTER))
    assert not report.passed
    assert report.hint == HINTS["liveness_store"][0] and report.code_hint
    assert report.code_hint not in report.text() and "Closer hint" not in report.text()
    live, ready, untried, cluster = failed(report)
    assert "/healthz answered 503" in live and "restart storm" in live
    assert "/readyz answered 200" in ready
    assert "not asked until" in untried and "not run until the checks above pass" in cluster
    assert report.lines[0].ok  # Redis up: both 200, the starter is right there


def test_the_check_passes_on_the_solution_and_in_the_cluster() -> None:
    report = check_probes("labs.solutions.ex11_probes")
    assert report.passed, report.text()
    [cluster] = [line.message for line in report.lines if "real instances" in line.message]
    assert "restarts 0" in cluster and "every instance left the pool" in cluster


def test_the_cluster_phase_fails_when_liveness_pings_redis() -> None:
    # The course's anti-pattern (labs.apps.deep_probes) in the supervised cluster: a storm.
    import labs.apps.deep_probes as deep

    report = ex11.CheckReport("cluster only")
    ex11._check_cluster(report, deep.__name__, deep.__file__)
    assert not report.passed
    [line] = failed(report)
    assert "the supervisor restarted" in line and "restarts 0" not in line, line
    assert "restarted (liveness)" in line  # the supervisor's own events, as evidence


def test_a_module_that_only_imports_in_the_notebook_fails_in_the_cluster(
    write_module, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers = types.ModuleType("notebook_only_helpers")
    helpers.ALIVE = True
    monkeypatch.setitem(sys.modules, "notebook_only_helpers", helpers)
    report = check_probes(write_module(NEEDS_THE_NOTEBOOK))
    assert not report.passed
    [line] = failed(report)  # every in-process line passed
    assert "the cluster did not start" in line and "notebook_only_helpers" in line
    assert report.hint == HINTS["cluster"][0]


def test_the_cluster_runs_the_lessons_probes() -> None:
    assert lab_probes() == ex11.CLUSTER_PROBES


TYPED = SOLUTION.replace(
    "import redis\n", "import redis\n\nfrom labs.apps.probes import Instance\n"
)


@pytest.mark.parametrize(
    "source",
    [READINESS_PROPAGATES, READINESS_EXECUTE_COMMAND, TRUTHY_NOT_BOOL, TYPED],
    ids=["store-error-propagates", "execute-command-ping", "truthy-not-bool", "typed-instance"],
)
def test_right_answers_written_differently_pass(
    write_module, in_process_only: list[str], source: str
) -> None:
    name = write_module(source)
    report = check_probes(name)
    assert report.passed, report.text()
    assert in_process_only == [name]  # and the cluster phase would have run


def test_a_module_object_is_accepted(in_process_only: list[str]) -> None:
    import labs.solutions.ex11_probes as solution

    assert check_probes(solution).passed
    assert in_process_only == [solution.__name__]


@pytest.mark.parametrize(
    ("source", "hint", "where", "says"),
    [
        (LIVENESS_PINGS, "liveness_store", "Redis down", "raised Redis's ConnectionError"),
        (LIVENESS_IS_READINESS, "liveness_store", "Redis down", "liveness returned False"),
        (LIVENESS_NOT_DRAINING, "liveness_draining", "draining", "/healthz answered 503"),
        (READINESS_ALWAYS, "readiness_store", "Redis down", "/readyz answered 200"),
        (READINESS_IGNORES_DRAINING, "readiness_draining", "draining", "/readyz answered 200"),
        (READINESS_CONFIGURED, "readiness_store", "Redis down", "/readyz answered 200"),
        (READINESS_REMEMBERS, "readiness_recover", "Redis back", "never rejoins the pool"),
        (READINESS_VALUE_ERROR, "error", "Redis down", "500 (readiness raised ValueError"),
    ],
    ids=[
        "liveness-pings",
        "liveness-is-readiness",
        "liveness-not-draining",
        "readiness-always",
        "readiness-ignores-draining",
        "readiness-store-configured",
        "readiness-remembers",
        "readiness-value-error",
    ],
)
@pytest.mark.parametrize("attempt", range(2))
def test_wrong_answers_fail_with_their_idea(
    write_module,
    in_process_only: list[str],
    source: str,
    hint: str,
    where: str,
    says: str,
    attempt: int,
) -> None:
    report = check_probes(write_module(source))
    assert not report.passed
    assert report.hint == HINTS[hint][0], report.text()
    first = failed(report)[0]
    assert first.startswith(where) and says in first, report.text()
    assert not in_process_only and "not run until" in failed(report)[-1]


@pytest.mark.parametrize("attempt", range(2))
@pytest.mark.parametrize(
    ("source", "hint", "route"),
    [
        (LIVENESS_PINGS_CAUGHT, "liveness_slow", "/healthz"),
        (READINESS_RETRIES, "readiness_slow", "/readyz"),
    ],
    ids=["liveness-waits-for-the-store", "readiness-retries"],
)
def test_a_probe_that_waits_for_a_silent_store_is_too_slow(
    write_module, in_process_only: list[str], source: str, hint: str, route: str, attempt: int
) -> None:
    # Both answer every question right, but a silent store makes them wait: the store client's
    # timeout (0.5 s) is longer than liveness may take (0.3 s); two tries and pauses exceed 1 s.
    report = check_probes(write_module(source))
    assert not report.passed
    assert report.hint == HINTS[hint][0], report.text()
    line = failed(report)[0]
    assert line.startswith(f"Redis silent (the network drops everything): {route} answered")
    assert "counts as no answer" in line, line


def test_a_liveness_that_caches_the_store_answer_still_asked_it(
    write_module, in_process_only: list[str]
) -> None:
    """Every mood's status comes back right (the cache hides the outage, which lasts seconds),
    but liveness asked Redis: on a longer outage every instance fails at once."""
    report = check_probes(write_module(LIVENESS_CACHED))
    assert not report.passed and not in_process_only
    assert report.hint == HINTS["liveness_store"][0], report.text()
    line = failed(report)[0]
    assert line.startswith("/healthz asked the store (ping) in 'Redis up'"), report.text()
    assert "restart storm" in line


def test_a_probe_that_exits_is_reported_as_such(write_module, in_process_only) -> None:
    report = check_probes(write_module(READINESS_EXITS))
    line = failed(report)[0]
    assert line.startswith("Redis down (connections refused): /readyz never answered")
    assert "(readiness raised SystemExit" in line and "after 3 s" not in line, line


def test_the_500_says_what_was_raised_and_where(write_module, in_process_only) -> None:
    report = check_probes(write_module(READINESS_VALUE_ERROR))
    line = (
        READINESS_VALUE_ERROR.splitlines().index('        raise ValueError("the store is down")')
        + 1
    )
    assert f"ValueError: the store is down, line {line})" in failed(report)[0]
    assert "Traceback" not in report.text()


@pytest.mark.parametrize("draining_before", [False, True])
def test_the_check_leaves_draining_as_it_found_it(
    write_module, in_process_only, draining_before: bool
) -> None:
    if draining_before:
        draining.start_draining()
    try:
        report = check_probes(write_module(READINESS_VALUE_ERROR))
        assert report.lines[0].ok  # the check itself starts from "not draining"
        assert draining.is_draining() is draining_before
        assert check_probes(write_module(SOLUTION)).passed
        assert draining.is_draining() is draining_before
    finally:
        draining.reset()


@pytest.mark.parametrize(
    "source",
    [
        "from labs.apps.probes import liveness, readiness\n",
        "import labs.solutions.ex11_probes as answer\n"
        "liveness, readiness = answer.liveness, answer.readiness\n",
        "from labs.apps import probes as p\n\n\n"
        "def liveness(instance):\n    return p.liveness(instance)\n\n\n"
        "def readiness(instance):\n    return p.readiness(instance)\n",
    ],
    ids=["from-import", "alias", "wrapper"],
)
def test_the_course_own_probes_imported_are_not_an_answer(write_module, source: str) -> None:
    report = check_probes(write_module(source))
    assert not report.passed
    [line] = failed(report)
    assert report.hint == HINTS["own"][0] and "the course's own" in line


def liveness(instance):  # what a learner defines in a notebook cell
    return True


@pytest.mark.parametrize(
    "thing", [liveness, types.SimpleNamespace(liveness=liveness), 42, None], ids=str
)
def test_an_object_from_the_notebook_is_explained_not_run(thing: object) -> None:
    report = check_probes(thing)
    assert not report.passed
    [line] = report.lines
    assert line.message.startswith("cannot run it:")
    assert "defined in the notebook" in line.message or "not a module" in line.message
    assert "%%writefile my_probes.py" in line.message
    assert report.hint == HINTS["module"][0]


def test_a_module_not_written_yet_is_explained() -> None:
    report = check_probes("my_probes_never_written")
    [line] = report.lines
    assert "no module 'my_probes_never_written' found" in line.message


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("import redis\nraise RuntimeError('half-written')\n", "half-written (line 2)"),
        ("def liveness(:\n", "SyntaxError"),
        ("def liveness(instance):\n    return True\n", "has a function readiness(instance)"),
        (
            "import time\ndef liveness(instance):\n    return True\n"
            "def readiness(instance):\n    time.sleep(60)\n",
            "/readyz had not answered after 1 s",
        ),
        (
            "def liveness(instance):\n    return instance.nothing\n"
            "def readiness(instance):\n    return True\n",
            "AttributeError",
        ),
    ],
    ids=["raises-at-import", "syntax", "no-readiness", "hangs", "raises"],
)
def test_broken_code_is_reported_not_raised(
    write_module, monkeypatch: pytest.MonkeyPatch, in_process_only, source: str, says: str
) -> None:
    monkeypatch.setattr(ex11, "GIVE_UP_SECONDS", 1.0)
    report = check_probes(write_module(source))
    assert not report.passed
    assert says in report.text(), report.text()
    assert "Traceback" not in report.text()


def test_an_edited_file_is_read_again(write_module, tmp_path: Path, in_process_only) -> None:
    name = write_module(READINESS_REMEMBERS)
    assert check_probes(name).hint == HINTS["readiness_recover"][0]
    (tmp_path / f"{name}.py").write_text(STARTER)  # the learner runs the starter's cell again
    assert check_probes(name).hint == HINTS["liveness_store"][0]


def test_hints_come_in_two_tiers(write_module) -> None:
    name = write_module(STARTER)
    first = check_probes(name)
    assert "Closer hint" not in first.text() and "Run the check again" in first.text()
    second = check_probes(name)
    assert f"Closer hint: {second.code_hint}" in second.text()
    assert f"Closer hint: {first.code_hint}" in check_probes(name, hint=True).text()
