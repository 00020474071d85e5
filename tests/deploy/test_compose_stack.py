"""docker-compose.yml, checked without a container engine.

What is checked: the services the docs name, pinned images, health checks and start order,
host ports, the bridge's mounted config (validated by bridge.config with the environment
compose gives the bridge), every BRIDGE__ override and secret variable, the files mounted into
Prometheus and Grafana, and the topics created for the bridge. Whether the containers really
start is not checked here (no engine on this machine); docs/deploy.md says so.
"""

from __future__ import annotations

import re
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tests.deploy.deploy_support import (
    REPO,
    bind_mounts,
    compose_project,
    host_ports,
    load_yaml,
    service_environment,
)

DOCUMENTED_SERVICES = (
    "kafka",
    "schema-registry",
    "topics",
    "sandbox",
    "bridge",
    "producer",
    "prometheus",
    "grafana",
)
"""The services README.md and docs/deploy.md name, in start order."""
DOCUMENTED_PORTS = {
    "kafka": 9092,
    "schema-registry": 8081,
    "sandbox": 8080,
    "bridge": 9400,
    "prometheus": 9090,
    "grafana": 3000,
}
ONE_SHOT = {"topics"}
NO_HEALTH_ENDPOINT = {"producer"}
"""A producer serves nothing to probe; it restarts on failure instead."""
BRIDGE_CONFIG = REPO / "deploy" / "compose" / "bridge.yaml"
CONFIG_MOUNT = "/etc/bridge/bridge.yaml"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return compose_project()


@pytest.fixture(scope="module")
def services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = project["services"]
    assert isinstance(found, dict)
    return found


def test_every_documented_service_exists(services: dict[str, dict[str, Any]]) -> None:
    assert sorted(services) == sorted(DOCUMENTED_SERVICES)


def test_docs_name_every_service_and_port() -> None:
    docs = (REPO / "docs" / "deploy.md").read_text()
    for service in DOCUMENTED_SERVICES:
        assert f"`{service}`" in docs, f"docs/deploy.md does not name the {service} service"
    for service, port in DOCUMENTED_PORTS.items():
        assert f"localhost:{port}" in docs, f"docs/deploy.md does not give {service}'s port {port}"


def test_readme_names_the_compose_services_it_describes() -> None:
    """Once README.md describes the compose stack, it names every service (as docs/deploy.md)."""
    readme = (REPO / "README.md").read_text() if (REPO / "README.md").exists() else ""
    if "docker compose" not in readme:
        return  # README does not describe the stack (yet): docs/deploy.md is checked above
    missing = [s for s in DOCUMENTED_SERVICES if not re.search(rf"\b{re.escape(s)}\b", readme)]
    assert missing == [], f"README.md describes docker compose but does not name {missing}"


@pytest.mark.parametrize("service", DOCUMENTED_SERVICES)
def test_images_are_pinned(services: dict[str, dict[str, Any]], service: str) -> None:
    spec = services[service]
    image = spec.get("image", "")
    if "build" in spec:
        assert spec["build"]["dockerfile"] == "Dockerfile"
        assert (REPO / spec["build"]["context"] / "Dockerfile").is_file()
        assert image, "name the built image"
        assert not image.endswith(":latest"), "name the built image with a tag"
        return
    name, _, tag = image.partition("@")[0].rpartition(":")
    assert name, f"{service}: {image!r} has no name"
    assert tag, f"{service}: {image!r} has no tag"
    assert tag != "latest", f"{service}: {image!r} is not pinned"
    assert re.search(r"\d+\.\d+", tag), f"{service}: {image!r} names no version"


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = condition.get("condition")
            if dependency in ONE_SHOT:
                assert wanted == "service_completed_successfully", (name, dependency)
            elif dependency in {"bridge"}:
                assert wanted in {"service_started", "service_healthy"}, (name, dependency)
            else:
                assert wanted == "service_healthy", (name, dependency)
                assert has_healthcheck(services[dependency]), f"{dependency} has no health check"


def has_healthcheck(spec: dict[str, Any]) -> bool:
    check = spec.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    def depends(name: str) -> set[str]:
        return set(services[name].get("depends_on") or {})

    assert depends("schema-registry") == {"kafka"}
    assert depends("topics") == {"kafka"}
    assert depends("bridge") == {"topics", "schema-registry", "sandbox"}
    assert depends("producer") == {"topics", "schema-registry"}
    assert depends("grafana") == {"prometheus"}


