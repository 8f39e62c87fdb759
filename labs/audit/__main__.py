"""``python -m labs.audit MODULE``: audit a WSGI app as a real 3-instance cluster (lesson 13).

MODULE is a name of ``labs.apps.APPS`` (``shop``, ``stateless``, ...) or a module path
importable from the current directory (``my_shop``) whose ``create_app(instance_id, redis,
config)`` builds the app. Prints one line per property; ``--json`` prints one JSON object
instead. Exit status: 0 when every property holds, 1 when one does not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys

from labs.audit.properties import PROPERTIES, audit


def _properties(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PROPERTIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown property {', '.join(unknown) or '(none)'}: "
            f"choose from {', '.join(PROPERTIES)}"
        )
    return names


def _workers(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 4:
        raise argparse.ArgumentTypeError(
            f"workers must be a whole number from 0 to 4, not {text!r}"
        )
    return int(text)


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"a setting is NAME=VALUE (STATE=memory), not {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labs.audit",
        description="Run a WSGI app as 3 real instances behind a balancer, break it (kill -9, "
        "a rolling restart, concurrent duplicates, Redis cut off) and report each property.",
    )
    parser.add_argument("module", help="a labs.apps name (shop) or a module path (my_shop)")
    parser.add_argument(
        "--only",
        type=_properties,
        default=PROPERTIES,
        help=f"comma-separated properties to check (default: all of {', '.join(PROPERTIES)})",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="job workers (python -m labs.jobs.worker) to start beside the instances (default 1)",
    )
    parser.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every instance, e.g. --set STATE=memory (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if not options.module.replace(".", "").replace("_", "").isalnum():
        parser.error(f"{options.module!r} is not a module name (like my_shop or shop)")
    try:
        result = audit(
            options.module, only=options.only, workers=options.workers, env=dict(options.set)
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(result.as_dict()) if options.json else result.text())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
