"""The audit (``labs.audit``) on apps that break it: it reports, it never raises, it is bounded in
time, and it leaves no process behind (the leftovers plugin fails the run otherwise). What it
finds on the shop, its solution and the half-fixed variants is in
tests/exercises/test_ex13_capstone.py."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from labs.audit import PROPERTIES, audit
from labs.audit import properties as audit_properties
from labs.audit.__main__ import main
from labs.cluster.process import free_port


def write_module(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return name


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on ``sys.path`` for made-up apps (the instances get it on PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_module_that_does_not_import_fails_every_property_and_says_why(modules: Path) -> None:
    name = write_module(modules, "audit_syntax_error", "def create_app(:\n")
    result = audit(name)
    assert [f.name for f in result.findings] == list(PROPERTIES)
    assert not any(f.ok for f in result.findings)
    assert all(f.evidence.startswith(f"cannot import {name}: SyntaxError") for f in result.findings)


def test_an_app_that_crashes_at_start_fails_with_its_output(modules: Path) -> None:
    name = write_module(
        modules,
        "audit_crashes",
        """
        def create_app(instance_id="A", redis=None, config=None):
            raise RuntimeError("no config for the shop")
        """,
    )
    result = audit(name, only=("errors", "sessions"), workers=0)
    assert not result.passed
    for finding in result.findings:
        assert finding.evidence.startswith("the cluster did not start")
        assert "no config for the shop" in finding.evidence


def test_a_store_that_is_not_there_is_a_finding_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    result = audit("labs.solutions.capstone_shop", only=("errors", "sessions"), workers=0)
    assert [f.ok for f in result.findings] == [False, False]
    for finding in result.findings:
        assert finding.evidence.startswith("the cluster did not start: "), finding.evidence


def test_an_app_that_hangs_is_given_up_on_in_bounded_time(
    modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = write_module(
        modules,
        "audit_hangs",
        """
        import time
        from labs.apps import stateless_app

        def create_app(instance_id="A", redis=None, config=None):
            app = stateless_app.create_app(instance_id, redis, config)

            @app.before_request
            def hang():
                from flask import request
                if request.path not in ("/healthz", "/readyz"):
                    time.sleep(20)

            return app
        """,
    )
    monkeypatch.setattr(audit_properties, "REQUEST_SECONDS", 0.5)
    monkeypatch.setattr(audit_properties, "PROPERTY_SECONDS", 2.0)
    result = audit(name, only=("errors", "sessions", "liveness"), workers=0)
    assert [f.ok for f in result.findings] == [False, False, False]
    assert "could not log in: POST /login answered no answer (timed out)" in (
        result.finding("errors").evidence
    )
    assert result.finding("liveness").evidence.startswith("not measured: ")
    assert result.seconds < 30


def test_an_app_that_answers_html_errors_is_told_which_requests(modules: Path) -> None:
    name = write_module(
        modules,
        "audit_html_errors",
        """
        from flask import request
        from labs.apps import stateless_app

        def create_app(instance_id="A", redis=None, config=None):
            app = stateless_app.create_app(instance_id, redis, config)

            @app.before_request
            def html_for_bad_items():
                if request.path == "/cart/items" and "qty" in request.get_data(as_text=True):
                    body = request.get_json(silent=True) or {}
                    if not isinstance(body.get("qty"), int):
                        return "<h1>Internal Server Error</h1>", 500

            return app
        """,
    )
    result = audit(name, only=("errors",), workers=0)
    evidence = result.finding("errors").evidence
    assert not result.passed
    assert evidence.startswith("1 of 7 got no 4xx JSON error: a cart item whose qty is a word: 500")


def test_the_audit_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="properties are errors, sessions"):
        audit("stateless", only=("speed",))
    with pytest.raises(ValueError, match="workers must be"):
        audit("stateless", workers=9)


def test_the_command_line_prints_json_and_exits_by_the_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["stateless", "--only", "errors,liveness", "--workers", "0", "--json"])
    out, err = capsys.readouterr()
    result = json.loads(out)
    # the stateless app serves no /payments and no /jobs: 404 JSON is still a 4xx JSON error
    assert code == 0 and err == "" and result["passed"] is True
    assert [f["property"] for f in result["findings"]] == ["errors", "liveness"]
    assert main(["stateful", "--only", "sessions", "--workers", "0"]) == 1
    out, _ = capsys.readouterr()
    assert out.startswith("Audit of stateful (3 instances, ")
    assert "✗ sessions and carts survive kill -9 of any instance: 6 users" in out


def test_settings_reach_every_instance(capsys: pytest.CaptureFixture[str]) -> None:
    """Lesson 08's quota app, counting in each instance's memory: the audit sees 3 limits."""
    code = main(["quota", "--only", "quota", "--workers", "0", "--set", "STATE=memory"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "limit 10: 30 requests to A, B, C in turn got 30 × 200;" in out
    assert "(each instance counts on its own)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stateless", "--only", "speed"], "unknown property speed: choose from errors"),
        (["stateless", "--workers", "-1"], "workers must be a whole number from 0 to 4"),
        (["../etc/passwd"], "is not a module name"),
        ([], "the following arguments are required: module"),
        (["quota", "--set", "STATE"], "a setting is NAME=VALUE (STATE=memory), not 'STATE'"),
        (["quota", "--set", "REDIS_URL=redis://elsewhere"], "REDIS_URL is the audit's to set"),
        (["quota", "--set", "state=memory"], "setting names are upper-case like STATE"),
    ],
)
def test_the_command_line_says_what_is_wrong_with_its_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