def test_long_running_services_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        if name in ONE_SHOT:
            assert spec.get("restart") == "no"
        elif name in NO_HEALTH_ENDPOINT:
            assert spec["healthcheck"] == {"disable": True}, (
                "do not inherit the image's /healthz check"
            )
        else:
            assert has_healthcheck(spec), f"{name} has no health check"
            assert spec["healthcheck"]["test"][0] == "CMD", f"{name}: exec-form health check"


def test_host_ports_are_localhost_only_and_do_not_clash(
    services: dict[str, dict[str, Any]],
) -> None:
    published = [(name, *port) for name, spec in services.items() for port in host_ports(spec)]
    clashes = [port for port, count in Counter(p[2] for p in published).items() if count > 1]
    assert clashes == []
    assert all(address == "127.0.0.1" for _, address, _, _ in published)
    assert {name: host for name, _, host, _ in published} == DOCUMENTED_PORTS


def test_bind_mount_sources_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        f"{name}: {source}"
        for name, spec in services.items()
        for source, _ in bind_mounts(spec)
        if not (REPO / source).exists()
    ]
    assert missing == [], "docker compose would mount empty directories in their place"


# --- the bridge's configuration ---------------------------------------------------------------


def bridge_environment(
    services: dict[str, dict[str, Any]], service: str = "bridge"
) -> dict[str, str]:
    return service_environment(services[service])


def test_bridge_and_producer_read_the_same_config_and_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    for service in ("bridge", "producer"):
        mounts = dict((target, source) for source, target in bind_mounts(services[service]))
        assert mounts[CONFIG_MOUNT] == "./deploy/compose/bridge.yaml"
        command = services[service]["command"]
        assert command[command.index("--config") + 1] == CONFIG_MOUNT
    assert bridge_environment(services, "producer") == bridge_environment(services)
    assert services["bridge"]["command"][0] == "run"
    assert services["producer"]["command"][0] == "produce"
    assert services["sandbox"]["command"][0] == "sandbox"


def test_mounted_config_is_valid_with_the_compose_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    from bridge.config import load_config  # needs the vendor modules

    config = load_config(BRIDGE_CONFIG, environ=bridge_environment(services))
    assert sorted(config.enabled_vendors()) == sorted(
        ["esputnik", "quicklizard", "qubit", "squeezely", "vtmarketing"]
    )
    for name, vendor in config.vendors.items():
        assert vendor.base_url == f"http://sandbox:8080/{name}", "the sandbox is the default"
    assert config.kafka.bootstrap_servers == "kafka:19092"
    assert config.http.port == 9400
    assert str(config.schemas_dir) == "/app/schemas"


def test_switching_a_vendor_to_its_real_endpoint_is_two_variables(
    services: dict[str, dict[str, Any]],
) -> None:
    from bridge.config import load_config

    real = {
        "BRIDGE__VENDORS__SQUEEZELY__BASE_URL": "https://api.squeezely.example",
        "SQUEEZELY_API_KEY": "real-key",
        "BRIDGE__VENDORS__QUICKLIZARD__BASE_URL": "null",
    }
    switched = compose_project(real)["services"]
    config = load_config(BRIDGE_CONFIG, environ=bridge_environment(switched))
    assert config.vendors["squeezely"].base_url == "https://api.squeezely.example"
    api_key = config.vendor_settings["squeezely"].model_dump()["api_key"]
    assert api_key.get_secret_value() == "real-key"
    assert config.vendors["quicklizard"].base_url is None, "null: the vendor's production URL"
    assert config.vendors["qubit"].base_url == "http://sandbox:8080/qubit"


def test_every_bridge_override_names_a_real_config_field(
    services: dict[str, dict[str, Any]],
) -> None:
    problems = [
        f"{key}: {problem}"
        for key in bridge_environment(services)
        if key.startswith("BRIDGE__")
        and (problem := override_problem(key.removeprefix("BRIDGE__").lower().split("__")))
    ]
    assert problems == []


def test_override_check_catches_a_misspelt_field() -> None:
    pytest.importorskip("bridge.vendors")
    assert override_problem(["vendors", "qubit", "settings", "tracking"]) is not None
    assert override_problem(["vendors", "amazon", "base_url"]) is not None
    assert override_problem(["http", "port", "x"]) is not None
    assert override_problem(["vendors", "qubit", "retry", "max_attempts"]) is None


