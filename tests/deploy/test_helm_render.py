"""The chart's rendered manifests: valid Kubernetes objects, and the properties production needs.

Rendering is Helm's own engine (helm-python-sdk, offline, values checked against
values.schema.json); the objects are validated against Kubernetes' OpenAPI schemas by
kubernetes-validate, for the oldest Kubernetes the chart supports and the newest it bundles.
"""

from __future__ import annotations

import math
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import KafkaSettings
from tests.deploy.deploy_support import (
    CHART,
    CRD_KINDS,
    DASHBOARD_FILE,
    REPO,
    RULES_FILE,
    VENDORS,
    Rendered,
    bridge_container,
    chart_values,
    ci_values,
    deployment_config,
    pod_spec,
    render_minimal,
    require,
)
from tests.deploy.deploy_support import render as render_raw

OLDEST_KUBERNETES = "1.27.0"
"""Chart.yaml's kubeVersion floor (PDB unhealthyPodEvictionPolicy needs 1.27)."""


def all_renderings(
    default: Rendered, everything: Rendered, single: Rendered
) -> dict[str, Rendered]:
    return {"default": default, "all-enabled": everything, "single-hpa": single}


@pytest.fixture(scope="module")
def renderings(
    rendered_default: Rendered, rendered_all: Rendered, rendered_single: Rendered
) -> dict[str, Rendered]:
    return all_renderings(rendered_default, rendered_all, rendered_single)


def kubernetes_versions() -> list[str]:
    utils = require("kubernetes_validate.utils", "kubernetes-validate")
    return [OLDEST_KUBERNETES, utils.latest_version()]


# --- valid Kubernetes objects ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "all-enabled", "single-hpa"])
def test_rendered_objects_are_valid_kubernetes_objects(
    renderings: dict[str, Rendered], name: str
) -> None:
    utils = require("kubernetes_validate.utils", "kubernetes-validate")
    invalid: list[str] = []
    for obj in renderings[name].objects:
        if obj["kind"] in CRD_KINDS:
            continue
        for version in kubernetes_versions():
            try:
                utils.validate(obj, version, strict=True)
            except utils.ValidationError as exc:
                where = "/".join(str(part) for part in exc.path)
                invalid.append(
                    f"{obj['kind']}/{obj['metadata']['name']} ({version}) {where}: {exc.message}"
                )
            except utils.SchemaNotFoundError as exc:
                invalid.append(exc.message)
    assert invalid == []


def test_validation_catches_an_invalid_object(rendered_default: Rendered) -> None:
    utils = require("kubernetes_validate.utils", "kubernetes-validate")
    deployment = rendered_default.of_kind("Deployment")[0]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    bridge_container(broken)["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(utils.ValidationError):
        utils.validate(broken, utils.latest_version(), strict=True)


def test_every_object_is_namespaced_and_labelled_for_the_release(
    renderings: dict[str, Rendered],
) -> None:
    for rendered in renderings.values():
        for obj in rendered.objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "rel", obj["metadata"]["name"]
            assert labels["app.kubernetes.io/name"] == "bridge"
            if obj["metadata"]["name"] != "rel-bridge-dashboard":
                assert obj["metadata"]["namespace"] == "bridge"


# --- workloads ------------------------------------------------------------------------------


def test_one_deployment_per_enabled_vendor_by_default(rendered_default: Rendered) -> None:
    deployments = rendered_default.of_kind("Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == [
        f"rel-bridge-{vendor}" for vendor in VENDORS
    ]
    for deployment in deployments:
        vendor = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        args = bridge_container(deployment)["args"]
        assert args == ["run", "--config", "/etc/bridge/config/bridge.yaml", "--vendor", vendor]
        config = deployment_config(rendered_default, deployment)
        assert list(config["vendors"]) == [vendor], "a pod's config holds only its own vendor"
        assert deployment["spec"]["replicas"] == 1


def test_disabled_vendors_get_no_deployment() -> None:
    rendered = render_minimal(
        {"vendors": {"qubit": {"enabled": False}, "esputnik": {"enabled": False}}}
    )
    names = {d["metadata"]["name"] for d in rendered.of_kind("Deployment")}
    assert names == {"rel-bridge-quicklizard", "rel-bridge-squeezely", "rel-bridge-vtmarketing"}
    assert len(rendered.of_kind("PodDisruptionBudget")) == 3
    assert len(rendered.of_kind("ConfigMap")) == 3


def test_single_mode_runs_every_enabled_vendor_in_one_deployment(rendered_single: Rendered) -> None:
    (deployment,) = rendered_single.of_kind("Deployment")
    assert bridge_container(deployment)["args"] == [
        "run",
        "--config",
        "/etc/bridge/config/bridge.yaml",
    ]
    config = deployment_config(rendered_single, deployment)
    assert sorted(config["vendors"]) == ["esputnik", "qubit", "quicklizard", "squeezely"]
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns replicas"
    (hpa,) = rendered_single.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)


