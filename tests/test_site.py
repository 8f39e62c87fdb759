"""The course's static site (site/, Jupyter Book 1): every lesson is in its navigation, in
syllabus order, and a broken internal link fails its build.

The build itself runs in CI's site stage (``site/build.sh``, in its own venv). The test that
breaks links builds a copy of the book, so it runs only where that venv exists and
``SBD_SITE_TESTS=1`` asks for it (the site stage does): it takes seconds, not milliseconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TOC = (ROOT / "site" / "_toc.yml").read_text()
TOC_FILES = re.findall(r"^\s*- file: (\S+)\s*$", TOC, re.M)
SITE_VENV = Path(os.environ.get("SITE_VENV", ROOT / ".venv-site"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_is_in_the_site_navigation(lesson: Path) -> None:
    assert f"notebooks/{lesson.stem}" in TOC_FILES, f"add '- file: notebooks/{lesson.stem}'"


def test_the_navigation_follows_the_syllabus_and_names_only_files_that_exist() -> None:
    lessons = [name for name in TOC_FILES if name.startswith("notebooks/")]
    assert lessons == [f"notebooks/{p.stem}" for p in LESSONS]
    for name in TOC_FILES:
        assert any((ROOT / f"{name}{suffix}").is_file() for suffix in (".md", ".ipynb")), name


def test_the_site_requirements_are_pinned_apart_from_the_learners() -> None:
    lines = [
        line
        for line in (ROOT / "site" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "jupyter-book==1.0.4.post1" in lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[0-9][0-9A-Za-z.]*", line), line
    assert "jupyter-book" not in (ROOT / "requirements.txt").read_text()


def copy_of_the_book(tmp_path: Path) -> Path:
    """The pages the toc names, their links' targets and the site config; nothing else."""
    book = tmp_path / "repo"
    shutil.copytree(ROOT / "site", book / "site", ignore=shutil.ignore_patterns("_build"))
    shutil.copytree(ROOT / "notebooks", book / "notebooks", ignore=shutil.ignore_patterns("*.py"))
    pages = [f"{name}.md" for name in TOC_FILES if not name.startswith(("notebooks/", "site/"))]
    for page in (*pages, "labs/checking.py"):
        (book / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, book / page)
    return book


@pytest.mark.skipif(
    os.environ.get("SBD_SITE_TESTS") != "1" or not (SITE_VENV / "bin" / "jupyter-book").exists(),
    reason="builds the site: set SBD_SITE_TESTS=1 after site/build.sh made its venv",
)
def test_a_broken_internal_link_fails_the_build(tmp_path: Path) -> None:
    book = copy_of_the_book(tmp_path)
    broken = {
        "../notebooks/99_no_such_lesson.ipynb": "99_no_such_lesson",
        "../README.md#no-such-section": "no-such-section",
        "../labs/no_such_module.py": "no_such_module.py",
        "../notebooks/01_what_is_state.ipynb#no-such-heading": "no-such-heading",
    }
    links = ", ".join(f"[{i}]({target})" for i, target in enumerate(broken))
    intro = book / "site" / "intro.md"
    intro.write_text(intro.read_text() + f"\nBroken on purpose: {links}.\n")
    ran = subprocess.run(
        ["bash", "site/build.sh", str(tmp_path / "out")],
        cwd=book,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SITE_VENV": str(SITE_VENV)},
    )
    assert ran.returncode != 0
    output = ran.stdout + ran.stderr
    for needle in broken.values():
        assert needle in output, (needle, output[-3000:])
    assert "checking.py" not in output, "a link to a file that exists is not reported"
