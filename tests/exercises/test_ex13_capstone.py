"""The capstone's check (the audit behind it) fails the starter shop, passes the reference
solution, and fails each half-fixed shop of ``tests/capstone_variants`` on the property it left
broken while the properties it fixed hold. Every run is a real 3-instance cluster; the racy
payment layer runs three times (its race is forced by a store 20 ms away, not hoped for)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from labs.apps import APPS
from labs.audit import PROPERTIES, audit
from labs.exercises.ex13_capstone import HINTS, STARTER, _load, check_capstone, write_starter

SOLUTION = "labs.solutions.capstone_shop"
STARTER_HOLDS = {"errors", "liveness", "readiness"}  # no store at all: nothing to depend on


def failed(report) -> list[str]:
    return [line.message for line in report.lines if not line.ok]


def test_the_starter_fails_on_every_kind_of_state_it_keeps() -> None:
    report = check_capstone("shop")
    assert not report.passed
    holding = {name for name, line in zip(PROPERTIES, report.lines, strict=True) if line.ok}
    assert holding == STARTER_HOLDS
    messages = failed(report)
    assert "6 of 18 knew the user and the cart" in messages[0]
    assert "got 30 × 200" in messages[1] and "(each instance counts on its own)" in messages[1]
    assert "B: 404, C: 404, A, restarted: 404" in messages[2]
    assert "B does not know the job (404): it died with A" in messages[3]
    assert "8 × 201" in messages[4] and "times for one payment" in messages[4]
    assert "not the first answer replayed" in messages[4] and "not 422" in messages[4]
    # logged out by round robin before the restarts, and by each restart
    assert messages[5].endswith(
        "requests failed before the restarts (401) and during them (401)"
    ), messages[5]
    # the first failure's idea, never the code-level hint, on a first attempt
    text = report.text()
    assert f"Hint: {HINTS['sessions'][0]}" in text and HINTS["sessions"][1] not in text


def test_the_stored_lesson_prints_no_code_level_hint() -> None:
    lesson = Path(__file__).resolve().parents[2] / "notebooks" / "13_capstone.ipynb"
    stored = json.dumps(
        [cell.get("outputs", []) for cell in json.loads(lesson.read_text())["cells"]]
    )
    assert "check_capstone" in lesson.read_text() and "NOT YET" in stored
    for _, code_hint in HINTS.values():
        assert json.dumps(code_hint)[1:-1] not in stored
    assert "Closer hint" not in stored


def test_the_solution_passes_every_property() -> None:
    result = audit(SOLUTION)
    assert result.passed, result.text()
    assert [finding.name for finding in result.findings] == list(PROPERTIES)
    assert "18 of 18" in result.finding("sessions").evidence
    assert "1 charge, a retry replayed" in result.finding("payments").evidence
    assert result.finding("rolling").evidence.endswith("none of their requests failed")


def test_the_check_passes_the_solution_by_its_apps_name_or_module_path() -> None:
    """The check takes a module path; a name of APPS is mapped to its module."""
    report = check_capstone(SOLUTION)
    assert report.passed, report.text()
    assert APPS["shop"] == "labs.apps.shop_app"


# variant, the properties audited, the one that must fail (the others must hold)
HALF_FIXED = [
    ("quota_local", ("sessions", "quota"), "quota", "(each instance counts on its own)"),
    ("files_local", ("files", "jobs"), "files", "B: 404, C: 404"),
    ("files_fixed_tmp", ("files", "jobs"), "files", "B: 404, C: 404"),
    ("jobs_local", ("files", "jobs"), "jobs", "it died with A"),
    ("sessions_local", ("sessions", "quota", "rolling"), "sessions", "6 of 18 knew"),
    ("payments_unscoped", ("sessions", "payments"), "payments", "'s payment replayed"),
    ("payments_per_instance", ("payments",), "payments", "copies were answered as new payments"),
    ("liveness_pings_redis", ("liveness", "readiness"), "liveness", "A 503, B 503, C 503"),
    ("readiness_never", ("liveness", "readiness"), "readiness", "A, B, C not ready with Redis up"),
]


@pytest.mark.parametrize(("variant", "only", "broken", "evidence"), HALF_FIXED)
def test_a_half_fixed_shop_fails_on_what_it_left_in_the_instance(
    variant: str, only: tuple[str, ...], broken: str, evidence: str
) -> None:
    result = audit(f"capstone_variants.{variant}", only=only)
    verdicts = {finding.name: finding.ok for finding in result.findings}
    expected = {name: name != broken for name in only}
    if variant == "sessions_local":
        expected["rolling"] = False  # a restart logs its users out too
    assert verdicts == expected, result.text()
    assert evidence in result.finding(broken).evidence


@pytest.mark.parametrize("run", range(3))
def test_a_read_then_write_idempotency_layer_charges_twice_every_time(run: int) -> None:
    result = audit("capstone_variants.payments_racy", only=("payments",))
    evidence = result.finding("payments").evidence
    assert not result.passed
    assert "the user was charged" in evidence and "times for one payment" in evidence


def test_an_object_defined_in_the_notebook_is_refused_with_the_way_out() -> None:
    def create_app(instance_id="A", redis=None, config=None):
        raise AssertionError("never called: the check cannot run it")

    report = check_capstone(create_app)
    assert not report.passed and len(report.lines) == 1
    assert "defined in the notebook" in failed(report)[0]
    assert "%%writefile my_shop.py" in failed(report)[0]


def test_a_module_that_is_missing_or_has_no_factory_is_reported(module_writer) -> None:
    report = check_capstone("no_such_shop_module")
    assert "no module 'no_such_shop_module' found" in failed(report)[0]
    name = module_writer("my_shop")("def make_app():\n    pass\n")
    report = check_capstone(name)
    assert len(report.lines) == 1
    assert f"import {name}: raised AttributeError: {name} has no create_app(" in failed(report)[0]


def test_a_copy_of_the_starter_loads_as_an_instance_would_load_it(tmp_path: Path) -> None:
    """Its dataclasses look their module up in sys.modules: the check's load must give them
    one, and leave nothing behind."""
    target = tmp_path / "my_shop_copy.py"
    write_starter(target)
    module = _load("my_shop_copy", str(target))
    assert callable(module.create_app) and module.ShopParts.__module__ == "my_shop_copy"
    assert "my_shop_copy" not in sys.modules


def test_write_starter_copies_the_shop_and_keeps_a_learners_work(tmp_path: Path) -> None:
    target = tmp_path / "my_shop.py"
    said = write_starter(target)
    assert said.startswith(f"{target}: a copy of the starter shop (labs/apps/shop_app.py, ")
    assert target.read_text(encoding="utf-8") == STARTER.read_text(encoding="utf-8")
    assert write_starter(target) == said  # an unchanged copy: the same words (stored output)
    target.write_text("# hours of work\n", encoding="utf-8")
    assert write_starter(target).startswith(f"kept your {target}: it differs from the starter")
    assert target.read_text(encoding="utf-8") == "# hours of work\n"
    write_starter(target, overwrite=True)
    assert target.read_text(encoding="utf-8") == STARTER.read_text(encoding="utf-8")
    for bad in ("my-shop.py", "my_shop.txt", "../"):
        with pytest.raises(ValueError, match="is not a module file name"):
            write_starter(tmp_path / bad)
