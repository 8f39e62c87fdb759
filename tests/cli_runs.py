"""Running ``python -m simulations`` in-process, the way the CLI tests need it."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from simulations.cli import main


def json_output(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> dict:
    """Run the CLI with ``argv`` (which asks for ``--json``): it must succeed, print nothing on
    stderr and exactly one JSON object on stdout, which is returned."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def measured(result: dict, echoed: set[str] | frozenset[str]) -> dict:
    """The keys a run measured: everything but the settings it echoes back."""
    return {key: value for key, value in result.items() if key not in echoed}
