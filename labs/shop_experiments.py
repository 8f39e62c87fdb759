"""Lesson 13's first experiment: one user, two instances of a shop, every kind of state asked.

:func:`one_user_two_instances` runs two instances of a shop in this process
(:class:`labs.cluster.LocalCluster`, each its own ``create_app`` call) and has alice do one thing
of each kind on A: log in, fill her cart, spend quota, upload a file, start a job, pay. Then it
asks B for each, with a session of her own on B (so a missing session does not hide the rest),
and asks A again after A has restarted. :func:`asked_table` prints what came back: for the
starter shop every line of B is a miss, and a restart empties A.

Only the starter runs here (it needs nothing outside the process); the audit
(:mod:`labs.audit`) runs any shop as real processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from flask.testing import FlaskClient

from labs.apps.quota_app import HeldClock
from labs.apps.users import login_body
from labs.cluster import LocalCluster

KEY = "order-1001"  # alice's Idempotency-Key for one payment
JOB_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Asked:
    """One kind of state: what A, B and A after a restart answered about it."""

    kind: str
    on_a: str
    on_b: str
    a_restarted: str


def _client(cluster: LocalCluster, instance: str, user: str = "alice") -> FlaskClient:
    client = cluster.apps[instance].test_client()
    answer = client.post("/login", json=login_body(user))
    if answer.status_code != 200:
        raise RuntimeError(f"{user} could not log in on {instance}: {answer.status_code}")
    return client


def _cart(client: FlaskClient) -> str:
    answer = client.get("/cart")
    if answer.status_code != 200:
        return str(answer.status_code)
    items = answer.get_json()["items"]
    return ", ".join(f"{qty} × {sku}" for sku, qty in items.items()) or "empty"


def _remaining(client: FlaskClient) -> str:
    answer = client.get("/quota")
    if answer.status_code != 200:
        return str(answer.status_code)
    return f"{answer.get_json()['remaining']} left"


def _found(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    body = answer.get_json(silent=True) or {}
    if answer.status_code == 200 and "status" in body:
        return f"200 {body['status']}"
    return str(answer.status_code)


def _pay(client: FlaskClient) -> str:
    answer = client.post(
        "/payments",
        json={"amount_cents": 1999, "currency": "EUR"},
        headers={"Idempotency-Key": KEY},
    )
    replayed = " replayed" if answer.headers.get("Idempotent-Replayed") == "true" else ""
    return f"{answer.status_code}{replayed}"


def _charges(*clients: FlaskClient) -> int:
    """The charges the instances of ``clients`` report, told apart by payment id (a shared
    ledger is one list; ledgers kept in each instance add up)."""
    ids = set()
    for client in clients:
        answer = client.get("/payments")
        if answer.status_code == 200:
            ids |= {charge["payment_id"] for charge in answer.get_json()["payments"]}
    return len(ids)


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def one_user_two_instances(
    app: str = "shop", config: dict[str, Any] | None = None, redis: Any = None
) -> list[Asked]:
    """Alice's state, made on A, asked of A, of B, and of A once it has restarted (a shop that
    uses Redis gets ``redis``, else the §5 store). The quota's clock is held still at the start
    of an hour (so of any window that divides one): no window ends between two asks."""
    config = {"CLOCK": HeldClock.in_next_window(3600), **(config or {})}
    cluster = LocalCluster(app, instances=2, config=config, redis=redis)
    a, b = _client(cluster, "A"), _client(cluster, "B")
    a_cookie = cluster.apps["B"].test_client()  # B, shown the cookie A gave alice
    a_cookie.set_cookie("session", a.get_cookie("session").value)
    a.post("/cart/items", json={"sku": "book-1", "qty": 2})
    for _ in range(3):
        a.get("/quota")
    upload = {"file": (BytesIO(b"alice's receipt"), "receipt.txt", "text/plain")}
    file_url = a.post("/files", data=upload, content_type="multipart/form-data").get_json()["url"]
    job_id = a.post("/jobs", json={"kind": "echo", "params": {"n": 1}}).get_json()["job_id"]
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    while _found(a, f"/jobs/{job_id}") != "200 done" and time.monotonic() < deadline:
        time.sleep(0.01)
    paid_on_a, paid_on_b = _pay(a), _pay(b)
    charges = _charges(a, b)
    rows = [
        ("session (alice's cookie)", _found_me(a), _found_me(a_cookie)),
        ("cart (alice's cookie)", _cart(a), _cart(a_cookie)),
        ("quota: 3 requests on A, one more", _remaining(a), _remaining(b)),
        ("file uploaded to A", _found_file(a, file_url), _found_file(b, file_url)),
        ("job started on A", _found(a, f"/jobs/{job_id}"), _found(b, f"/jobs/{job_id}")),
        (f"payment, key {KEY}", paid_on_a, f"{paid_on_b}: {_count(charges, 'charge')} in all"),
    ]
    cluster.restart("A")
    fresh = cluster.apps["A"].test_client()
    fresh.set_cookie("session", a.get_cookie("session").value)
    again = _client(cluster, "A")
    after = [
        _found_me(fresh),
        _cart(fresh),
        _remaining(again),
        _found_file(again, file_url),
        _found(again, f"/jobs/{job_id}"),
        f"{_count(_charges(again), 'charge')} kept",
    ]
    return [
        Asked(kind, on_a, on_b, later)
        for (kind, on_a, on_b), later in zip(rows, after, strict=True)
    ]


def _found_me(client: FlaskClient) -> str:
    answer = client.get("/me")
    return f"200 {answer.get_json()['user']}" if answer.status_code == 200 else "401"


def _found_file(client: FlaskClient, url: str) -> str:
    answer = client.get(url)
    return (
        f"200, {len(answer.data)} bytes" if answer.status_code == 200 else str(answer.status_code)
    )


def asked_table(asked: list[Asked]) -> str:
    """The answers as a table: one kind of state per row."""
    rows = [("", "asked A", "asked B", "A, restarted")]
    rows += [(row.kind, row.on_a, row.on_b, row.a_restarted) for row in asked]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
