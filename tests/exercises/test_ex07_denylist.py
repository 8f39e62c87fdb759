"""Lesson 07's check fails on the starter as stored in the notebook and passes on the solution."""

import math

import pytest
from notebook_cells import run_starter

from labs.apps.jwt_app import is_revoked as app_is_revoked
from labs.apps.jwt_app import revoke as app_revoke
from labs.exercises.ex07_denylist import check_denylist
from labs.solutions.ex07_denylist import is_revoked, revoke


def key(claims: dict) -> str:
    return f"denylist:{claims['iss']}:{claims['jti']}"


def test_check_fails_on_the_stored_starter() -> None:
    starter = run_starter("07_jwt_and_revocation.ipynb")
    report = check_denylist(starter["revoke"], starter["is_revoked"])
    assert not report.passed
    assert "never expires" in report.text()
    assert report.hint and "ex=" not in report.hint and "ex=" in report.code_hint


def test_check_passes_on_the_solution() -> None:
    report = check_denylist(revoke, is_revoked)
    assert report.passed
    assert len(report.lines) == 10 and all(line.ok for line in report.lines)


def test_check_passes_on_the_apps_own_functions_with_its_leeway() -> None:
    report = check_denylist(lambda s, c, now: app_revoke(s, c, now, leeway=5), app_is_revoked)
    assert report.passed, report.text()


def test_check_passes_right_answers_written_differently() -> None:
    def in_milliseconds(store, claims, now):  # px, to the millisecond: not rounded up
        store.set(key(claims), "1", px=max(1000, math.ceil((claims["exp"] + 5 - now) * 1000)))

    def with_int_plus_one(store, claims, now):  # rounds up where the time is not whole
        store.set(key(claims), claims["sub"], ex=max(1, int(claims["exp"] + 5 - now) + 1))

    for right in (in_milliseconds, with_int_plus_one):
        assert check_denylist(right, is_revoked).passed, right.__name__


def test_check_fails_an_entry_that_ends_at_exp_and_ignores_the_leeway() -> None:
    # the token would be accepted again for its last seconds, by every instance
    report = check_denylist(lambda s, c, now: app_revoke(s, c, now, leeway=0), app_is_revoked)
    assert not report.passed and "600.4 s left + 5 s of leeway" in report.text()


def test_check_fails_a_ttl_without_a_floor_for_a_logout_inside_the_leeway() -> None:
    def no_floor(store, claims, now):
        store.set(key(claims), "1", ex=math.ceil(claims["exp"] + 5 - now))

    report = check_denylist(no_floor, is_revoked)
    assert not report.passed and "ResponseError" in report.text()  # Redis: invalid expire time


def test_check_catches_the_full_ttl_instead_of_the_remaining_lifetime() -> None:
    report = check_denylist(lambda s, c, now: s.set(key(c), "1", ex=900), is_revoked)
    assert not report.passed
    assert "yours: 900 s" in report.text()


def test_check_catches_a_ttl_in_milliseconds() -> None:
    def milliseconds(store, claims, now):
        store.set(key(claims), "1", px=max(1, math.ceil(claims["exp"] - now)))

    assert not check_denylist(milliseconds, is_revoked).passed


def test_check_catches_a_zero_ttl_for_a_nearly_expired_token() -> None:
    report = check_denylist(
        lambda s, c, now: s.set(key(c), "1", ex=int(c["exp"] - now)), is_revoked
    )
    assert not report.passed
    assert "ResponseError" in report.text()


def test_check_catches_rounding_down() -> None:
    def rounds_down(store, claims, now):
        store.set(key(claims), "1", ex=max(1, math.floor(claims["exp"] - now)))

    assert not check_denylist(rounds_down, is_revoked).passed


def test_check_catches_a_key_without_the_issuer() -> None:
    def no_issuer(store, claims, now):
        store.set(f"denylist:{claims['jti']}", "1", ex=max(1, math.ceil(claims["exp"] - now)))

    def no_issuer_lookup(store, claims):
        return bool(store.exists(f"denylist:{claims['jti']}"))

    report = check_denylist(no_issuer, no_issuer_lookup)
    assert not report.passed


@pytest.mark.parametrize("answer", [True, 1, None])
def test_check_catches_is_revoked_that_does_not_look(answer: object) -> None:
    assert not check_denylist(revoke, lambda store, claims: answer).passed


def test_check_reports_instead_of_raising() -> None:
    def broken(store, claims, now):
        raise KeyError("exp")

    report = check_denylist(broken, is_revoked)
    assert not report.passed
    assert "KeyError" in report.text()


def test_check_fails_a_denylist_this_process_remembers() -> None:
    """revoke() writes the right entry, but is_revoked() asks a set in this process: another
    instance's logout never reaches it, and an expired entry is still refused."""
    remembered: set[str] = set()

    def revoke_and_remember(store, claims, now):
        revoke(store, claims, now)
        remembered.add(key(claims))

    report = check_denylist(revoke_and_remember, lambda store, claims: key(claims) in remembered)
    assert not report.passed
    failed = [line.message for line in report.lines if not line.ok]
    assert failed[0].startswith("is_revoked(): a token another instance revoked is refused")
    assert failed[1].startswith("is_revoked(): the logged-out token, once its entry expired")
