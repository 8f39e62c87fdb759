"""The promises the repository makes about itself: CI runs the README's command, lessons are
stored executed and normalised, and strict nbval is what runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("python3")]


def test_readme_has_exactly_two_quick_start_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    # At the repository root (COURSE_DESIGN §9): labs/, simulations/ and README.md reachable.
    assert commands[0].endswith("jupyter lab --ServerApp.root_dir=. notebooks/00_start_here.ipynb")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_pytest_runs_notebooks_under_strict_nbval() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--nbval" in config["addopts"]
    assert "notebooks" in config["testpaths"]
    lax = "--nbval" + "-lax"  # spelled in two parts so this file does not match itself
    for path in ROOT.rglob("*"):
        in_venv = any(part.startswith(".venv") for part in path.parts)  # .venv, .venv-site
        skipped = in_venv or ".git" in path.parts or not path.is_file()
        if not skipped and (path.suffix in {".toml", ".cfg", ".ini", ".py"} or path.name == "run"):
            assert lax not in path.read_text(errors="ignore"), path


def test_requirements_are_pinned_and_install_the_packages() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "-e ."
    for line in lines[:-1]:
        assert re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[0-9][0-9A-Za-z.]*", line), line


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_stored_executed_and_normalised(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"], "widget state blobs are not stored"
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and c["source"]]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", "".join(cell["source"])[:80]
            assert output.get("name") != "stderr", "".join(output.get("text", ""))[:200]
            assert "image/svg+xml" not in output.get("data", {})
    assert path.stat().st_size < 600_000, "lower the figure size or dpi"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_follows_the_template(path: Path) -> None:
    nb = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith(f"# {path.stem[:2]} · "), "title: '# NN · Title'"
    first_code = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "course_setup()" in first_code, "the first code cell is the setup cell"
    assert re.search(r"predict", markdown, re.I), "a predict-then-run moment"
    assert re.search(r"takeaways", markdown, re.I)
    assert re.search(r"\d+\s*minutes", markdown), "a time estimate"
    sources = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "EXERCISE STARTER" in sources and "check_" in sources, "an exercise with a check"
    assert "show_source(" in sources and "**Look inside.**" in markdown, "a look-inside cell"
    ignored = sources.count("NBVAL_IGNORE_OUTPUT")
    code_cells = sum(c["cell_type"] == "code" for c in nb["cells"])
    assert ignored <= max(2, code_cells // 4), "strict means compared"
    later = [p for p in LESSONS if p.name > path.name]
    if later:
        assert f"({later[0].name})" in markdown, f"a link to the next lesson, {later[0].name}"


def answer_cells(cells: list[dict]) -> list[int]:
    """The code cells with a stored output between a "**Predict" and the next markdown cell."""
    found, asked = [], False
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            asked = "**Predict" in "".join(cell["source"])
        elif asked and cell["outputs"]:
            found.append(index)
    return found


def reveal_cells(cells: list[dict]) -> list[int]:
    """The markdown cell that answers each prediction: the first after its answer cells."""
    found, asked = [], False
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            if asked:
                found.append(index)
            asked = "**Predict" in "".join(cell["source"])
    return found


def is_sanity_cell(cell: dict) -> bool:
    """A code cell whose statements are mostly asserts: it keeps the prose true."""
    lines = [
        line
        for line in "".join(cell["source"]).splitlines()
        if line.strip() and not line.lstrip().startswith(("#", ")", "]"))
    ]
    return bool(lines) and sum(line.lstrip().startswith("assert") for line in lines) * 2 >= len(
        lines
    )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_answers_and_sanity_cells_are_stored_folded(path: Path) -> None:
    # JupyterLab opens a cell with outputs_hidden folded (nbval still compares it); the tags
    # do the same on a course site. A learner sees no answer before guessing (COURSE_DESIGN §3).
    cells = json.loads(path.read_text())["cells"]
    answers = answer_cells(cells)
    assert answers, "a predict-then-run moment whose answer is stored"
    for index in answers:
        meta = cells[index]["metadata"]
        assert meta.get("jupyter", {}).get("outputs_hidden") is True, f"cell {index} unfolded"
        assert "hide-output" in meta.get("tags", []), f"cell {index}: tag hide-output"
    for index in reveal_cells(cells):  # the prose that gives the answer away is folded too
        meta = cells[index]["metadata"]
        assert meta.get("jupyter", {}).get("source_hidden") is True, f"reveal {index} unfolded"
        assert "hide-input" in meta.get("tags", []), f"reveal {index}: tag hide-input"
        source = "".join(cells[index]["source"])
        assert not re.search(r"^#", source, re.M), f"reveal {index} hides a heading"
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and is_sanity_cell(cell):
            meta = cell["metadata"]
            assert meta.get("jupyter", {}).get("source_hidden") is True, f"sanity cell {index}"
            assert "hide-input" in meta.get("tags", []), f"sanity cell {index}: tag hide-input"


def test_the_fold_checks_recognise_what_they_look_for() -> None:
    # the checks above must be able to fail: an unfolded answer and a bare sanity cell
    cells = [
        {"cell_type": "markdown", "source": ["> **Predict:** which one?"]},
        {"cell_type": "code", "source": ["run()"], "outputs": [{"text": "b"}], "metadata": {}},
        {"cell_type": "markdown", "source": ["(b)."]},
        {"cell_type": "code", "source": ["plot()"], "outputs": [{"text": "x"}], "metadata": {}},
    ]
    assert answer_cells(cells) == [1]
    assert reveal_cells(cells) == [2]
    assert is_sanity_cell({"source": ["assert a\n", "assert b\n", 'print("ok")']})
    assert not is_sanity_cell({"source": ["x = run()\n", "print(x)\n", "assert x"]})


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    """Lessons and code alike: the linter and formatter the README's contributor notes name."""
    ran = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."], cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_links_and_code_paths_lead_somewhere(path: Path) -> None:
    """Links resolve from the lesson's folder; `labs/...` and `simulations/...` paths the prose
    names exist (a moved module must not leave a lesson pointing at nothing)."""
    nb = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", markdown):
        if not re.match(r"[a-z]+://", target):
            assert (path.parent / target).exists(), target
    for named in re.findall(r"`((?:labs|simulations)/[\w/.]*)`", markdown):
        assert (ROOT / named).exists(), named


def test_lessons_store_the_language_info_a_kernel_writes() -> None:
    """Without it, JupyterLab fills it in on opening and asks to save an untouched lesson."""
    keys = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter"}
    keys |= {"pygments_lexer", "version"}
    for path in LESSONS:
        info = json.loads(path.read_text())["metadata"]["language_info"]
        assert keys <= set(info), path.name
