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


def test_a_helper_inside_an_app_factory_is_found_through_its_route() -> None:

    from labs.apps import payments_app
    from labs.inside import enclosed

    pay = payments_app.create_app().view_functions["pay"]
    assert "def run_steps(" in source_of(enclosed(pay, "run_steps"))
    with pytest.raises(LookupError, match="no enclosing 'nothing'"):
        enclosed(pay, "nothing")
