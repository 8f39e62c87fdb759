"""Lesson 10's payments app: charges in three recorded steps; with IDEMPOTENCY "on" a key makes
retries, replays and concurrent duplicates one charge, a lapsed lease is resumed without charging
again, and bad input charges nothing. Fakeredis, or the real server of ``REDIS_URL``."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from lab_stores import SECRETS, fresh_store

from labs.apps import payments_app
from labs.apps.users import login_body
from labs.cluster.process import find_nginx

PREFIX = "test-pay:"
PAY = {"amount_cents": 1250, "currency": "EUR"}


@pytest.fixture
def store() -> redis.Redis:
    return fresh_store()


def app(store: redis.Redis, instance: str = "A", **config):
    settings = {**SECRETS, "KEY_PREFIX": PREFIX, **config}
    return payments_app.create_app(instance, redis=store, config=settings)


def client_of(flask_app, user: str = "alice"):
    client = flask_app.test_client()
    assert client.post("/login", json=login_body(user)).status_code == 200
    return client


def pay(client, key: str | None = "key-1", body: dict | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/payments", json=PAY if body is None else body, headers=headers)


def charges(client) -> list[dict]:
    return client.get("/payments").get_json()["payments"]


def test_a_payment_is_201_and_listed_once(store: redis.Redis) -> None:
    client = client_of(app(store))
    answer = pay(client)
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer.headers
    body = answer.get_json()
    assert body == {**PAY, "payment_id": body["payment_id"], "status": "confirmed"}
    assert [c["payment_id"] for c in charges(client)] == [body["payment_id"]]


def test_the_same_key_and_body_replay_the_stored_answer(store: redis.Redis) -> None:
    a, b = client_of(app(store, "A")), client_of(app(store, "B"))
    first = pay(a)
    again = pay(b)  # another instance, same user and key
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert len(charges(a)) == 1


def test_the_same_key_with_another_body_is_422_and_charges_nothing(store: redis.Redis) -> None:
    client = client_of(app(store))
    pay(client)
    answer = pay(client, body={"amount_cents": 999, "currency": "EUR"})
    assert answer.status_code == 422 and "another body" in answer.get_json()["error"]
    assert len(charges(client)) == 1


def test_the_same_key_while_its_lease_is_held_is_409(store: redis.Redis) -> None:
    client = client_of(app(store))
    store.set(f"{PREFIX}idem-lease:alice:" + hash_of("busy"), "someone", px=10_000)
    answer = pay(client, key="busy")
    assert answer.status_code == 409 and "in progress" in answer.get_json()["error"]
    assert charges(client) == []


def hash_of(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()


def test_a_lapsed_lease_is_resumed_from_its_step_without_a_second_charge(
    store: redis.Redis,
) -> None:
    client = client_of(app(store))
    # What a holder that died right after the charge leaves: the record at "charged", the
    # charge made, and no lease (it lapsed).
    record = f"{PREFIX}idem:alice:{hash_of('died')}"
    fp = payments_app.fingerprint(PAY)
    store.hset(
        record, mapping={"fp": fp, "state": "running", "step": "charged", "payment_id": "pay_dead"}
    )
    charge = {"payment_id": "pay_dead", **PAY, "instance": "X"}
    store.rpush(f"{PREFIX}payments:alice", json.dumps(charge))
    answer = pay(client, key="died")
    assert answer.status_code == 201 and answer.get_json()["payment_id"] == "pay_dead"
    assert [c["payment_id"] for c in charges(client)] == ["pay_dead"]  # not charged again
    assert store.hget(record, "state") == "done" and store.hget(record, "step") == "confirmed"


def test_keys_are_scoped_per_user_and_expire_within_a_day(store: redis.Redis) -> None:
    alice, bob = client_of(app(store), "alice"), client_of(app(store), "bob")
    first, second = pay(alice, key="shared-key"), pay(bob, key="shared-key")
    assert first.get_json()["payment_id"] != second.get_json()["payment_id"]
    assert "Idempotent-Replayed" not in second.headers
    assert len(charges(alice)) == len(charges(bob)) == 1
    for key in store.keys(f"{PREFIX}idem:*"):
        assert 0 < store.ttl(key) <= 24 * 3600


def test_concurrent_duplicates_on_three_instances_are_one_charge(store: redis.Redis) -> None:
    apps = [app(store, name) for name in "ABC"]
    clients = [client_of(flask_app) for flask_app in apps for _ in range(3)]
    barrier = threading.Barrier(len(clients))
    answers: list[int] = []

    def duplicate(client) -> None:
        barrier.wait(timeout=5)
        answers.append(pay(client, key="same-payment").status_code)

    threads = [threading.Thread(target=duplicate, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(charges(clients[0])) == 1
    assert set(answers) <= {201, 409} and 201 in answers


def test_without_keys_every_retry_charges_again(store: redis.Redis) -> None:
    client = client_of(app(store, IDEMPOTENCY="off"))
    for _ in range(3):
        assert pay(client, key=None).status_code == 201
    assert len(charges(client)) == 3


@pytest.mark.parametrize(
    ("key", "body"),
    [
        (None, PAY),
        ("", PAY),
        ("x" * 256, PAY),
        ("has space", PAY),
        ("tab\there", PAY),
        ("k", {"amount_cents": 0, "currency": "EUR"}),
        ("k", {"amount_cents": -5, "currency": "EUR"}),
        ("k", {"amount_cents": 12.5, "currency": "EUR"}),
        ("k", {"amount_cents": True, "currency": "EUR"}),
        ("k", {"amount_cents": "100", "currency": "EUR"}),
        ("k", {"amount_cents": payments_app.MAX_AMOUNT_CENTS + 1, "currency": "EUR"}),
        ("k", {"amount_cents": 100, "currency": "eur"}),
        ("k", {"amount_cents": 100}),
        ("k", {"amount_cents": 100, "currency": "EUR", "to": "mallory"}),
    ],
)
def test_bad_input_is_a_400_and_charges_or_saves_nothing(
    store: redis.Redis, key: str | None, body: dict
) -> None:
    client = client_of(app(store))
    answer = pay(client, key=key, body=body)
    assert answer.status_code == 400 and "error" in answer.get_json()
    assert charges(client) == [] and store.keys(f"{PREFIX}idem*") == []
    good = pay(client, key="k")  # a refused request leaves the key free for the real one
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers


def test_payments_need_a_login(store: redis.Redis) -> None:
    client = app(store).test_client()
    assert pay(client).status_code == 401
    assert client.get("/payments").status_code == 401


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"IDEMPOTENCY": "maybe"}, "IDEMPOTENCY must be one of"),
        ({"STEP_DELAY": 11}, "STEP_DELAY"),
        ({"LEASE_SECONDS": 0}, "LEASE_SECONDS"),
    ],
)
def test_bad_settings_stop_the_app(store: redis.Redis, config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        app(store, **config)


# --- the double charge, for real: a balancer that resends a timed-out POST ----------------------


def test_nginx_resends_a_post_only_when_told_non_idempotent(tmp_path) -> None:
    from labs.cluster.process import nginx_config

    members = [("A", 9001), ("B", 9002)]
    default = nginx_config(members, 9000, "round_robin", str(tmp_path), "idempotent", 0.4)
    told = nginx_config(members, 9000, "round_robin", str(tmp_path), "all", 0.4)
    assert "proxy_next_upstream error timeout;" in default
    assert "proxy_next_upstream error timeout non_idempotent;" in told
    assert "proxy_read_timeout 400ms;" in default


NGINX = pytest.mark.skipif(
    find_nginx() is None, reason="nginx is not installed: apt-get install nginx"
)


@pytest.mark.parametrize("balancer", ["python", pytest.param("nginx", marks=NGINX)])
@pytest.mark.parametrize(("retry", "charged"), [("idempotent", 1), ("all", 2)])
def test_a_balancer_resends_a_timed_out_post_only_when_told_to_and_then_charges_twice(
    balancer: str, retry: str, charged: int
) -> None:
    """The Python balancer's retry="all" is nginx's proxy_next_upstream ... non_idempotent."""
    import requests

    from labs.cluster import ProcessCluster

    env = {"IDEMPOTENCY": "off", "ANSWER_DELAY": "1.0"}  # the charge commits, the answer is slow
    with ProcessCluster(
        "payments", instances=2, balancer=balancer, retry=retry, upstream_timeout=0.4, env=env
    ) as cluster:
        session = requests.Session()
        session.post(cluster.url + "/login", json=login_body("alice"), timeout=5)
        answer = session.post(cluster.url + "/payments", json=PAY, timeout=10)
        assert answer.status_code in (502, 504)  # every instance it tried timed out
        time.sleep(1.2)  # let the slow answers finish: their charges were made before them
        # Straight to an instance: a balancer leaves out, for a while, instances that timed out.
        listed = session.get(cluster.instance_urls[0] + "/payments", timeout=5).json()["payments"]
        assert len(listed) == charged
        if balancer == "python":
            assert cluster.balancer.retried["POST"] == charged - 1


# --- a learner's idempotency layer (exercise 10) plugged in with IDEMPOTENCY_LAYER -------------


def test_a_plugged_layer_answers_and_replays_through_the_app(store: redis.Redis) -> None:
    layer = {"IDEMPOTENCY_LAYER": "labs.solutions.ex10_idempotency"}
    a, b = client_of(app(store, "A", **layer)), client_of(app(store, "B", **layer))
    first = pay(a)
    again = pay(b)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(charges(a)) == 1
    assert pay(a, body={**PAY, "amount_cents": 99}).status_code == 422
    assert pay(a, key=None).status_code == 400  # checked by the app before the layer runs
    assert not store.exists(PREFIX + "paying:alice")  # the marker goes with the payment


def test_a_layer_that_answers_nonsense_is_a_json_500_and_one_without_idempotent_stops_the_app(
    store: redis.Redis, tmp_path, monkeypatch
) -> None:
    (tmp_path / "odd_layer.py").write_text("def idempotent(pay):\n    return lambda *a: 'ok'\n")
    (tmp_path / "no_layer.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    answer = pay(client_of(app(store, IDEMPOTENCY_LAYER="odd_layer")))
    assert answer.status_code == 500 and answer.get_json() == {"error": "internal error"}
    with pytest.raises(ValueError, match="IDEMPOTENCY_LAYER module 'no_layer' has no function"):
        app(store, IDEMPOTENCY_LAYER="no_layer")