def test_vendor_settings_and_options_reach_the_config(rendered_all: Rendered) -> None:
    deployment = rendered_all.named("Deployment", "rel-bridge-quicklizard")
    config = deployment_config(rendered_all, deployment)
    vendor = config["vendors"]["quicklizard"]
    assert vendor["base_url"] == "https://quicklizard.example/api"
    assert vendor["concurrency"] == 32
    assert vendor["batch"] == {"max_events": 200, "linger_ms": 100}
    assert vendor["settings"] == {
        "client_key": {"file": "/etc/bridge/secrets/quicklizard-client-key"}
    }
    assert config["kafka"]["group_prefix"] == "shop.bridge"
    assert config["kafka"]["sasl_password"] == {"file": "/etc/bridge/secrets/kafka-sasl-password"}
    assert config["kafka"]["ssl_ca_location"] == "/etc/bridge/kafka-ca/ca.crt"
    assert config["kafka"]["consumer_properties"] == {"session.timeout.ms": 45000}
    assert config["topics"]["orders"] == {"name": "shop.orders", "format": "confluent"}
    assert config["schemas_dir"] == "/app/schemas"
    assert config["http"] == {"host": "0.0.0.0", "port": 9400}


# --- pod security, probes, shutdown -----------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "all-enabled", "single-hpa"])
def test_pods_run_locked_down(renderings: dict[str, Rendered], name: str) -> None:
    for deployment in renderings[name].of_kind("Deployment"):
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = bridge_container(deployment)
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context.get("privileged", False) is False
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"
        assert all(
            m.get("readOnly")
            for m in container["volumeMounts"]
            if m["mountPath"] != "/tmp" and m["name"] in ("config", "credentials", "kafka-ca")
        )


@pytest.mark.parametrize("name", ["default", "all-enabled", "single-hpa"])
def test_probes_use_health_and_readiness_on_the_metrics_port(
    renderings: dict[str, Rendered], name: str
) -> None:
    rendered = renderings[name]
    for deployment in rendered.of_kind("Deployment"):
        container = bridge_container(deployment)
        (port,) = container["ports"]
        assert port["name"] == "http"
        assert port["containerPort"] == deployment_config(rendered, deployment)["http"]["port"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize("name", ["default", "all-enabled", "single-hpa"])
def test_grace_period_outlasts_the_drain_deadline(
    renderings: dict[str, Rendered], name: str
) -> None:
    rendered = renderings[name]
    for deployment in rendered.of_kind("Deployment"):
        deadline = deployment_config(rendered, deployment)["shutdown_deadline_s"]
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert isinstance(grace, int)
        assert grace > deadline


def producer_close_timeout_s() -> float:
    """The flush budget of the bridge's producer at shutdown (close()'s default timeout)."""
    import inspect

    from bridge.kafka.producer import AsyncProducer

    default = inspect.signature(AsyncProducer.close).parameters["timeout_s"].default
    assert isinstance(default, int | float)
    return float(default)


def test_grace_period_is_the_sum_of_drain_flush_and_margin() -> None:
    """Bug: 35 s = 25 s drain + 10 s left no room for the producer's 10 s close flush."""
    values = chart_values()
    assert values["terminationGraceProducerFlushSeconds"] == producer_close_timeout_s()
    for deadline in (25, 40.5):
        rendered = render_minimal({"config": {"shutdown_deadline_s": deadline}})
        expected = (
            math.ceil(deadline)
            + values["terminationGraceProducerFlushSeconds"]
            + values["terminationGraceMarginSeconds"]
        )
        for deployment in rendered.of_kind("Deployment"):
            assert pod_spec(deployment)["terminationGracePeriodSeconds"] == expected
    assert expected > deadline + producer_close_timeout_s()


def test_an_explicit_grace_period_must_cover_drain_and_flush() -> None:
    helm = require("helm_python", "helm-python-sdk")
    with pytest.raises(helm.HelmRenderError, match="terminationGraceProducerFlushSeconds"):
        render_minimal({"terminationGracePeriodSeconds": 30})
    rendered = render_minimal({"terminationGracePeriodSeconds": 35})
    assert {
        pod_spec(d)["terminationGracePeriodSeconds"] for d in rendered.of_kind("Deployment")
    } == {35}


# --- roll on change ---------------------------------------------------------------------------


def checksums(rendered: Rendered) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: {
            key: value
            for key, value in d["spec"]["template"]["metadata"]["annotations"].items()
            if key.startswith("checksum/")
        }
        for d in rendered.of_kind("Deployment")
    }


