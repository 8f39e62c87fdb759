"""The look-inside helper prints where the code lives and the code itself."""

from __future__ import annotations

import pytest

from labs.inside import show_source, source_of
from simulations import Instance


def test_the_source_comes_with_its_path_from_the_repository_and_its_lines() -> None:
    text = source_of(Instance.serve)
    head, first_line = text.splitlines()[:2]
    assert head.startswith("# simulations/engine/instance.py, lines ")
    assert first_line.startswith("def serve(self)")  # dedented: a method reads like a function
    start, end = (int(n) for n in head.rsplit(" ", 1)[1].split("–"))
    assert end - start + 1 == len(text.splitlines()) - 1


def test_several_things_are_shown_one_after_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    show_source(Instance.submit, Instance.serve)
    out = capsys.readouterr().out
    assert out.index("def submit") < out.index("def serve") and "\n\n# simulations" in out


def test_a_builtin_has_no_source_to_show() -> None:
    with pytest.raises(TypeError):
        source_of(len)
