"""Exercise 01's check fails on the starter as the lesson stores it, and passes on the solution."""

from __future__ import annotations

import pytest
from notebook_cells import run_starter, starter_sources

from labs.exercises.ex01_spot_the_state import SNIPPETS, check_spot_the_state, show_snippets
from labs.solutions.ex01_spot_the_state import KEEPS_STATE

NOTEBOOK = "01_what_is_state.ipynb"


def test_the_check_fails_on_the_notebooks_starter() -> None:
    [source] = starter_sources(NOTEBOOK)
    starter = run_starter(NOTEBOOK)["keeps_state"]
    assert starter == set(), source
    report = check_spot_the_state(starter)
    assert not report.passed
    assert "✗" in report.text() and "Hint:" in report.text()


def test_the_check_passes_on_the_solution() -> None:
    report = check_spot_the_state(KEEPS_STATE)
    assert report.passed
    assert len(report.lines) == len(SNIPPETS) == 6
    assert "✗" not in report.text()


@pytest.mark.parametrize(
    "answer",
    [{1, 3, 5}, [5, 3, 1], (1, 3, 5), frozenset({1, 3, 5}), {"1", "3", "5"},
     {1: True, 2: False, 3: True, 4: False, 5: True, 6: False}],
)  # fmt: skip
def test_any_reasonable_spelling_of_the_right_answer_passes(answer: object) -> None:
    assert check_spot_the_state(answer).passed


@pytest.mark.parametrize("wrong", [1, 2, 3, 4, 5, 6])
def test_each_single_mistake_fails_without_giving_the_answer_away(wrong: int) -> None:
    answer = KEEPS_STATE ^ {wrong}  # flip one snippet
    report = check_spot_the_state(answer)
    assert not report.passed
    text = report.text()
    assert "1 of the 6 snippets are judged wrong" in text
    # no verdict, no explanation, not even which one: each is a yes or a no
    assert all(snippet.why not in text for snippet in SNIPPETS)
    assert "keeps state" not in text and f"snippet {wrong}" not in text
    snippet = SNIPPETS[wrong - 1]
    assert snippet.why in report.closer_hint()  # on a later attempt, or on request


def test_a_passing_answer_explains_every_snippet() -> None:
    text = check_spot_the_state(KEEPS_STATE).text()
    assert all(snippet.why in text for snippet in SNIPPETS)


def test_every_snippet_is_either_answer_and_the_split_is_even() -> None:
    assert {s.number for s in SNIPPETS if s.keeps_state} == KEEPS_STATE
    assert len(KEEPS_STATE) == 3  # guessing "all" or "none" fails


@pytest.mark.parametrize("answer", [{1, 2, 3, 4, 5, 6}, {1, 3, 5, 7}, {0}])
def test_over_answering_fails(answer: set[int]) -> None:
    assert not check_spot_the_state(answer).passed


@pytest.mark.parametrize("answer", [None, "135", 135, {1.0, 3.0}, [True], object(), {None}])
def test_a_malformed_answer_is_reported_not_raised(answer: object) -> None:
    report = check_spot_the_state(answer)
    assert not report.passed
    assert "set of snippet numbers" in report.text()


def test_the_snippets_print_numbered(capsys: pytest.CaptureFixture[str]) -> None:
    show_snippets()
    out = capsys.readouterr().out
    assert all(f"# --- snippet {n}: " in out for n in range(1, 7))
    assert all(snippet.code in out for snippet in SNIPPETS)
