"""Lesson 11's deploy/ folder, checked offline: no Docker daemon, no cluster, no network.

* every Kubernetes manifest against the API's JSON schemas (kubernetes-validate, strict: an
  unknown field is an error), for the versions below;
* compose.yaml against the Compose Specification (check-jsonschema's vendored schema);
* nginx.conf with ``nginx -t``, when nginx is installed;
* what no schema sees: selectors that match, names that point at each other, one port from the
  Dockerfile to nginx, the probes' fixed values, and the probe paths answered by the real app.

Both validators run in this process: importing jsonschema takes ~3 s here (its format
checkers), which a subprocess per file would pay again every time.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import check_jsonschema
import gunicorn.util
import kubernetes_validate
import pytest
import redis
import yaml

from labs.apps import draining
from labs.apps.stateless_app import create_app
from labs.cluster.process import free_port
from labs.health_experiments import MANIFEST_PROBES, PRESTOP_SECONDS
from labs.redis_store import lazy_redis

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

# The fixed values: lesson 11's local experiment runs the same chain 20 times faster, so these
# are checked exactly. 1.30 is the first release with the preStop sleep action on by default;
# 1.37 is the newest kubernetes-validate 1.37.0 knows.
KUBERNETES_VERSIONS = ("1.30", "1.37")
PORT = 8000
PORT_NAME = "http"
LIVENESS = {
    "httpGet": {"path": "/healthz", "port": PORT_NAME},
    "periodSeconds": 5,
    "failureThreshold": 3,
    "timeoutSeconds": 1,
}
READINESS = {
    "httpGet": {"path": "/readyz", "port": PORT_NAME},
    "periodSeconds": 2,
    "failureThreshold": 2,
    "successThreshold": 1,
    "timeoutSeconds": 1,
}
STARTUP = {
    "httpGet": {"path": "/healthz", "port": PORT_NAME},
    "periodSeconds": 1,
    "failureThreshold": 30,
}
PRESTOP = {"sleep": {"seconds": 10}}  # longer than readiness takes to act: 2 s x 2 + 1 s
DRAIN_SECONDS = "1"
GRACEFUL_TIMEOUT = 11  # gunicorn_conf: int(DRAIN_SECONDS) + 10
TERMINATION_GRACE_PERIOD = 30
RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
IMAGE = "stateless-shop:dev"
APP_SERVICES = ("app-a", "app-b", "app-c")
# What each manifest holds, one kind per document, files named after it.
LAYOUT = {
    "app.yaml": ["Deployment"],
    "hpa.yaml": ["HorizontalPodAutoscaler"],
    "pdb.yaml": ["PodDisruptionBudget"],
    "redis.yaml": ["Deployment", "Service"],
    "secret.example.yaml": ["Secret"],
    "service.yaml": ["Service"],
}


def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of ``path`` (empty ones left out)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resource(kind: str, name: str) -> dict[str, Any]:
    """The one manifest of ``kind`` called ``name`` in deploy/k8s/."""
    found = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in documents(path)
        if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def app_deployment() -> dict[str, Any]:
    return resource("Deployment", "stateless-shop")


def app_container() -> dict[str, Any]:
    (container,) = app_deployment()["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """``name -> value`` (or ``valueFrom``) of a container's environment."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def kubernetes_problems(path: Path, version: str) -> list[str]:
    """What the Kubernetes ``version`` API would refuse in ``path``, strictly (unknown fields
    too). A kind the validator has no schema for is a problem here, not the CLI's warning."""
    problems = []
    for doc in documents(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            problems.append(f"{doc['kind']}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(exc.message)
    return problems


def compose_check(path: Path) -> tuple[int, str]:
    """``check-jsonschema --builtin-schema vendor.compose-spec path``: its exit code, output."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            check_jsonschema.main(["--builtin-schema", "vendor.compose-spec", str(path)])
        except SystemExit as exc:
            return int(exc.code or 0), output.getvalue()
    return 0, output.getvalue()


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def dockerfile_lines() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def dockerfile_instruction(name: str) -> list[str]:
    """The arguments of every ``name`` instruction of deploy/Dockerfile."""
    return [line.split(None, 1)[1] for line in dockerfile_lines() if line.split()[0] == name]


def dockerfile_cmd() -> list[str]:
    (cmd,) = dockerfile_instruction("CMD")
    return json.loads(cmd)  # the exec form: gunicorn is PID 1 and gets the SIGTERM


def bind_port(command: list[str]) -> int:
    host, port = command[command.index("--bind") + 1].rsplit(":", 1)
    assert host == "0.0.0.0", "reachable from outside the container"
    return int(port)


def graceful_timeout_for(drain_seconds: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """gunicorn's graceful_timeout as labs/cluster/gunicorn_conf.py computes it for a drain
    (a fresh copy of the module, loaded with that environment; the imported one is untouched)."""
    monkeypatch.setenv("DRAIN_SECONDS", drain_seconds)
    spec = importlib.util.find_spec("labs.cluster.gunicorn_conf")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.graceful_timeout


def seconds(duration: str) -> int:
    """A compose duration made of whole seconds (``"30s"``) as a number."""
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


# --- the schemas -------------------------------------------------------------------------


def test_the_manifests_hold_one_kind_per_document_named_after_it() -> None:
    found = {path.name: [doc["kind"] for doc in documents(path)] for path in K8S.glob("*.yaml")}
    assert found == LAYOUT


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_every_manifest_is_valid_for_kubernetes(name: str, version: str) -> None:
    assert kubernetes_problems(K8S / name, version) == []


def first_container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def misspell_a_probe_field(deployment: dict[str, Any]) -> None:
    probe = first_container(deployment)["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")


BREAKAGES = {
    "a typo in a probe": misspell_a_probe_field,
    "no selector": lambda d: d["spec"].pop("selector"),
    "a port as text": lambda d: first_container(d)["ports"][0].update(containerPort="8000"),
    "an API that does not exist": lambda d: d.update(apiVersion="apps/v9"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_kubernetes_check_rejects_a_broken_copy(breakage: str, tmp_path: Path) -> None:
    broken = copy.deepcopy(app_deployment())
    BREAKAGES[breakage](broken)
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert kubernetes_problems(path, KUBERNETES_VERSIONS[0]), breakage


def test_only_strict_validation_catches_a_misspelt_field() -> None:
    """Why --strict: without it, a misspelt field is an unknown field, silently ignored (the
    API server would drop it too, and the probe would run every 10 s, its default)."""
    broken = copy.deepcopy(app_deployment())
    misspell_a_probe_field(broken)
    kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=False)
    with pytest.raises(kubernetes_validate.ValidationError, match="periodSecond"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_compose_file_follows_the_compose_specification() -> None:
    code, output = compose_check(DEPLOY / "compose.yaml")
    assert code == 0, output


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [("app-a", "replica", 3), ("redis", "healthcheck", {"test": ["CMD"], "intervall": "5s"})],
)
def test_the_compose_check_rejects_an_unknown_key(
    service: str, key: str, value: Any, tmp_path: Path
) -> None:
    broken = compose()
    broken["services"][service][key] = value
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    code, output = compose_check(path)
    assert code != 0, output


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_test(conf: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``conf`` (an http-level file, as compose mounts it) inside a minimal main
    configuration. The compose service names become 127.0.0.1: nginx resolves them to test."""
    local, replaced = re.subn(r"\bserver\s+app-[a-z]+:", "server 127.0.0.1:", conf)
    assert replaced == len(APP_SERVICES)
    (tmp_path / "default.conf").write_text(local)
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "main.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {tmp_path}/default.conf;\n}}\n"
    )
    command = [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "main.conf")]
    command += ["-e", str(tmp_path / "error.log")]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_nginx_accepts_the_balancer_config(tmp_path: Path) -> None:
    ran = nginx_test((DEPLOY / "nginx.conf").read_text(), tmp_path)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_nginx_rejects_a_broken_copy(tmp_path: Path) -> None:
    broken = (
        (DEPLOY / "nginx.conf")
        .read_text()
        .replace("proxy_connect_timeout 1s;", "proxy_connect_timeout 1s")
    )
    ran = nginx_test(broken, tmp_path)
    assert ran.returncode != 0


