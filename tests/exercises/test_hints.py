"""Hints in two tiers: the idea first, the code only on a later attempt or on request.

Run on the starter code that a lesson stores, each check's first report gives the idea; its
code-level hint appears from the second failed attempt (or from ``closer_hint()``), so no
stored lesson output prints the solution.
"""

from __future__ import annotations

import importlib
import json

import pytest
from notebook_cells import NOTEBOOKS, run_starter

from labs import checking
from labs.checking import CheckReport

# lesson, check module, check function, the names the starter defines (its arguments)
CHECKS = [
    ("00_start_here.ipynb", "ex00_response_time", "check_mean_response", ["mean_response"]),
    ("02_externalize_state.ipynb", "ex02_cart_in_redis", "check_cart_in_redis", ["CartService"]),
    ("03_load_balancing.ipynb", "ex03_write_a_policy", "check_policy", ["my_policy"]),
    ("04_crashes.ipynb", "ex04_crash_cost", "check_requests_lost", ["requests_lost"]),
    (
        "05_autoscaling_and_deploys.ipynb",
        "ex05_hpa_rule",
        "check_desired_replicas",
        ["desired_replicas"],
    ),
    ("07_jwt_and_revocation.ipynb", "ex07_denylist", "check_denylist", ["revoke", "is_revoked"]),
    ("08_hidden_state.ipynb", "ex08_shared_limiter", "check_shared_limiter", ["my_limiter"]),
    ("11_health_checks_and_disposability.ipynb", "ex11_probes", "check_probes", ["my_probes"]),
    (
        "12_the_price_of_statelessness.ipynb",
        "ex12_session_design",
        "check_session_choice",
        ["needs", "CHOICES"],
    ),
]


def check_on_starter(lesson: str, module: str, function: str, names: list[str]) -> CheckReport:
    check = getattr(importlib.import_module(f"labs.exercises.{module}"), function)
    starter = run_starter(lesson)
    return check(*(starter[name] for name in names))


@pytest.mark.parametrize("lesson, module, function, names", CHECKS, ids=lambda v: str(v)[:12])
def test_the_first_failure_gives_the_idea_and_the_second_the_code(
    lesson: str, module: str, function: str, names: list[str]
) -> None:
    first = check_on_starter(lesson, module, function, names)
    assert not first.passed and first.hint and first.code_hint
    assert first.code_hint not in first.text() and "Closer hint" not in first.text()
    assert "Run the check again for a closer hint" in first.text()
    assert first.closer_hint() == first.code_hint  # on request, at once
    second = check_on_starter(lesson, module, function, names)
    assert f"Closer hint: {second.code_hint}" in second.text()


@pytest.mark.parametrize("lesson, module, function, names", CHECKS, ids=lambda v: str(v)[:12])
def test_no_stored_check_output_prints_the_code_hint(
    lesson: str, module: str, function: str, names: list[str]
) -> None:
    code_hint = check_on_starter(lesson, module, function, names).code_hint
    cells = json.loads((NOTEBOOKS / lesson).read_text())["cells"]
    stored = "".join(
        "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )
    assert function in "".join("".join(c["source"]) for c in cells)  # the check is in the lesson
    assert code_hint not in stored and "Closer hint" not in stored


def test_a_passing_report_counts_no_attempt_and_shows_no_hint() -> None:
    report = CheckReport("demo")
    report.expect(True, "fine", "idea", "code")
    assert "Hint" not in report.show().text() and checking.FAILED_ATTEMPTS["demo"] == 0


@pytest.mark.parametrize("lesson, module, function, names", CHECKS, ids=lambda v: str(v)[:12])
def test_hint_true_asks_for_the_code_level_hint_at_once(
    lesson: str, module: str, function: str, names: list[str]
) -> None:
    check = getattr(importlib.import_module(f"labs.exercises.{module}"), function)
    starter = run_starter(lesson)
    report = check(*(starter[name] for name in names), hint=True)
    assert f"Closer hint: {report.code_hint}" in report.text()
