"""Execute lessons headless and store them normalised: what this stores is what nbval compares.

    python tests/regenerate_notebooks.py                 # every lesson
    python tests/regenerate_notebooks.py 03 notebooks/04_crashes.ipynb

Each notebook runs top to bottom in a fresh kernel of the current environment
(cwd = notebooks/). Then its metadata is normalised: one kernelspec, no widget
state blobs, no per-cell timing metadata, stable cell ids, no personal paths.
A notebook whose run raises is not written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}


def normalise(nb: nbformat.NotebookNode, stem: str) -> None:
    # Widget state is dropped: it is a large blob of live-kernel state, not lesson content.
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    for index, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{index:03d}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            for output in cell.outputs:
                output.get("metadata", {}).pop("execution", None)


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    started = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    elapsed = time.perf_counter() - started
    normalise(nb, path.stem)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def resolve(args: list[str]) -> list[Path]:
    if not args:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = []
    for arg in args:
        candidate = Path(arg)
        if candidate.suffix == ".ipynb":
            paths.append(candidate.resolve())
        else:
            matches = sorted(NOTEBOOKS.glob(f"{arg}*.ipynb"))
            if not matches:
                sys.exit(f"no notebook matches {arg!r} in {NOTEBOOKS}")
            paths.extend(matches)
    return paths


def main(args: list[str]) -> int:
    total = 0.0
    for path in resolve(args):
        seconds = execute(path)
        total += seconds
        print(f"{path.name:40s} {seconds:6.1f} s")
    print(f"{'total':40s} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