# --- what points at what -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["stateless-shop", "redis"])
def test_each_deployment_selects_its_own_pods(name: str) -> None:
    spec = resource("Deployment", name)["spec"]
    assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])


@pytest.mark.parametrize(
    ("kind", "name", "deployment"),
    [
        ("Service", "stateless-shop", "stateless-shop"),
        ("PodDisruptionBudget", "stateless-shop", "stateless-shop"),
        ("Service", "redis", "redis"),
    ],
)
def test_services_and_budget_select_exactly_one_deployments_pods(
    kind: str, name: str, deployment: str
) -> None:
    spec = resource(kind, name)["spec"]
    selector = spec["selector"].get("matchLabels", spec["selector"])
    for other in ("stateless-shop", "redis"):
        labels = resource("Deployment", other)["spec"]["template"]["metadata"]["labels"]
        assert matches(selector, labels) == (other == deployment), other


def test_service_targets_the_named_container_port() -> None:
    (port,) = resource("Service", "stateless-shop")["spec"]["ports"]
    assert port["port"] == 80
    assert port["targetPort"] == PORT_NAME
    assert {"name": PORT_NAME, "containerPort": PORT} in app_container()["ports"]


def test_hpa_scales_the_deployment_from_its_replica_count() -> None:
    hpa = resource("HorizontalPodAutoscaler", "stateless-shop")["spec"]
    deployment = app_deployment()
    assert hpa["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": deployment["kind"],
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    assert hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert "cpu" in app_container()["resources"]["requests"], "utilization is of the request"


def test_the_budget_lets_a_drain_proceed_and_keeps_most_pods() -> None:
    budget = resource("PodDisruptionBudget", "stateless-shop")["spec"]
    smallest = resource("HorizontalPodAutoscaler", "stateless-shop")["spec"]["minReplicas"]
    allowed = budget.get("maxUnavailable", smallest - budget.get("minAvailable", smallest))
    assert 1 <= allowed < smallest


def test_redis_url_names_the_redis_service_and_its_port() -> None:
    url = urlsplit(env_of(app_container())["REDIS_URL"])
    service = resource("Service", "redis")["spec"]
    (port,) = service["ports"]
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", port["port"])
    assert resource("Service", "redis")["metadata"]["name"] == url.hostname
    (container,) = resource("Deployment", "redis")["spec"]["template"]["spec"]["containers"]
    assert {"name": port["targetPort"], "containerPort": 6379} in container["ports"]


def test_secrets_come_from_the_example_secret_and_are_placeholders() -> None:
    secret = resource("Secret", "stateless-shop-secrets")
    env = env_of(app_container())
    for name in ("SECRET_KEY", "JWT_SECRET"):
        reference = env[name]["secretKeyRef"]
        assert reference == {"name": secret["metadata"]["name"], "key": name}
        assert "replace" in secret["stringData"][name]
    for service in APP_SERVICES:
        environment = compose()["services"][service]["environment"]
        assert all("replace" in environment[name] for name in ("SECRET_KEY", "JWT_SECRET"))


def test_the_image_is_the_one_the_readme_builds_and_loads() -> None:
    assert app_container()["image"] == IMAGE
    assert app_container()["imagePullPolicy"] == "IfNotPresent", "kind load, not a registry"
    assert {compose()["services"][name]["image"] for name in APP_SERVICES} == {IMAGE}
    assert f"-t {IMAGE} ." in (DEPLOY / "README.md").read_text()


# --- the fixed values --------------------------------------------------------------------


def test_probes_resources_and_drain_have_the_lessons_values() -> None:
    container = app_container()
    assert container["livenessProbe"] == LIVENESS
    assert container["readinessProbe"] == READINESS
    assert container["startupProbe"] == STARTUP
    assert container["lifecycle"] == {"preStop": PRESTOP}
    assert container["resources"] == RESOURCES
    assert env_of(container)["DRAIN_SECONDS"] == DRAIN_SECONDS
    spec = app_deployment()["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == TERMINATION_GRACE_PERIOD


def test_the_grace_period_outlasts_the_whole_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """preStop, then SIGTERM: the drain, then gunicorn's graceful_timeout, all before the
    kubelet's SIGKILL. (The drain happens inside graceful_timeout, so adding both is safe.)"""
    container = app_container()
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = env_of(container)["DRAIN_SECONDS"]
    graceful = graceful_timeout_for(drain, monkeypatch)
    assert graceful == GRACEFUL_TIMEOUT
    grace = app_deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > pause + float(drain) + graceful


def test_compose_waits_long_enough_before_killing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in APP_SERVICES:
        service = compose()["services"][name]
        drain = service["environment"]["DRAIN_SECONDS"]
        assert drain == DRAIN_SECONDS
        graceful = graceful_timeout_for(drain, monkeypatch)
        assert seconds(service["stop_grace_period"]) > float(drain) + graceful, name
    assert dockerfile_instruction("ENV")[-1] == f"DRAIN_SECONDS={DRAIN_SECONDS}"


def test_the_readme_states_the_chain_the_manifest_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    container = app_container()
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = env_of(container)["DRAIN_SECONDS"]
    grace = app_deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    chain = f"{grace} > {pause} + {drain} + {graceful_timeout_for(drain, monkeypatch)}"
    assert chain in (DEPLOY / "README.md").read_text()


# --- one port, Dockerfile to nginx -------------------------------------------------------


def test_the_dockerfile_runs_gunicorn_as_a_numeric_non_root_user() -> None:
    assert dockerfile_instruction("FROM") == ["python:3.11-slim"]
    (user,) = dockerfile_instruction("USER")
    uid, gid = (int(part) for part in user.split(":"))
    security = app_deployment()["spec"]["template"]["spec"]["securityContext"]
    assert uid != 0 and (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert security["runAsNonRoot"] is True
    assert dockerfile_instruction("EXPOSE") == [str(PORT)]
    cmd = dockerfile_cmd()
    assert cmd[:3] == ["python", "-m", "gunicorn"]
    assert any("pip install -r" in run for run in dockerfile_instruction("RUN"))


def test_one_port_from_the_dockerfile_to_nginx() -> None:
    assert bind_port(dockerfile_cmd()) == PORT
    assert app_container()["ports"] == [{"name": PORT_NAME, "containerPort": PORT}]
    services = compose()["services"]
    for name in APP_SERVICES:
        assert "command" not in services[name], "the image's command, the same for every replica"
        probe = services[name]["healthcheck"]["test"][-1]
        (url,) = re.findall(r"http://[^'\"]+", probe)
        assert (urlsplit(url).port, urlsplit(url).path) == (PORT, LIVENESS["httpGet"]["path"])
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)\b", conf, re.M)
    assert sorted(upstream) == [(name, str(PORT)) for name in APP_SERVICES]


def test_compose_apps_do_not_wait_for_redis_and_share_its_url() -> None:
    services = compose()["services"]
    assert set(services) == {*APP_SERVICES, "redis", "nginx"}
    for name in APP_SERVICES:
        assert "depends_on" not in services[name], "an app must start (and stay up) without Redis"
        url = urlsplit(services[name]["environment"]["REDIS_URL"])
        assert url.hostname in services and url.port == 6379
    assert set(services["nginx"]["depends_on"]) == set(APP_SERVICES)


def app_string(command: list[str]) -> str:
    return command[-1]


def test_one_command_gives_every_replica_its_own_instance_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image's app string, loaded as gunicorn loads it (literal arguments only), with each
    compose service's environment: each answers with its own id. Kubernetes sets INSTANCE_ID
    to the pod's name; without INSTANCE_ID the hostname is the id. The config module of
    ``-c python:...`` exists too."""
    command = dockerfile_cmd()
    config = command[command.index("-c") + 1]
    assert config.startswith("python:") and importlib.util.find_spec(config[7:])
    path = LIVENESS["httpGet"]["path"]

    def answered_id() -> str:
        app = gunicorn.util.import_app(app_string(command))
        return app.test_client().get(path).headers["X-Instance"]

    ids = {}
    for name in APP_SERVICES:
        monkeypatch.setenv("INSTANCE_ID", compose()["services"][name]["environment"]["INSTANCE_ID"])
        ids[name] = answered_id()
    assert ids == {"app-a": "a", "app-b": "b", "app-c": "c"}
    pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env_of(app_container())["INSTANCE_ID"] == pod_name  # the downward API
    monkeypatch.setenv("INSTANCE_ID", "stateless-shop-7d4b9c-x2x9q")  # a pod's name
    assert answered_id() == "stateless-shop-7d4b9c-x2x9q"
    monkeypatch.delenv("INSTANCE_ID")
    monkeypatch.setattr("socket.gethostname", lambda: "container-1f2e")
    assert answered_id() == "container-1f2e"


@pytest.mark.parametrize("bad", ["a b", "x\r\nSet-Cookie: s=1", "-lead", "é", "n" * 64])
def test_an_instance_id_that_cannot_be_a_header_stops_the_boot_with_a_clear_error(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTANCE_ID", bad)
    with pytest.raises(ValueError, match=r"INSTANCE_ID .* cannot be an instance id .* letters"):
        gunicorn.util.import_app(app_string(dockerfile_cmd()))


# --- the probe paths, asked of the real app ----------------------------------------------


def probe_paths() -> dict[str, str]:
    container = app_container()
    return {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }


def test_every_probe_path_answers_200_from_a_healthy_app(store: redis.Redis) -> None:
    draining.reset()
    client = create_app(redis=store).test_client()
    for probe, path in probe_paths().items():
        assert client.get(path).status_code == 200, probe


def test_liveness_ignores_redis_and_readiness_does_not() -> None:
    """A Redis outage takes pods out of the Service (readiness) but restarts none (liveness)."""
    draining.reset()
    gone = lazy_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)  # as in a pod
    client = create_app(redis=gone).test_client()
    paths = probe_paths()
    assert client.get(paths["livenessProbe"]).status_code == 200
    assert client.get(paths["startupProbe"]).status_code == 200
    assert client.get(paths["readinessProbe"]).status_code == 503


def test_only_readiness_turns_503_while_draining(store: redis.Redis) -> None:
    client = create_app(redis=store).test_client()
    paths = probe_paths()
    draining.start_draining()
    try:
        assert client.get(paths["readinessProbe"]).status_code == 503
        assert client.get(paths["livenessProbe"]).status_code == 200
    finally:
        draining.reset()


def test_the_probes_are_the_ones_lesson_11_runs_at_its_faster_clock() -> None:
    """labs.health_experiments runs the supervisor with these settings, 10x faster."""

    container = app_container()
    for kind in ("liveness", "readiness", "startup"):
        probe, lab = container[f"{kind}Probe"], getattr(MANIFEST_PROBES, kind)
        assert probe["httpGet"]["path"] == lab.path
        for name in ("periodSeconds", "failureThreshold", "timeoutSeconds"):
            assert probe.get(name, 1) == getattr(lab, name), (kind, name)
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == PRESTOP_SECONDS
    readiness = MANIFEST_PROBES.readiness
    assert readiness.detection_seconds + readiness.timeoutSeconds < PRESTOP_SECONDS
