"""Read exercise starters out of the stored lessons, so meta-tests check what learners get."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
STARTER_MARKER = "EXERCISE STARTER"


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
    namespace: dict[str, Any] = {"__name__": "starter"}
    exec(compile(sources[index], f"{notebook}[starter {index}]", "exec"), namespace)
    return namespace
