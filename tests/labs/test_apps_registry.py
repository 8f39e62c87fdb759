"""``labs.apps.APPS`` names every lab app; clusters, experiments and checks take those names."""

from __future__ import annotations

import pkgutil

import pytest
from lab_stores import SECRETS, fresh_store

import labs.apps
from labs.apps import APPS, app_module, module_path
from labs.cluster import LocalCluster
from labs.cluster.local import resolve_factory

SHARED = {"web", "users", "cart", "draining", "probes", "deep_probes"}  # plumbing, not apps


def test_every_app_module_is_registered_under_a_short_name() -> None:
    modules = {info.name for info in pkgutil.iter_modules(labs.apps.__path__)} - SHARED
    assert {path.rsplit(".", 1)[1] for path in APPS.values()} == modules


@pytest.mark.parametrize("name", APPS)
def test_every_registered_app_serves_the_shared_contract(name: str) -> None:
    module = app_module(name)
    app = module.create_app(instance_id="Q", redis=fresh_store(), config=SECRETS)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.headers["X-Instance"] == "Q"
    missing = client.get("/no-such-route")
    assert missing.status_code == 404 and "error" in missing.get_json()


def test_a_name_a_module_path_and_a_module_mean_the_same_app() -> None:
    module = app_module("stateless")
    assert module is app_module("labs.apps.stateless_app") is app_module(module)
    assert resolve_factory("stateless") is module.create_app
    assert module_path("jwt") == "labs.apps.jwt_app"
    assert module_path("my_shop") == "my_shop"  # a learner's module, written by a notebook


@pytest.mark.parametrize("bad", ["stateles", "labs.apps.nothing", "not a module"])
def test_an_unknown_app_is_a_clear_error_naming_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match="stateful, stateless, jwt"):
        LocalCluster(bad, instances=2)
