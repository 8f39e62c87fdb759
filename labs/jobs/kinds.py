"""The kinds of job the lab apps accept (COURSE_DESIGN §6b), their parameters checked once.

* ``echo``: the result is the parameters, unchanged;
* ``sleep``: waits ``params["seconds"]`` (a number from 0 to :data:`MAX_SLEEP_SECONDS`), the
  stand-in for slow work (resizing an image, sending an email); the result says how long.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

KINDS = ("echo", "sleep")
MAX_SLEEP_SECONDS = 10
MAX_PARAMS_BYTES = 4096  # a job carries a small description of work, not the work's data


class InvalidJob(ValueError):
    """A job the apps refuse (unknown kind, bad parameters): a 400."""


def check_job(kind: Any, params: Any) -> tuple[str, dict[str, Any]]:
    """``(kind, params)`` if they describe a job that can run, else :class:`InvalidJob`."""
    if kind not in KINDS:
        raise InvalidJob(f"'kind' must be one of {', '.join(KINDS)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidJob("'params' must be a JSON object")
    if len(json.dumps(params)) > MAX_PARAMS_BYTES:
        raise InvalidJob(f"'params' must be at most {MAX_PARAMS_BYTES} bytes of JSON")
    if kind == "sleep":
        seconds = params.get("seconds")
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not number or not math.isfinite(seconds) or not 0 <= seconds <= MAX_SLEEP_SECONDS:
            raise InvalidJob(f"'sleep' needs 'seconds', a number from 0 to {MAX_SLEEP_SECONDS}")
    return kind, params


def run_job(kind: str, params: dict[str, Any]) -> Any:
    """Do the job's work; its result (JSON-serializable)."""
    if kind == "sleep":
        time.sleep(params["seconds"])
        return {"slept": params["seconds"]}
    return params
