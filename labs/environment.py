"""The setup cell every lesson starts with: check the environment, set plot defaults.

``course_setup()`` fails early with a readable message when a package is
missing or too old (instead of an ImportError twenty cells later), prints one
line saying which Redis the labs will use, and sets matplotlib defaults so
every lesson's figures look alike and stay small.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from labs.redis_store import redact, redis_mode, redis_url

# Package -> the oldest version the lessons are written against.
REQUIRED = {
    "flask": "3.1",
    "redis": "5.0",
    "fakeredis": "2.26",
    "PyJWT": "2.15",
    "simpy": "4.1",
    "matplotlib": "3.9",
    "ipywidgets": "8.1",
    "numpy": "2.0",
}
PYTHON_MIN = (3, 11)
SEED = 42


class EnvironmentProblem(RuntimeError):
    """The Python environment cannot run the course as it is."""


def _as_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def versions() -> dict[str, str]:
    """Installed version of every package the course needs (``"missing"`` if absent)."""
    found = {"python": ".".join(platform.python_version().split(".")[:2])}
    for name in REQUIRED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def problems() -> list[str]:
    """What is wrong with this environment, in plain words (empty when all is well)."""
    found = versions()
    issues = []
    if sys.version_info[:2] < PYTHON_MIN:
        issues.append(f"Python {found['python']} is too old: the course needs 3.11 or newer.")
    for name, minimum in REQUIRED.items():
        have = found[name]
        if have == "missing":
            issues.append(f"{name} is not installed.")
        elif _as_tuple(have) < _as_tuple(minimum):
            issues.append(f"{name} {have} is too old: the course needs {minimum} or newer.")
    return issues


def redis_description() -> str:
    """One line: which Redis the lab apps will talk to."""
    if redis_mode() == "real":
        return f"real server at {redact(redis_url() or '')}"
    return "embedded (fakeredis, in this process; set REDIS_URL to use a real server)"


def set_plot_defaults() -> None:
    """Small, legible figures that look the same in every lesson."""
    import matplotlib

    matplotlib.rcParams.update(
        {
            "figure.figsize": (8, 3.5),
            "figure.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def course_setup() -> None:
    """Check the environment, set plot defaults, say which Redis is in use."""
    issues = problems()
    if issues:
        fix = "Run: pip install -r requirements.txt  (from the course's top folder)"
        raise EnvironmentProblem("\n".join([*issues, fix]))
    set_plot_defaults()
    print(f"Environment OK · Python {versions()['python']} · Redis: {redis_description()}")
