"""Execute lessons headless and store them normalised: what this stores is what nbval compares.

    python tests/regenerate_notebooks.py                 # every lesson
    python tests/regenerate_notebooks.py 03 notebooks/04_crashes.ipynb

Each notebook runs top to bottom in a fresh kernel of the current environment
(cwd = notebooks/). Then its metadata is normalised: one kernelspec, the full
``language_info`` the kernel reported (without it JupyterLab fills it in on opening and
marks an untouched lesson as modified), no widget state blobs, no per-cell timing
metadata, stable cell ids, no personal paths. A notebook whose run raises is not written.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO_KEYS = (  # what ipykernel reports, all of which JupyterLab expects to find
    "codemirror_mode",
    "file_extension",
    "mimetype",
    "name",
    "nbconvert_exporter",
    "pygments_lexer",
    "version",
)


def normalise(nb: nbformat.NotebookNode, stem: str) -> None:
    # Widget state is dropped: it is a large blob of live-kernel state, not lesson content.
    reported = nb.metadata.get("language_info", {})
    missing = [key for key in LANGUAGE_INFO_KEYS if key not in reported]
    if missing:
        raise RuntimeError(f"the kernel reported no {', '.join(missing)} in language_info")
    language_info = {key: reported[key] for key in LANGUAGE_INFO_KEYS}
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": language_info})
    for index, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{index:03d}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            for output in cell.outputs:
                output.get("metadata", {}).pop("execution", None)


def coalesce_streams(outputs: list) -> list:
    """One output per run of stdout (or stderr) text: how the kernel split a print into
    messages depends on timing, and would otherwise change what is stored."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


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


def refuse_a_changed_capstone_copy() -> None:
    """Lesson 13 stores what ``write_starter()`` says about ``notebooks/my_shop.py``: on a clean
    checkout, that it copied the starter. A copy someone changed (or one of an older starter)
    would be kept, and stored as kept: move it away instead of storing that."""
    copy = NOTEBOOKS / "my_shop.py"
    starter = NOTEBOOKS.parent / "labs" / "apps" / "shop_app.py"
    if copy.exists() and copy.read_text() != starter.read_text():
        sys.exit(f"{copy} differs from the starter shop: move it away (it is yours) and run again")


def main(args: list[str]) -> int:
    refuse_a_changed_capstone_copy()
    # The lessons' checks write a progress record (labs/progress.py): a throwaway one here, so
    # that regenerating the course leaves the learner's record on this machine as it was.
    scratch = tempfile.TemporaryDirectory(prefix="sbd-regenerate-")
    os.environ["SBD_PROGRESS_FILE"] = str(Path(scratch.name) / "progress.json")
    total = 0.0
    for path in resolve(args):
        seconds = execute(path)
        total += seconds
        print(f"{path.name:40s} {seconds:6.1f} s")
    print(f"{'total':40s} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
