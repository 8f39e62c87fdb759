"""Read exercise starters out of the stored lessons, so meta-tests check what learners get."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
STARTER_MARKER = "EXERCISE STARTER"
WRITEFILE = re.compile(r"%%writefile (\w+)\.py\n")  # a starter that is a module (lesson 08)
_WRITTEN = tempfile.TemporaryDirectory(prefix="starters-")  # removed when the tests end


def starter_sources(notebook: str) -> list[str]:
    """Sources of the code cells in ``notebook`` that contain the starter marker, in order."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    return [
        cell.source
        for cell in nb.cells
        if cell.cell_type == "code" and STARTER_MARKER in cell.source
    ]


def run_starter(notebook: str, index: int = 0) -> dict[str, Any]:
    """Execute the ``index``-th starter cell of ``notebook``; return the names it defines."""
    sources = starter_sources(notebook)
    if len(sources) <= index:
        raise LookupError(f"{notebook} has no starter cell #{index} marked {STARTER_MARKER!r}")
    written = WRITEFILE.match(sources[index])
    if written:  # the cell writes a module another process imports: write it, name it
        folder = Path(_WRITTEN.name) / f"{Path(notebook).stem}-{index}"
        folder.mkdir(exist_ok=True)
        (folder / f"{written[1]}.py").write_text(sources[index][written.end() :])
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        return {written[1]: written[1]}
    namespace: dict[str, Any] = {"__name__": "starter"}
    exec(compile(sources[index], f"{notebook}[starter {index}]", "exec"), namespace)
    return namespace
