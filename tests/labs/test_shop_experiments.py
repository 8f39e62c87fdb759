"""Lesson 13's two-instance table: the starter shop keeps every kind of state in the instance
(B knows none of it, a restart empties A); the reference solution shares every kind."""

from __future__ import annotations

from lab_stores import fresh_store

from labs.shop_experiments import asked_table, one_user_two_instances


def test_the_starter_keeps_everything_in_the_instance() -> None:
    asked = {row.kind: row for row in one_user_two_instances("shop")}
    assert [(row.on_a, row.on_b, row.a_restarted) for row in asked.values()] == [
        ("200 alice", "401", "401"),
        ("2 × book-1", "401", "401"),
        ("6 left", "9 left", "9 left"),
        ("200, 15 bytes", "404", "404"),
        ("200 done", "404", "404"),
        ("201", "201: 2 charges in all", "0 charges kept"),
    ]


def test_the_solution_shares_every_kind() -> None:
    asked = one_user_two_instances("labs.solutions.capstone_shop", redis=fresh_store())
    assert [(row.on_a, row.on_b, row.a_restarted) for row in asked] == [
        ("200 alice", "200 alice", "200 alice"),
        ("2 × book-1", "2 × book-1", "2 × book-1"),
        ("6 left", "5 left", "4 left"),  # one counter: every ask spends one more
        ("200, 15 bytes", "200, 15 bytes", "200, 15 bytes"),
        ("200 queued", "200 queued", "200 queued"),  # no worker in this process: still queued
        ("201", "201 replayed: 1 charge in all", "1 charge kept"),
    ]


def test_the_table_has_a_row_per_kind_and_aligned_columns() -> None:
    lines = asked_table(one_user_two_instances("shop")).splitlines()
    assert len(lines) == 7 and lines[0].split() == ["asked", "A", "asked", "B", "A,", "restarted"]
    column = lines[0].index("asked B")
    assert all(line[column - 2 : column] == "  " for line in lines[1:])