def test_pods_roll_when_their_config_or_credentials_change(rendered_default: Rendered) -> None:
    before = checksums(rendered_default)
    assert all(set(sums) == {"checksum/config", "checksum/secret"} for sums in before.values())

    config_changed = checksums(
        render_minimal({"vendors": {"qubit": {"options": {"concurrency": 4}}}})
    )
    changed = {name for name in before if before[name] != config_changed[name]}
    assert changed == {"rel-bridge-qubit"}, "only the changed vendor's pods roll"

    key_changed = checksums(
        render_minimal({"credentials": {"values": {"squeezely-api-key": "new"}}})
    )
    changed = {name for name in before if before[name] != key_changed[name]}
    assert changed == {"rel-bridge-squeezely"}

    shared_changed = checksums(render_minimal({"config": {"log": {"level": "DEBUG"}}}))
    assert all(before[name] != shared_changed[name] for name in before)


def test_config_checksum_is_the_mounted_configmap_content(rendered_default: Rendered) -> None:
    import hashlib

    for deployment in rendered_default.of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        configmap = rendered_default.named("ConfigMap", volumes["config"]["configMap"]["name"])
        text = configmap["data"]["bridge.yaml"].rstrip("\n")
        assert annotations["checksum/config"] == hashlib.sha256(text.encode()).hexdigest()


# --- credentials ------------------------------------------------------------------------------


def test_each_pod_mounts_only_its_own_credentials(rendered_all: Rendered) -> None:
    secret = rendered_all.named("Secret", "rel-bridge-credentials")
    for deployment in rendered_all.of_kind("Deployment"):
        vendor = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        keys = {item["key"] for item in volumes["credentials"]["secret"]["items"]}
        expected = {"kafka-sasl-password"} | (
            set()
            if vendor == "qubit"
            else {key for key in secret["data"] if key.startswith(vendor)}
        )
        assert keys == expected, vendor
        config = deployment_config(rendered_all, deployment)
        for reference in _file_references(config):
            assert Path(reference).name in keys, f"{vendor}: {reference} is not mounted"


def test_existing_secret_replaces_the_chart_secret(rendered_single: Rendered) -> None:
    assert rendered_single.of_kind("Secret") == []
    (deployment,) = rendered_single.of_kind("Deployment")
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "bridge-credentials"
    assert volumes["kafka-ca"]["secret"] == {
        "secretName": "kafka-cluster-ca",
        "defaultMode": 0o444,
        "items": [{"key": "ca.pem", "path": "ca.crt"}],
    }


def _file_references(node: Any) -> list[str]:
    if isinstance(node, dict):
        if set(node) == {"file"}:
            return [str(node["file"])]
        return [ref for value in node.values() for ref in _file_references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _file_references(value)]
    return []


def assert_configs_pass_the_bridges_validation(rendered: Rendered, tmp_path: Path) -> None:
    """Each ConfigMap holds a configuration bridge.config accepts (secrets from stand-in files)."""
    from bridge.config import validate_config  # needs the vendor modules

    for deployment in rendered.of_kind("Deployment"):
        config = deployment_config(rendered, deployment)
        text = yaml.safe_dump(config)
        for reference in _file_references(config):
            stand_in = tmp_path / Path(reference).name
            stand_in.write_text("ci-secret\n")
            text = text.replace(reference, str(stand_in))
        validated = validate_config(yaml.safe_load(text))
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component != "all":
            assert validated.enabled_vendors() == [component]


