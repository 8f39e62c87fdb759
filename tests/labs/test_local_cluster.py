"""LocalCluster: N instances in one process behind round robin, random or sticky routing.

The headline (lessons 01 and 02): behind round robin, the stateful app logs a user out on the
very next request, the stateless app does not.
"""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from flask import Flask, jsonify

from labs.apps import stateful_app, stateless_app
from labs.cluster.local import POLICIES, ROUTE_COOKIE, ClusterClient, LocalCluster, describe

ALICE = {"username": "alice", "password": "wonderland"}


def login(browser: ClusterClient, credentials: dict[str, str] = ALICE):
    response = browser.post("/login", json=credentials)
    assert response.status_code == 200
    return response


# --- the headline ----------------------------------------------------------------------------


def test_stateful_behind_round_robin_logs_the_user_out_on_the_next_request() -> None:
    cluster = LocalCluster(stateful_app, instances=2, policy="round_robin")
    browser = cluster.client()
    assert login(browser).headers["X-Instance"] == "A"
    me = browser.get("/me")
    assert me.headers["X-Instance"] == "B"
    assert me.status_code == 401
    assert browser.get("/me").status_code == 200  # back on A, which holds the session


def test_stateless_behind_round_robin_keeps_the_user_logged_in(store: redis.Redis) -> None:
    cluster = LocalCluster(stateless_app, instances=2, policy="round_robin", redis=store)
    browser = cluster.client()
    assert login(browser).headers["X-Instance"] == "A"
    me = browser.get("/me")
    assert me.headers["X-Instance"] == "B"
    assert me.status_code == 200
    assert me.get_json() == {"user": "alice", "instance": "B"}


@pytest.mark.parametrize("instances", [2, 3, 5])
def test_round_robin_miss_rate_is_exactly_one_minus_one_over_n(
    instances: int, store: redis.Redis
) -> None:
    """One user, round robin: only every N-th request comes back to the login instance."""
    results = {}
    for module in (stateful_app, stateless_app):
        cluster = LocalCluster(module, instances=instances, redis=store)
        browser = cluster.client()
        login(browser)
        statuses = [browser.get("/me").status_code for _ in range(instances * 10)]
        results[module] = Counter(statuses)
    assert results[stateful_app] == {401: (instances - 1) * 10, 200: 10}
    assert results[stateless_app] == {200: instances * 10}


# --- routing policies ------------------------------------------------------------------------


def test_round_robin_takes_turns_across_browsers() -> None:
    cluster = LocalCluster(stateful_app, instances=3)
    first, second = cluster.client(), cluster.client()
    served = [b.get("/healthz").headers["X-Instance"] for b in (first, second, first, second)]
    assert served == ["A", "B", "C", "A"]
    assert cluster.requests_per_instance == {"A": 2, "B": 1, "C": 1}
    assert first.history == ["A", "C"] and second.history == ["B", "A"]


def test_random_is_seeded_and_spreads_requests() -> None:
    def route(seed: int) -> list[str]:
        cluster = LocalCluster(stateful_app, instances=3, policy="random", seed=seed)
        browser = cluster.client()
        return [browser.get("/healthz").headers["X-Instance"] for _ in range(300)]

    assert route(7) == route(7)
    assert route(7) != route(8)
    counts = Counter(route(7))
    # 300 uniform picks of 3: each count is Binomial(300, 1/3), sd ≈ 8.2; 60..140 is > 4.8 sd.
    assert set(counts) == {"A", "B", "C"} and all(60 < n < 140 for n in counts.values())


def test_sticky_pins_a_user_to_the_instance_that_created_the_session() -> None:
    cluster = LocalCluster(stateful_app, instances=3, policy="sticky")
    cluster.client().get("/healthz")  # someone else's request: A. The pool's next turn is B.
    browser = cluster.client()
    response = login(browser)
    assert response.headers["X-Instance"] == "B"
    assert f"{ROUTE_COOKIE}=B; Path=/; HttpOnly; SameSite=Lax" in response.headers.getlist(
        "Set-Cookie"
    )
    assert browser.cookies[ROUTE_COOKIE] == "B"
    answers = [browser.get("/me") for _ in range(6)]
    assert {(r.status_code, r.headers["X-Instance"]) for r in answers} == {(200, "B")}
    assert all("Set-Cookie" not in r.headers for r in answers)  # pinned already: no new cookie


def test_sticky_sends_users_without_a_route_cookie_to_the_pool() -> None:
    cluster = LocalCluster(stateful_app, instances=2, policy="sticky")
    browsers = [cluster.client() for _ in range(4)]
    homes = [login(b).headers["X-Instance"] for b in browsers]
    assert homes == ["A", "B", "A", "B"]
    for browser, home in zip(browsers, homes, strict=True):
        assert browser.get("/me").get_json() == {"user": "alice", "instance": home}


def test_sticky_reroutes_a_route_cookie_naming_no_instance() -> None:
    cluster = LocalCluster(stateful_app, instances=2, policy="sticky")
    browser = cluster.client()
    browser.cookies[ROUTE_COOKIE] = "Z"  # a stale or forged routing cookie
    response = browser.get("/healthz")
    assert response.status_code == 200
    assert browser.cookies[ROUTE_COOKIE] == response.headers["X-Instance"] == "A"


