"""Lesson 12 exercise: choose a session design for three services, from measured numbers.

The learner writes two things in the notebook:

* ``needs(costs, service)``: for one session design (``costs``, a row of
  :func:`labs.price_experiments.sessions_three_ways`' table) and one service, the three numbers a
  choice rests on: the store round trips per second the service's requests would make, whether
  its largest cart fits, whether a logout ends every copy of the credential at once;
* ``CHOICES``: for each service, the design chosen and one sentence saying why.

The check compares ``needs`` with the measured table for every design and service (the numeric
part: it cannot be passed with a wrong idea of what a design costs), then checks that each choice
meets its service's needs *by the measured numbers*. More than one design may fit a service;
the sentence is for the learner and the instructor: the check only asks that there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labs.checking import CheckReport, is_number, is_truth
from labs.price_experiments import DESIGNS, SessionCosts, sessions_three_ways


@dataclass(frozen=True)
class Service:
    """A service to choose for, as its team describes it."""

    name: str
    requests_per_second: float  # authenticated requests (each a GET /me: the session read)
    cart_lines: int  # the largest session it must keep: cart lines of 32-character SKUs
    immediate_logout: bool  # a logout must end every copy of the session now
    store_optional: bool  # it must keep serving logged-in users while the store is down
    story: str


SERVICES = (
    Service(
        "bank",
        2_000,
        0,
        True,
        False,
        "online banking: 2,000 requests/s; when a customer logs out, every copy of that "
        "session (one copied by malware, one left in a log) must stop working at once",
    ),
    Service(
        "shop",
        400,
        150,
        False,
        False,
        "a wholesale shop: 400 requests/s; buyers keep carts of up to 150 lines; a cart that "
        "vanishes loses the order",
    ),
    Service(
        "docs",
        20_000,
        0,
        False,
        True,
        "a documentation site with logins for comments: 20,000 requests/s at peak; the store "
        "goes down for maintenance and logged-in readers must not notice; the team accepts "
        "that a copy of a comment login may work on after logout",
    ),
)
NEEDS = ("store_trips_per_second", "cart_fits", "logout_is_immediate")
MIN_WHY_WORDS = 6

Needs = Callable[[SessionCosts, Service], Mapping[str, Any]]

HINT = (
    "Read each number off the table: a design's store round trips for one GET /me, times the "
    "service's requests per second; a cart fits if the design keeps it in Redis or its 4 KB "
    "cookie holds that many lines; a logout is immediate only if a copy kept afterwards is "
    "refused.",
    "store_trips_per_second = service.requests_per_second * costs.me_round_trips; cart_fits = "
    "costs.lines_in_4kb is None or service.cart_lines <= costs.lines_in_4kb; "
    "logout_is_immediate = costs.revocable",
)
CHOICE_HINT = (
    "A design fits a service when its cart fits, when it can end a session at once if the "
    "service needs that, and when it makes no store call if the service must run without its "
    "store. Your needs() gives exactly these numbers.",
    None,
)


def reference_needs(costs: SessionCosts, service: Service) -> dict[str, Any]:
    """What the measured table says (the check's side)."""
    return {
        "store_trips_per_second": service.requests_per_second * costs.me_round_trips,
        "cart_fits": costs.lines_in_4kb is None or service.cart_lines <= costs.lines_in_4kb,
        "logout_is_immediate": costs.revocable,
    }


def fits(costs: SessionCosts, service: Service) -> bool:
    """Whether a design meets a service's needs, by the measured numbers."""
    need = reference_needs(costs, service)
    return (
        need["cart_fits"]
        and (need["logout_is_immediate"] or not service.immediate_logout)
        and (need["store_trips_per_second"] == 0 or not service.store_optional)
    )


def _same(name: str, got: Any, expected: Any) -> bool:
    if name == "store_trips_per_second":
        return is_number(got) and abs(float(got) - expected) <= 1e-9 * max(1.0, expected)
    return is_truth(got) and bool(got) == expected


def _probes(rows: list[SessionCosts]) -> tuple[Service, ...]:
    """The three services, then carts the check asks about without offering them for a choice:
    at the shop's 50-line setting and one past it, at what each cookie holds and one past it.
    A rule that is right for 0 and 150 lines by luck (<= 50, == 0, < instead of <=) fails here."""
    edges = {50, 51}
    for costs in rows:
        if costs.lines_in_4kb is not None:
            edges |= {costs.lines_in_4kb, costs.lines_in_4kb + 1}
    carts = tuple(
        Service(f"a {lines}-line cart", 100, lines, False, False, "a probe of the check")
        for lines in sorted(edges)
    )
    return SERVICES + carts


def _check_needs(report: CheckReport, needs: Needs, rows: list[SessionCosts]) -> None:
    services = _probes(rows)
    for costs in rows:
        wrong: list[str] = []
        for service in services:
            before = len(report.lines)
            got = report.attempt(
                f"needs({costs.design!r}, {service.name!r})",
                lambda costs=costs, service=service: needs(costs, service),
                *HINT,
            )
            if len(report.lines) > before:
                break
            if not isinstance(got, Mapping):
                wrong.append(f"{service.name}: needs() returned {got!r}, not a dict")
                continue
            expected = reference_needs(costs, service)
            for name in NEEDS:
                if name not in got:
                    wrong.append(f"{service.name}: no {name!r}")
                elif not _same(name, got[name], expected[name]):
                    wrong.append(
                        f"{service.name}: {name} {got[name]!r}, measured {expected[name]!r}"
                    )
        else:
            report.expect(
                not wrong,
                f"{costs.design}: "
                + ("every number as measured" if not wrong else "; ".join(wrong[:2])),
                *HINT,
            )


def _check_choices(report: CheckReport, choices: Any, rows: list[SessionCosts]) -> None:
    by_name = {costs.design: costs for costs in rows}
    if not isinstance(choices, Mapping):
        report.expect(False, f"CHOICES must be a dict {{service: (design, why)}}, not {choices!r}")
        return
    for service in SERVICES:
        choice = choices.get(service.name)
        if not (isinstance(choice, (tuple, list)) and len(choice) == 2):
            report.expect(False, f"{service.name}: CHOICES[{service.name!r}] must be (design, why)")
            continue
        design, why = choice
        if not isinstance(design, str) or design not in by_name:
            report.expect(False, f"{service.name}: {design!r} is not one of {sorted(by_name)}")
            continue
        words = len(why.split()) if isinstance(why, str) else 0
        report.expect(
            words >= MIN_WHY_WORDS,
            f"{service.name}: a why of at least {MIN_WHY_WORDS} words"
            + ("" if words >= MIN_WHY_WORDS else f" (yours: {why!r})"),
            "Say which number decided it.",
        )
        suitable = [name for name, costs in by_name.items() if fits(costs, service)]
        report.expect(
            fits(by_name[design], service),
            f"{service.name}: {design} meets its needs"
            + (
                ""
                if design in suitable
                else f": it does not ({_why_not(by_name[design], service)})"
            ),
            *CHOICE_HINT,
        )


def _why_not(costs: SessionCosts, service: Service) -> str:
    need = reference_needs(costs, service)
    if not need["cart_fits"]:
        return f"{service.cart_lines} lines, its cookie holds {costs.lines_in_4kb}"
    if service.immediate_logout and not need["logout_is_immediate"]:
        return "a copy of its credential still works after logout"
    return (
        f"{need['store_trips_per_second']:g} store round trips/s on a store that must be optional"
    )


def _is_table(rows: Any, designs: list[str]) -> bool:
    return (
        isinstance(rows, (list, tuple))
        and all(isinstance(costs, SessionCosts) for costs in rows)
        and [costs.design for costs in rows] == designs
    )


def check_session_choice(
    needs: Needs,
    choices: Any,
    rows: list[SessionCosts] | None = None,
    *,
    hint: bool = False,
) -> CheckReport:
    """Check ``needs`` against the measured table (``rows``, measured now if not given), then
    each of ``choices``."""
    report = CheckReport("Exercise 12 · Choose a session design", closer=hint)
    measured = rows if rows is not None else sessions_three_ways()
    designs = [design.name for design in DESIGNS]
    if not _is_table(measured, designs):
        report.expect(
            False,
            f"the table must be section 4's sessions (one row per design: {', '.join(designs)}), "
            f"not {measured!r:.80}",
            "Run section 4's cell again (sessions = sessions_three_ways()) and pass its sessions.",
        )
        return report.show()
    _check_needs(report, needs, measured)
    if report.passed:
        _check_choices(report, choices, measured)
    return report.show()