@pytest.mark.parametrize("name", ["default", "all-enabled", "single-hpa"])
def test_rendered_configs_pass_the_bridges_own_validation(
    renderings: dict[str, Rendered], name: str, tmp_path: Path
) -> None:
    assert_configs_pass_the_bridges_validation(renderings[name], tmp_path)


# --- scaling ----------------------------------------------------------------------------------


def vendor_topics(vendor: str, topics: dict[str, str]) -> set[str]:
    """The topics a vendor reads, from the vendor registry (bridge/vendors) and the topic names."""
    from bridge.events import EventType
    from bridge.vendors import vendor_classes

    by_type = {EventType.ORDER: topics["orders"], EventType.PRODUCT_VIEW: topics["product_views"]}
    return {by_type[event_type] for event_type in vendor_classes()[vendor].event_types}


def test_keda_scales_each_vendor_on_the_lag_of_its_own_topics(rendered_all: Rendered) -> None:
    """Bug: triggers without `topic` counted every topic of the group (or of the cluster)."""
    values = ci_values("all-enabled-values.yaml")
    topics = {key: values["config"]["topics"][key]["name"] for key in ("orders", "product_views")}
    deployments = {d["metadata"]["name"] for d in rendered_all.of_kind("Deployment")}
    partitions = values["kafka"]["topicPartitions"]
    scaled = rendered_all.of_kind("ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == deployments
    for obj in scaled:
        vendor = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        assert obj["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"rel-bridge-{vendor}",
        }
        assert obj["spec"]["maxReplicaCount"] <= partitions
        assert obj["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 1}
        assert "replicas" not in rendered_all.named("Deployment", f"rel-bridge-{vendor}")["spec"]
        if vendor == "vtmarketing":
            continue  # its Prometheus trigger: test_keda_holds_the_pod_count_...
        triggers = obj["spec"]["triggers"]
        assert all(trigger["type"] == "kafka" for trigger in triggers)
        assert sorted(trigger["metadata"]["topic"] for trigger in triggers) == sorted(
            vendor_topics(vendor, topics)
        ), vendor
        for trigger in triggers:
            assert trigger["metadata"]["consumerGroup"] == f"shop.bridge.{vendor}"
            assert trigger["metadata"]["allowIdleConsumers"] == "false"
            assert trigger["metadata"]["offsetResetPolicy"] == "earliest"
            assert trigger["authenticationRef"]["name"] == "rel-bridge-kafka"
    assert (
        rendered_all.named("ScaledObject", "rel-bridge-quicklizard")["spec"]["maxReplicaCount"]
        == 12
    )

    (auth,) = rendered_all.of_kind("TriggerAuthentication")
    secrets = {s["metadata"]["name"]: s for s in rendered_all.of_kind("Secret")}
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["key"] in secrets[ref["name"]]["data"], ref
    assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} == {"password", "ca"}
    assert {ref["parameter"] for ref in auth["spec"]["env"]} == {"sasl", "username", "tls"}
    for deployment in rendered_all.of_kind("Deployment"):
        if deployment["metadata"]["name"] == "rel-bridge-vtmarketing":
            continue
        env = {e["name"]: e.get("value") for e in bridge_container(deployment).get("env", [])}
        resolved = {ref["parameter"]: env[ref["name"]] for ref in auth["spec"]["env"]}
        assert resolved == {"sasl": "scram_sha512", "username": "bridge", "tls": "enable"}


def test_keda_lag_policy_matches_the_consumers_offset_reset() -> None:
    """KEDA counts an uncommitted partition from where the consumer will start reading."""
    values = chart_values()
    assert values["keda"]["offsetResetPolicy"] == "earliest"
    consumer = KafkaSettings(bootstrap_servers="kafka:9092").consumer_config("qubit")
    assert consumer["auto.offset.reset"] == "earliest"


def test_keda_holds_the_pod_count_while_the_circuit_is_open(rendered_all: Rendered) -> None:
    scaled = rendered_all.named("ScaledObject", "rel-bridge-vtmarketing")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring:9090"
    query = " ".join(meta["query"].split())
    selector = 'namespace="bridge",vendor="vtmarketing"'
    assert f"bridge_consumer_lag_records{{{selector}}}" in query
    assert f'unless on () (min(bridge_circuit_state{{{selector},state="closed"}}) == 0)' in query
    assert f'count(bridge_circuit_state{{{selector},state="closed"}}) * 1000' in query
    assert meta["threshold"] == "1000"
    assert "authenticationRef" not in trigger
    env = bridge_container(rendered_all.named("Deployment", "rel-bridge-vtmarketing")).get("env")
    assert not any(e["name"].startswith("KEDA_KAFKA_") for e in env or [])


def test_keda_with_prometheus_needs_its_address() -> None:
    helm = require("helm_python", "helm-python-sdk")
    with pytest.raises(helm.HelmRenderError, match=r"keda\.prometheus\.serverAddress is required"):
        render_minimal({"keda": {"enabled": True, "lagSource": "prometheus"}})


def test_keda_on_plaintext_kafka_needs_no_authentication() -> None:
    rendered = render_minimal({"keda": {"enabled": True}})
    scaled = rendered.of_kind("ScaledObject")
    assert len(scaled) == len(VENDORS)
    topics = {"orders": "orders", "product_views": "product-views"}
    for obj in scaled:
        vendor = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        triggers = obj["spec"]["triggers"]
        assert {tr["metadata"]["topic"] for tr in triggers} == vendor_topics(vendor, topics)
        assert all("authenticationRef" not in trigger for trigger in triggers)
    assert rendered.of_kind("TriggerAuthentication") == []
    assert all("env" not in bridge_container(d) for d in rendered.of_kind("Deployment"))


TOPIC_LISTS = {
    "orders": [{"name": "shop.orders.nl"}, {"name": "shop.orders.de"}],
    "product_views": {"name": "product-views"},
}


def test_keda_watches_every_topic_of_a_topic_list() -> None:
    """Bug: bridge.topic read config.topics.<type>.name, so a list of topic blocks failed."""
    from bridge.events import EventType
    from bridge.vendors import vendor_classes

    rendered = render_minimal({"keda": {"enabled": True}, "config": {"topics": TOPIC_LISTS}})
    by_type = {
        EventType.ORDER: ["shop.orders.de", "shop.orders.nl"],
        EventType.PRODUCT_VIEW: ["product-views"],
    }
    for obj in rendered.of_kind("ScaledObject"):
        vendor = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = [name for t in vendor_classes()[vendor].event_types for name in by_type[t]]
        topics = [trigger["metadata"]["topic"] for trigger in obj["spec"]["triggers"]]
        assert sorted(topics) == sorted(expected), vendor
        assert all(
            t["metadata"]["consumerGroup"] == f"bridge.{vendor}" for t in obj["spec"]["triggers"]
        )


def test_keda_kafka_scaler_refuses_a_topic_pattern_and_says_what_to_do() -> None:
    """KEDA's Kafka scaler takes topic names only: a pattern would leave its lag uncounted."""
    helm = require("helm_python", "helm-python-sdk")
    topics = {"orders": [{"name": "orders"}, {"name": "^shop\\.orders\\.[a-z]{2}$"}]}
    with pytest.raises(
        helm.HelmRenderError, match=r"keda\.lagSource kafka cannot scale .* pattern"
    ) as e:
        render_minimal({"keda": {"enabled": True}, "config": {"topics": topics}})
    assert "keda.lagSource: prometheus" in str(e.value)
    assert "list the topics by name" in str(e.value)
    # Without KEDA, or with the Prometheus lag source (the bridge's own metric covers every
    # topic a pattern matches), the same topics render.
    assert render_minimal({"config": {"topics": topics}}).of_kind("ScaledObject") == []
    prometheus = {"enabled": True, "lagSource": "prometheus"}
    prometheus["prometheus"] = {"serverAddress": "http://prometheus.monitoring:9090"}
    rendered = render_minimal({"keda": prometheus, "config": {"topics": topics}})
    for obj in rendered.of_kind("ScaledObject"):
        assert [trigger["type"] for trigger in obj["spec"]["triggers"]] == ["prometheus"]


def test_a_vendor_not_reading_the_pattern_keeps_its_kafka_triggers() -> None:
    """Only the Deployments whose vendors read the pattern need another lag source."""
    from bridge.events import EventType
    from bridge.vendors import vendor_classes

    topics = {"product_views": {"name": "^shop\\.views\\..*"}}
    prometheus = {"lagSource": "prometheus"}
    vendors = {
        name: {"keda": prometheus}
        for name, cls in vendor_classes().items()
        if EventType.PRODUCT_VIEW in cls.event_types
    }
    assert 0 < len(vendors) < len(VENDORS)
    keda = {"enabled": True, "prometheus": {"serverAddress": "http://prometheus.monitoring:9090"}}
    rendered = render_minimal({"keda": keda, "config": {"topics": topics}, "vendors": vendors})
    for obj in rendered.of_kind("ScaledObject"):
        vendor = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        kinds = {trigger["type"] for trigger in obj["spec"]["triggers"]}
        assert kinds == ({"prometheus"} if vendor in vendors else {"kafka"}), vendor


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"vendors": {"qubit": {"replicas": 7}}}, "replicas 7 is more than kafka.topicPartitions"),
        (
            {"autoscaling": {"enabled": True, "maxReplicas": 8}},
            "autoscaling.maxReplicas 8 is more than kafka.topicPartitions",
        ),
        (
            {"keda": {"enabled": True}, "vendors": {"esputnik": {"keda": {"maxReplicaCount": 9}}}},
            "keda.maxReplicaCount 9 is more than kafka.topicPartitions",
        ),
        (
            {"autoscaling": {"enabled": True}, "keda": {"enabled": True}},
            "autoscaling and keda are both enabled",
        ),
        ({"terminationGracePeriodSeconds": 25}, "must be at least config.shutdown_deadline_s"),
        ({"image": {"repository": ""}}, "image.repository is required"),
        (
            {"vendors": {"qubit": {"settings": {"tracking_id": ""}}}},
            "vendors.qubit.settings.tracking_id is required",
        ),
        (
            {"vendors": {"squeezely": {"settings": {"account_id": ""}}}},
            "vendors.squeezely.settings.account_id is required",
        ),
        (
            {"credentials": {"values": {"esputnik-api-key": ""}}},
            "credentials.values.esputnik-api-key is required by vendor esputnik",
        ),
        (
            {"kafka": {"schemaRegistryUrl": "http://:8081"}},
            'kafka.schemaRegistryUrl "http://:8081": cannot tell the host and port',
        ),
        (
            {"vendors": {"qubit": {"rateLimitTotalRps": 100, "options": {"rate_limit_rps": 5}}}},
            "set rateLimitTotalRps \\(for all pods\\) or options.rate_limit_rps",
        ),
        (
            {
                "kafka": {
                    "securityProtocol": "SASL_SSL",
                    "sasl": {"mechanism": "OAUTHBEARER"},
                }
            },
            "kafka.sasl.oauthbearer.tokenEndpointUrl is required",
        ),
        (
            {"kafka": {"tls": {"clientCert": {"existingSecret": "client-tls"}}}},
            "kafka.tls.clientCert needs kafka.securityProtocol SSL or SASL_SSL",
        ),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "kafka.sasl.username is required"),
        (
            {"config": {"topics": {"orders": {"name": "orders", "format": "confluent"}}}},
            "kafka.schemaRegistryUrl is required",
        ),
        (
            {
                "config": {
                    "topics": {"orders": [{"name": "o"}, {"name": "c", "format": "confluent"}]}
                }
            },
            r"kafka.schemaRegistryUrl is required when a topic's format is confluent "
            r"\(config.topics: c\)",
        ),
        (
            {"vendors": {name: {"enabled": False} for name in VENDORS}},
            "no vendor is enabled",
        ),
        (
            {"kafka": {"schemaRegistryBearerAuth": True}},
            "kafka.schemaRegistryBearerAuth is set but kafka.schemaRegistryUrl is empty",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryUsername": "u",
                    "schemaRegistryBearerAuth": True,
                },
                "credentials": {"values": {"schema-registry-password": "p"}},
            },
            "basic auth or a bearer token, not both",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryBearerAuth": True,
                }
            },
            "credentials.values.schema-registry-bearer-token is required",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryLogicalCluster": "lsrc-1",
                }
            },
            "kafka.schemaRegistryLogicalCluster is sent with a bearer token only",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "http://sr.example",
                    "schemaRegistryTls": {"caBundle": "PEM"},
                }
            },
            "kafka.schemaRegistryTls needs an https:// kafka.schemaRegistryUrl",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryTls": {"caBundle": "PEM", "existingSecret": "ca"},
                }
            },
            "kafka.schemaRegistryTls: set caBundle or existingSecret, not both",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryTls": {"clientCert": {"encryptedKey": True}},
                }
            },
            "encryptedKey needs kafka.schemaRegistryTls.clientCert.existingSecret",
        ),
        (
            {
                "kafka": {
                    "schemaRegistryUrl": "https://sr.example",
                    "schemaRegistryTls": {
                        "clientCert": {"existingSecret": "sr-tls", "encryptedKey": True}
                    },
                }
            },
            "credentials.values.schema-registry-ssl-key-password is required",
        ),
    ],
)
def test_chart_refuses_what_would_break_in_production(values: dict[str, Any], message: str) -> None:
    helm = require("helm_python", "helm-python-sdk")
    with pytest.raises(helm.HelmRenderError, match=message):
        render_minimal(values)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"vendors": {"qubit": {"replicas": "two"}}}, "/vendors/qubit/replicas"),
        ({"vendors": {"amazon": {"enabled": True}}}, "/vendors"),
        ({"deploymentMode": "daemonset"}, "/deploymentMode"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"config": {"shutdown_deadline_s": 0}}, "/config/shutdown_deadline_s"),
        ({"config": {"kafka": {}}}, "/config"),
        ({"vendors": {"qubit": {"options": {"concurency": 4}}}}, "/vendors/qubit/options"),
        (
            {"vendors": {"qubit": {"options": {"ordering": "fifo"}}}},
            "/vendors/qubit/options/ordering",
        ),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
    ],
)
def test_values_schema_rejects_wrong_values_at_install(values: dict[str, Any], where: str) -> None:
    helm = require("helm_python", "helm-python-sdk")
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError, match=where):
        chart.validate_schema(chart.merge_values(values))