def test_sticky_survives_nothing_a_restart_loses() -> None:
    cluster = LocalCluster(stateful_app, instances=2, policy="sticky")
    browser = cluster.client()
    login(browser)
    cluster.restart("A")
    assert browser.get("/me").status_code == 401  # pinned to A, and A forgot everything


def test_a_restart_of_a_stateless_instance_loses_nothing(store: redis.Redis) -> None:
    cluster = LocalCluster("stateless", instances=2, policy="sticky", redis=store)
    browser = cluster.client()
    login(browser)
    cluster.restart("A")
    assert browser.get("/me").status_code == 200


# --- the browser -------------------------------------------------------------------------------


def test_the_browser_forgets_a_deleted_cookie() -> None:
    cluster = LocalCluster(stateful_app, instances=1)
    browser = cluster.client()
    login(browser)
    assert set(browser.cookies) == {"session"}
    assert browser.post("/logout").status_code == 204
    assert browser.cookies == {}
    assert browser.get("/me").status_code == 401


def test_browsers_have_separate_cookie_jars(store: redis.Redis) -> None:
    cluster = LocalCluster(stateless_app, instances=2, redis=store)
    alice, bob = cluster.client(), cluster.client()
    login(alice)
    login(bob, {"username": "bob", "password": "builder"})
    assert alice.get("/me").get_json()["user"] == "alice"
    assert bob.get("/me").get_json()["user"] == "bob"


def test_the_browser_passes_bodies_headers_and_methods_through(store: redis.Redis) -> None:
    cluster = LocalCluster(stateless_app, instances=2, redis=store)
    browser = cluster.client()
    login(browser)
    added = browser.post("/cart/items", json={"sku": "pen", "qty": 2})
    assert added.get_json()["items"] == {"pen": 2}
    assert browser.post("/cart/items", data="x", content_type="text/plain").status_code == 400
    assert browser.put("/cart/items").status_code == 405
    assert browser.delete("/cart").status_code == 405
    assert browser.get("/cart", headers={"Accept": "application/json"}).status_code == 200


# --- construction ------------------------------------------------------------------------------


def test_instances_are_named_in_order_and_built_by_create_app() -> None:
    cluster = LocalCluster("stateful", instances=4)
    assert cluster.instances == ["A", "B", "C", "D"]
    assert [app.config["INSTANCE_ID"] for app in cluster.apps.values()] == cluster.instances
    assert len({id(app) for app in cluster.apps.values()}) == 4


def test_a_factory_gets_the_instance_id_redis_and_config() -> None:
    calls = []
    shared = object()

    def factory(instance_id: str, redis: object, config: dict) -> Flask:
        calls.append((instance_id, redis, config))
        app = Flask("bare")  # no labs.apps.web: the cluster still tags the answer

        @app.get("/")
        def hello():
            return jsonify(hello=instance_id)

        return app

    cluster = LocalCluster(factory, instances=2, redis=shared, config={"X": 1})
    assert calls == [("A", shared, {"X": 1}), ("B", shared, {"X": 1})]
    response = cluster.client().get("/")
    assert response.get_json() == {"hello": "A"}
    assert response.headers["X-Instance"] == "A"


def test_stateless_instances_share_the_store_they_are_given(store: redis.Redis) -> None:
    cluster = LocalCluster(stateless_app, instances=3, redis=store)
    login(cluster.client())
    assert len(store.keys("session:*")) == 1


@pytest.mark.parametrize("policy", ["least_connections", "Round_Robin", "", "sticky "])
def test_an_unknown_policy_is_a_clear_value_error(policy: str) -> None:
    with pytest.raises(ValueError, match="unknown policy") as raised:
        LocalCluster(stateful_app, policy=policy)
    assert all(name in str(raised.value) for name in POLICIES)


@pytest.mark.parametrize("instances", [0, -1, 27])
def test_the_number_of_instances_is_checked(instances: int) -> None:
    with pytest.raises(ValueError, match="instances"):
        LocalCluster(stateful_app, instances=instances)


@pytest.mark.parametrize("instances", [2.0, "2", True])
def test_the_number_of_instances_must_be_an_integer(instances: object) -> None:
    with pytest.raises(TypeError, match="integer"):
        LocalCluster(stateful_app, instances=instances)


def test_a_module_without_create_app_is_refused() -> None:
    with pytest.raises(ValueError, match="no create_app"):
        LocalCluster("labs.apps.users")


def test_restarting_an_unknown_instance_is_refused() -> None:
    cluster = LocalCluster(stateful_app, instances=2)
    with pytest.raises(ValueError, match="no instance 'C'"):
        cluster.restart("C")


def test_counts_can_be_reset() -> None:
    cluster = LocalCluster(stateful_app, instances=2)
    cluster.client().get("/healthz")
    cluster.reset_counts()
    assert cluster.requests_per_instance == {}
    assert "instances=['A', 'B']" in repr(cluster)


def test_describe_gives_one_line_per_answer() -> None:
    cluster = LocalCluster(stateful_app, instances=2)
    browser = cluster.client()
    lines = [
        describe(browser.post("/login", json=ALICE)),
        describe(browser.get("/me")),
        describe(browser.post("/logout")),
    ]
    assert lines == [
        "POST /login      → instance A: 200 {'user': 'alice'}",
        "GET  /me         → instance B: 401 {'error': 'not logged in (no session on this "
        "instance)'}",
        "POST /logout     → instance A: 204",
    ]
