"""Look inside: print the few lines of the course's code that make a lesson's effect.

    from labs.inside import show_source
    show_source(Instance.serve)

prints where the code lives (a path from the repository root, and the lines) and the code
itself, so a lesson can point at the model or the app behind a number without pasting it.
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository: labs/ and simulations/ live here


def source_of(thing: Any) -> str:
    """``thing``'s source (a function, a method, a class), headed by its file and lines."""
    target = inspect.unwrap(thing)
    lines, first = inspect.getsourcelines(target)
    path = Path(inspect.getsourcefile(target) or "?").resolve()
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    head = f"# {where}, lines {first}–{first + len(lines) - 1}"
    return head + "\n" + textwrap.dedent("".join(lines)).rstrip()


def show_source(*things: Any) -> None:
    """Print the source of each of ``things``, one after the other."""
    print("\n\n".join(source_of(thing) for thing in things))


def enclosed(function: Any, name: str) -> Any:
    """The function ``name`` that ``function`` closes over: a helper defined inside an app
    factory (``enclosed(app.view_functions["pay"], "run_steps")``), to show its source."""
    names = function.__code__.co_freevars
    if name not in names:
        raise LookupError(f"{function.__name__} uses no enclosing {name!r} (it has {names})")
    return function.__closure__[names.index(name)].cell_contents
