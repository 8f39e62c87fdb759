"""Lesson 12's check fails on the starter as stored in the notebook, passes on the solution and on
right answers written differently, and fails the plausible wrong ideas: counting commands for
round trips, trusting a cookie with any cart, believing a logout ends a token's copies, and
choices the measured numbers rule out."""

from __future__ import annotations

import numpy
import pytest
from notebook_cells import run_starter

from labs.exercises.ex12_session_design import SERVICES, check_session_choice, fits
from labs.price_experiments import sessions_three_ways
from labs.solutions.ex12_session_design import CHOICES, needs

LESSON = "12_the_price_of_statelessness.ipynb"


@pytest.fixture(scope="module")
def rows():
    return sessions_three_ways()


def test_check_fails_on_the_stored_starter(rows) -> None:
    starter = run_starter(LESSON)
    report = check_session_choice(starter["needs"], starter["CHOICES"], rows)
    assert not report.passed
    assert report.hint and "me_round_trips" not in report.text()  # the idea, not the code


def test_check_passes_on_the_solution(rows) -> None:
    report = check_session_choice(needs, CHOICES, rows)
    assert report.passed, report.text()
    assert sum("meets its needs" in line.message for line in report.lines) == len(SERVICES)


def test_the_measured_table_leaves_each_service_a_real_choice(rows) -> None:
    """Each service has a design that fits and one that does not: a choice is needed."""
    for service in SERVICES:
        fitting = [row.design for row in rows if fits(row, service)]
        assert 0 < len(fitting) < len(rows), (service.name, fitting)


def test_right_answers_written_differently_pass(rows) -> None:
    def spelled_out(costs, service):
        if costs.lines_in_4kb is None:
            fits_cart = True
        else:
            fits_cart = not service.cart_lines > costs.lines_in_4kb
        return {
            "logout_is_immediate": costs.copy_after_logout == 401,
            "cart_fits": fits_cart,
            "store_trips_per_second": float(costs.me_round_trips * service.requests_per_second),
        }

    other_choices = {
        "bank": (
            "JWT + denylist",
            "the denylist refuses a stolen token at once, on every instance",
        ),
        "shop": ("JWT + denylist", "its cart of 150 lines lives in Redis, not in the 4 KB header"),
        "docs": (
            "encrypted cookie",
            "no store round trip at 20,000 requests a second, and private",
        ),
    }

    def numpy_truths(costs, service):
        return {
            name: numpy.bool_(v) if v in (True, False) and name != "store_trips_per_second" else v
            for name, v in needs(costs, service).items()
        }

    assert check_session_choice(spelled_out, CHOICES, rows).passed
    assert check_session_choice(needs, other_choices, rows).passed
    assert check_session_choice(numpy_truths, CHOICES, rows).passed
    as_lists = {service: list(choice) for service, choice in CHOICES.items()}
    assert check_session_choice(needs, as_lists, rows).passed


WRONG_NEEDS = {
    "commands, not round trips": lambda c, s: {
        **needs(c, s),
        "store_trips_per_second": s.requests_per_second * c.me_commands,
    },
    "a cookie holds any cart": lambda c, s: {**needs(c, s), "cart_fits": True},
    "the shop's own 50-line limit": lambda c, s: {**needs(c, s), "cart_fits": s.cart_lines <= 50},
    # right for the three services' carts (0 and 150 lines) by luck, wrong at the edges
    "the 50-line setting, Redis aside": lambda c, s: {
        **needs(c, s),
        "cart_fits": c.lines_in_4kb is None or s.cart_lines <= 50,
    },
    "a cookie holds no cart": lambda c, s: {
        **needs(c, s),
        "cart_fits": c.lines_in_4kb is None or s.cart_lines == 0,
    },
    "one line short": lambda c, s: {
        **needs(c, s),
        "cart_fits": c.lines_in_4kb is None or s.cart_lines < c.lines_in_4kb,
    },
    "only a Redis session can be revoked": lambda c, s: {
        **needs(c, s),
        "logout_is_immediate": c.design == "Redis session",
    },
    "a logout always ends it": lambda c, s: {**needs(c, s), "logout_is_immediate": True},
    "a cookie costs the store a read": lambda c, s: {
        **needs(c, s),
        "store_trips_per_second": s.requests_per_second * max(1, c.me_round_trips),
    },
}


@pytest.mark.parametrize("idea", sorted(WRONG_NEEDS))
def test_wrong_ideas_of_the_numbers_fail(rows, idea: str) -> None:
    report = check_session_choice(WRONG_NEEDS[idea], CHOICES, rows)
    assert not report.passed, idea


@pytest.mark.parametrize(
    ("service", "design"),
    [
        ("bank", "signed cookie"),
        ("shop", "encrypted cookie"),
        ("shop", "signed cookie"),
        ("docs", "Redis session"),
        ("docs", "JWT + denylist"),
    ],
)
def test_choices_the_numbers_rule_out_fail(rows, service: str, design: str) -> None:
    choices = {**CHOICES, service: (design, "it seemed the simplest thing to run for us")}
    report = check_session_choice(needs, choices, rows)
    assert not report.passed
    assert f"{service}: {design} meets its needs: it does not" in report.text()


def test_bad_answers_are_reported_not_raised(rows) -> None:
    crashing = check_session_choice(lambda c, s: 1 / 0, CHOICES, rows)
    assert not crashing.passed and "ZeroDivisionError" in crashing.text()
    not_a_dict = check_session_choice(lambda c, s: 42, CHOICES, rows)
    assert not not_a_dict.passed and "not a dict" in not_a_dict.text()
    missing = check_session_choice(lambda c, s: {"cart_fits": True}, CHOICES, rows)
    assert not missing.passed and "no 'store_trips_per_second'" in missing.text()
    text_number = check_session_choice(
        lambda c, s: {**needs(c, s), "store_trips_per_second": "2000"}, CHOICES, rows
    )
    assert not text_number.passed
    for choices, message in [
        ({**CHOICES, "bank": "Redis session"}, "must be (design, why)"),
        (
            {**CHOICES, "bank": ("memcached", "because it is what we already run here")},
            "is not one",
        ),
        ({**CHOICES, "bank": ("Redis session", "fast")}, "at least 6 words"),
        (["Redis session"], "must be a dict"),
        (
            {**CHOICES, "bank": (["Redis session"], "a list is not the name of any design")},
            "is not one",
        ),
    ]:
        report = check_session_choice(needs, choices, rows)
        assert not report.passed and message in report.text(), message


def test_a_table_of_other_rows_is_reported_not_raised(rows) -> None:
    for table in (rows[:2], {row.design: row for row in rows}, "sessions", [1, 2, 3, 4]):
        report = check_session_choice(needs, CHOICES, table)
        assert not report.passed and len(report.lines) == 1
        assert "the table must be section 4's sessions (one row per design" in report.text()
