"""The direction of imports (COURSE_DESIGN §2) is checked by a tool, and the tool is checked too.

``lint-imports`` runs the contracts in ``pyproject.toml`` on the real tree; then on copies of the
tree with one rule broken on purpose, to prove each kind of contract can fail (a wildcard that
matched nothing would keep every contract and prove nothing). What import-linter cannot see
(what a package does at run time) is checked by importing in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the repository's contracts, on the packages found in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold() -> None:
    ran = lint(ROOT)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", ran.stdout)
    assert kept and int(kept.group(1)) >= 8, ran.stdout


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    for package in ("simulations", "labs"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "simulations/scenarios/balance/model.py",
            "import matplotlib.pyplot  # noqa",
            "every scenario's model import neither matplotlib nor ipywidgets",
        ),
        (
            "simulations/engine/lifecycle.py",
            "import ipywidgets  # noqa",
            "every scenario's model import neither matplotlib nor ipywidgets",
        ),
        (
            "simulations/scenarios/jwt/cli.py",
            "from simulations.scenarios.jwt import plots  # noqa",
            "The command line imports neither matplotlib nor ipywidgets",
        ),
        (
            "simulations/scenarios/sticky/model.py",
            "from simulations.scenarios.sticky import widget  # noqa",
            "In a scenario, the CLI and the widget stand on the plots and the model",
        ),
        (
            "simulations/scenarios/deploy/model.py",
            "from simulations.scenarios.crashes import model as crashes  # noqa",
            "Scenarios do not import each other",
        ),
        (
            "simulations/engine/sessions.py",
            "from simulations.scenarios.crashes import model  # noqa",
            "The engine knows no scenario",
        ),
        (
            "simulations/theory.py",
            "from labs import checking  # noqa",
            "The simulations never import the labs",
        ),
        (
            "labs/exercises/ex03_write_a_policy.py",
            "from simulations.engine.policies import RoundRobin  # noqa",
            "The labs (exercise checks included) use only the simulations' public API",
        ),
        (
            "labs/apps/web.py",
            "from labs.cluster import local  # noqa",
            "In the labs, clusters stand on the apps",
        ),
    ],
    ids=lambda value: value.split("/")[-1] if "/" in value else None,
)
def test_a_broken_rule_breaks_its_contract(
    copy_of_the_tree: Path, module: str, line: str, contract: str
) -> None:
    append(copy_of_the_tree / module, line)
    ran = lint(copy_of_the_tree)
    assert ran.returncode != 0, ran.stdout
    flat = " ".join(ran.stdout.split())  # contract names wrap at the terminal's width
    verdicts = flat[: flat.index("Contracts:")]  # the list of contracts, before the details
    assert contract in verdicts, flat
    verdict = re.search(r"\b(KEPT|BROKEN)\b", verdicts[verdicts.index(contract) :])
    assert verdict and verdict.group(1) == "BROKEN", flat


def imported_by(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after ``statement``."""
    listing = "print(' '.join({name.split('.')[0] for name in sys.modules}))"
    code = f"import sys; {statement}; {listing}"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(ran.stdout.split())


@pytest.mark.parametrize(
    "statement", ["import simulations.cli", "import simulations", "import labs.apps"]
)
def test_the_command_line_and_the_models_load_no_plotting_or_widgets(statement: str) -> None:
    loaded = imported_by(statement)
    assert "matplotlib" not in loaded and "ipywidgets" not in loaded, statement


def test_nothing_imports_from_the_notebooks() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+notebooks\b|import_module\([\"']notebooks", re.M)
    offenders = [
        path.relative_to(ROOT)
        for folder in ("simulations", "labs", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
    assert not (ROOT / "notebooks" / "__init__.py").exists(), "notebooks/ is not a package"


def test_listing_the_commands_loads_no_simulation() -> None:
    """``python -m simulations --help`` is quick because it imports no model (nor SimPy)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['simulations', '--help']\n"
        "try:\n"
        "    runpy.run_module('simulations', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('simpy', 'simulations.')))))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = ran.stdout.splitlines()[-1].split()  # the modules, printed last
    assert "usage: python -m simulations" in ran.stdout
    assert not [name for name in loaded if name == "simpy" or name.endswith(".model")], loaded