def override_problem(path: list[str]) -> str | None:
    """None when `path` is a field of the bridge config (vendor settings included)."""
    from bridge.config import Config, VendorConfig
    from bridge.vendors import vendor_classes

    model: type[BaseModel] = Config
    rest = path
    if path[0] == "vendors":
        known = vendor_classes()
        if len(path) < 3 or path[1] not in known:
            return f"vendors.{'.'.join(path[1:2])}: not a known vendor ({', '.join(sorted(known))})"
        if path[2] == "settings":
            model, rest = known[path[1]].settings_model, path[3:]
        else:
            model, rest = VendorConfig, path[2:]
    for index, part in enumerate(rest):
        field = model.model_fields.get(part)
        if field is None:
            return f"{part}: no such field of {model.__name__}"
        annotation = _unwrap(field.annotation)
        last = index == len(rest) - 1
        if last:
            return None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif typing.get_origin(annotation) is dict and index == len(rest) - 2:
            return None
        else:
            return f"{part}: {model.__name__}.{part} has no fields below it"
    return "an override must name a field"


def _unwrap(annotation: Any) -> Any:
    import types

    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else annotation
    return annotation


def env_references(node: Any) -> set[str]:
    """The variables named by {env: NAME} secret references anywhere in a config tree."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {str(node["env"])}
        return {name for value in node.values() for name in env_references(value)}
    if isinstance(node, list):
        return {name for value in node for name in env_references(value)}
    return set()


def test_every_secret_variable_the_config_names_is_set(services: dict[str, dict[str, Any]]) -> None:
    referenced = env_references(load_yaml(BRIDGE_CONFIG))
    assert referenced, "the compose config reads its keys from the environment"
    environment = bridge_environment(services)
    assert {name for name in referenced if environment.get(name)} == referenced


def test_bridge_stops_within_its_drain_deadline(services: dict[str, dict[str, Any]]) -> None:
    deadline = load_yaml(BRIDGE_CONFIG).get("shutdown_deadline_s", 25)
    grace = services["bridge"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) > deadline
    assert services["bridge"]["read_only"] is True
    assert services["bridge"]["tmpfs"] == ["/tmp"]


# --- what the other services read -------------------------------------------------------------


def test_prometheus_scrapes_the_bridge_and_loads_the_rules_file(
    services: dict[str, dict[str, Any]],
) -> None:
    prometheus = services["prometheus"]
    mounts = dict(bind_mounts(prometheus))
    assert f"--config.file={mounts['./deploy/compose/prometheus.yml']}" in prometheus["command"]
    settings = load_yaml(REPO / "deploy" / "compose" / "prometheus.yml")
    rules_target = mounts["./helm/bridge/files/bridge-rules.yml"]
    (pattern,) = settings["rule_files"]
    assert Path(rules_target).match(pattern)
    targets = [
        t for job in settings["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    ]
    assert "bridge:9400" in targets


def test_grafana_provisions_the_datasource_and_the_dashboard(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(bind_mounts(services["grafana"]))
    provisioning = REPO / "deploy" / "compose" / "grafana" / "provisioning"
    assert mounts["./deploy/compose/grafana/provisioning"] == "/etc/grafana/provisioning"
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["uid"] == "prometheus"
    (provider,) = load_yaml(provisioning / "dashboards" / "bridge.yml")["providers"]
    dashboard_target = mounts["./helm/bridge/files/bridge-dashboard.json"]
    assert Path(dashboard_target).parent == Path(provider["options"]["path"])
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == dashboard_target


def test_topics_service_creates_every_topic_the_bridge_uses(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(bind_mounts(services["topics"]))
    script = (REPO / "deploy" / "compose" / "create-topics.sh").read_text()
    assert mounts["./deploy/compose/create-topics.sh"] == services["topics"]["entrypoint"][-1]
    created = set(re.findall(r"^create (\S+)", script, flags=re.MULTILINE))
    config = load_yaml(BRIDGE_CONFIG)
    used = {topic["name"] for topic in config["topics"].values()}
    used.add(config["dead_letter"]["topic"])
    if config["outcomes"]["enabled"]:
        used.add(config["outcomes"]["topic"])
    assert used <= created