# --- metrics, rules, dashboard, network -------------------------------------------------------


def test_metrics_service_and_servicemonitor_find_every_pod(rendered_all: Rendered) -> None:
    (service,) = rendered_all.of_kind("Service")
    assert service["spec"]["publishNotReadyAddresses"] is True
    for deployment in rendered_all.of_kind("Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
    (monitor,) = rendered_all.of_kind("ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


def copy_chart_with_files(tmp_path: Path, rules: str | None, dashboard: str | None) -> Path:
    chart = tmp_path / "bridge"
    shutil.copytree(CHART, chart)
    files = chart / "files"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    if rules is not None:
        (files / "bridge-rules.yml").write_text(rules)
    if dashboard is not None:
        (files / "bridge-dashboard.json").write_text(dashboard)
    return chart


SAMPLE_RULES = """\
groups:
  - name: bridge
    rules:
      - alert: BridgeCredentialsRefused
        expr: max by (vendor) (bridge_credentials_refused) == 1
        for: 5m
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.vendor }} refuses the bridge's credentials"
"""


def test_prometheus_rule_embeds_the_rules_files_groups(tmp_path: Path) -> None:
    chart = copy_chart_with_files(tmp_path, SAMPLE_RULES, '{"title": "bridge", "panels": []}')
    rendered = render_minimal(ci_values("all-enabled-values.yaml"), chart=chart)
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(SAMPLE_RULES)["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboard = rendered.named("ConfigMap", "rel-bridge-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert yaml.safe_load(dashboard["data"]["bridge-dashboard.json"]) == {
        "title": "bridge",
        "panels": [],
    }


def test_chart_renders_without_the_rules_and_dashboard_files(tmp_path: Path) -> None:
    chart = copy_chart_with_files(tmp_path, None, None)
    rendered = render_minimal(ci_values("all-enabled-values.yaml"), chart=chart)
    assert rendered.of_kind("PrometheusRule") == []
    assert all(
        c["metadata"]["name"] != "rel-bridge-dashboard" for c in rendered.of_kind("ConfigMap")
    )
    assert "no PrometheusRule was created" in rendered.notes
    assert "no dashboard ConfigMap was created" in rendered.notes


def test_a_broken_rules_file_fails_the_install(tmp_path: Path) -> None:
    helm = require("helm_python", "helm-python-sdk")
    chart = copy_chart_with_files(tmp_path, "groups: [unclosed\n", None)
    with pytest.raises(helm.HelmRenderError, match=r"bridge-rules\.yml is not valid YAML"):
        render_minimal(ci_values("all-enabled-values.yaml"), chart=chart)


def test_repository_rules_and_dashboard_files_are_embedded_when_present(
    rendered_all: Rendered,
) -> None:
    rules = rendered_all.of_kind("PrometheusRule")
    if RULES_FILE.exists():
        groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
        base = ci_values("all-enabled-values.yaml")["metrics"]["prometheusRule"]["runbookBaseUrl"]
        for group in groups:
            for rule in group["rules"]:
                if "alert" in rule:
                    relative = f"docs/observability.md#{rule['alert'].lower()}"
                    assert rule["annotations"]["runbook_url"] == relative
                    rule["annotations"]["runbook_url"] = f"{base}/{relative}"
        assert [r["spec"]["groups"] for r in rules] == [groups]
        plain = render_minimal({"metrics": {"prometheusRule": {"enabled": True}}})
        (rule,) = plain.of_kind("PrometheusRule")
        assert rule["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]
    else:
        assert rules == []
    dashboards = [
        c
        for c in rendered_all.of_kind("ConfigMap")
        if c["metadata"]["name"] == "rel-bridge-dashboard"
    ]
    assert len(dashboards) == (1 if DASHBOARD_FILE.exists() else 0)


def test_network_policy_allows_only_dns_kafka_and_https_out(rendered_all: Rendered) -> None:
    (policy,) = rendered_all.of_kind("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ports = sorted(
        (port["port"], port["protocol"])
        for rule in policy["spec"]["egress"]
        for port in rule["ports"]
    )
    assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP"), (8081, "TCP"), (9093, "TCP")]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_disruption_budgets_cover_each_deployment(rendered_default: Rendered) -> None:
    budgets = {p["metadata"]["name"]: p for p in rendered_default.of_kind("PodDisruptionBudget")}
    for deployment in rendered_default.of_kind("Deployment"):
        budget = budgets[deployment["metadata"]["name"]]
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        assert budget["spec"]["maxUnavailable"] == 1


def test_notes_tell_how_to_watch_the_rollout(rendered_default: Rendered) -> None:
    for vendor in VENDORS:
        assert (
            f"kubectl -n bridge rollout status deployment/rel-bridge-{vendor}"
            in rendered_default.notes
        )
    assert "Dashboard" in rendered_default.notes
    assert "helm test rel -n bridge" in rendered_default.notes


def test_notes_warn_when_prometheus_would_ignore_the_monitor_and_rules() -> None:
    assert chart_values()["metrics"]["serviceMonitor"]["labels"] == {
        "release": "kube-prometheus-stack"
    }
    quiet = render_minimal(
        {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    )
    assert "WARNING" not in quiet.notes
    empty = render_minimal(
        {
            "metrics": {
                "serviceMonitor": {"enabled": True, "labels": None},
                "prometheusRule": {"enabled": True, "labels": None},
            }
        }
    )
    assert "metrics.serviceMonitor.labels is empty" in empty.notes
    assert "metrics.prometheusRule.labels is empty" in empty.notes


def test_default_values_refuse_to_render_naming_what_is_missing() -> None:
    """values.yaml alone would install Deployments that crash-loop on an unpullable image."""
    helm = require("helm_python", "helm-python-sdk")
    with pytest.raises(helm.HelmRenderError, match=r"image\.repository is required"):
        render_raw()
    for missing in ("tracking_id", "account_id"):
        values = ci_values("minimal-values.yaml")
        vendor = "qubit" if missing == "tracking_id" else "squeezely"
        del values["vendors"][vendor]
        with pytest.raises(helm.HelmRenderError, match=f"vendors.{vendor}.settings.{missing}"):
            render_raw(values)


def test_the_documented_production_values_render() -> None:
    """docs/deploy.md's values-prod.yaml example is valid values for this chart."""
    docs = (REPO / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.DOTALL)
    examples = [yaml.safe_load(textwrap.dedent(block)) for block in blocks]
    (values,) = [e for e in examples if isinstance(e, dict) and "image" in e and "kafka" in e]
    rendered = render_raw(values)
    names = sorted(d["metadata"]["name"] for d in rendered.of_kind("Deployment"))
    assert names == [
        "rel-bridge-esputnik",
        "rel-bridge-qubit",
        "rel-bridge-quicklizard",
        "rel-bridge-squeezely",
    ]
    assert rendered.named("Deployment", "rel-bridge-quicklizard")["spec"]["replicas"] == 2
