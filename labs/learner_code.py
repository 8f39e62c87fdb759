"""Loading a learner's module the way another process would (COURSE_DESIGN §4).

Code that a gunicorn instance or a worker runs cannot be an object defined in the notebook: it
lives only in the kernel's process. The lesson writes it to a file (``%%writefile my_jobs.py``)
and the check takes the module's name. :func:`module_source` finds that file (or says, in plain
words, why it cannot); :func:`fresh_copy` executes it again as a private module, which is what
one more process importing it would have: a module-level dict is not shared by accident.
"""

from __future__ import annotations

import importlib
import importlib.util
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any


class NotRunnable(Exception):
    """The check was given something that another process cannot import."""


def module_source(module_or_name: Any, example: str, runner: str) -> tuple[str, str]:
    """``(module name, path of its file)`` of ``module_or_name``, or :class:`NotRunnable`.

    ``example`` is the module name the lesson uses (``"my_limiter"``), ``runner`` who must
    import it (``"the app's instances"``): both only make the message concrete.
    """
    if isinstance(module_or_name, ModuleType):
        path = getattr(module_or_name, "__file__", None)
        if not path or module_or_name.__name__ == "__main__":
            raise NotRunnable(
                f"module {module_or_name.__name__} has no file that another process could load"
            )
        return module_or_name.__name__, path
    if not isinstance(module_or_name, str):
        kind = type(module_or_name).__name__
        name = getattr(module_or_name, "__name__", repr(module_or_name))[:60]
        raise NotRunnable(
            f"got a {kind} ({name}) defined in the notebook, not a module: {runner} cannot "
            f"import it. Write it to a file (%%writefile {example}.py) and pass its module "
            f"name, '{example}'"
        )
    name = module_or_name.removesuffix(".py")
    if not all(part.isidentifier() for part in name.split(".")):
        raise NotRunnable(f"{module_or_name!r} is not a module name (like '{example}')")
    importlib.invalidate_caches()  # the file may have been written a moment ago
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise NotRunnable(
            f"no module {name!r} found: run the cell that writes {name.replace('.', '/')}.py "
            "(%%writefile), next to the notebook"
        )
    return name, spec.origin


def compile_file(path: str) -> CodeType:
    """The module's code, read from its file now (not the import cache: the file may be new)."""
    return compile(Path(path).read_text(encoding="utf-8"), path, "exec")


def fresh_copy(name: str, path: str, code: CodeType) -> ModuleType:
    """A private copy of the module: what one more process importing it would have."""
    module = ModuleType(name)
    module.__file__ = path
    exec(code, module.__dict__)
    return module


def error_line(exc: BaseException) -> int | None:
    """The line of the learner's code where ``exc`` was raised (the last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return frames[-1].lineno if frames else None


def plugged_module(setting: str, path: str, functions: tuple[str, ...]) -> ModuleType:
    """The module a setting names (``JOB_STATUS=my_jobs``), imported as any process imports
    it, with each of ``functions``; a ``ValueError`` naming the setting otherwise."""
    module = importlib.import_module(path)
    missing = [name for name in functions if not callable(getattr(module, name, None))]
    if missing:
        raise ValueError(f"{setting} module {path!r} has no function {missing[0]}")
    return module


def open_for_check(
    report: Any,
    module_or_name: Any,
    example: str,
    runner: str,
    load: Callable[[str, str], Any],
    hints: tuple[str, str | None],
) -> tuple[str, str, Any] | None:
    """The first step of a check that runs a learner's module: find it (:func:`module_source`)
    and ``load(name, path)`` it. ``(name, path, loaded)``, or ``None`` once ``report`` (a
    :class:`labs.checking.CheckReport`) has a failed line saying why, with ``hints``."""
    try:
        name, path = module_source(module_or_name, example, runner)
    except NotRunnable as why:
        report.expect(False, f"cannot run it: {why}", *hints)
        return None
    loaded = report.attempt(f"import {name}", lambda: load(name, path), *hints)
    return None if loaded is None else (name, path, loaded)


def import_root(name: str, path: str) -> str:
    """The directory from which module ``name`` at ``path`` imports (the notebook's, for
    ``my_jobs``): what another process needs on its ``PYTHONPATH``."""
    return str(Path(path).resolve().parents[len(name.split(".")) - 1])
