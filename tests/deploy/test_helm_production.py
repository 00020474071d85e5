"""What a real cluster would show and a plain render does not: issue 14's bugs and risks.

Each test names the failure it keeps fixed: KEDA topics, the Schema Registry's egress rule,
restarts on chart bumps, rate limits multiplied by autoscaling, proxies and private CAs, the
managed-Kafka examples, and the chart's and compose's vendor blocks against the registry.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_support import (
    CHART,
    CRD_KINDS,
    REPO,
    Rendered,
    bridge_container,
    chart_values,
    ci_values,
    deployment_config,
    load_yaml,
    pod_spec,
    render,
    render_minimal,
    require,
)
from tests.deploy.test_helm_render import assert_configs_pass_the_bridges_validation

EXAMPLES = CHART / "examples"


def egress_ports(rendered: Rendered) -> dict[int, list[dict[str, Any]]]:
    (policy,) = rendered.of_kind("NetworkPolicy")
    return {
        port["port"]: rule.get("to", [])
        for rule in policy["spec"]["egress"]
        for port in rule["ports"]
        if port["protocol"] == "TCP"
    }


# --- the vendor registry is the authority -----------------------------------------------------


def test_chart_vendor_facts_match_the_vendor_registry() -> None:
    """eventTypes (KEDA topics, replay docs) and requiredSettings (render checks) per vendor."""
    from bridge.vendors import vendor_classes

    vendors = chart_values()["vendors"]
    known = vendor_classes()
    assert set(vendors) == set(known), "a vendor module without a chart block, or the reverse"
    for name, cls in known.items():
        assert sorted(vendors[name]["eventTypes"]) == sorted(t.value for t in cls.event_types)
        required = [k for k, f in cls.settings_model.model_fields.items() if f.is_required()]
        assert sorted(vendors[name]["requiredSettings"]) == sorted(required), name


def test_compose_config_has_a_block_for_every_registered_vendor() -> None:
    from bridge.vendors import vendor_classes

    compose_config = load_yaml(REPO / "deploy" / "compose" / "bridge.yaml")
    assert set(compose_config["vendors"]) == set(vendor_classes())


def test_docs_replay_table_names_each_vendors_own_topics() -> None:
    """Bug: the reset command named both topics for vendors that read only orders."""
    from bridge.events import EventType
    from bridge.vendors import vendor_classes

    docs = (REPO / "docs" / "deploy.md").read_text()
    names = {EventType.ORDER: "orders", EventType.PRODUCT_VIEW: "product-views"}
    for vendor, cls in vendor_classes().items():
        topics = " ".join(f"--topic {names[t]}" for t in sorted(cls.event_types, key=str))
        assert f"| `{vendor}` | `{topics}` |" in docs, vendor
    assert "--topic orders --topic product-views \\\n  --to-datetime" not in docs


# --- network ----------------------------------------------------------------------------------


def test_network_policy_opens_the_schema_registry_port_from_its_url(
    rendered_all: Rendered,
) -> None:
    """Bug: the registry's port was closed, so the pipeline waited for it forever."""
    ports = egress_ports(rendered_all)
    assert ports[8081] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}
    ]
    default_port = render_minimal(
        {"networkPolicy": {"enabled": True}, "kafka": {"schemaRegistryUrl": "https://sr.example"}}
    )
    assert 443 in egress_ports(default_port)
    plain = render_minimal(
        {
            "networkPolicy": {"enabled": True, "https": {"to": []}},
            "kafka": {"schemaRegistryUrl": "http://user@registry.kafka.svc"},
        }
    )
    assert 80 in egress_ports(plain)


def test_network_policy_dns_reaches_nodelocal_dnscache_and_kafka_reaches_msk_ports() -> None:
    rendered = render_minimal({"networkPolicy": {"enabled": True}})
    ports = egress_ports(rendered)
    assert {9092, 9093, 9094, 9096, 9098} <= set(ports)
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in ports[53]


def test_proxy_and_private_ca_reach_the_bridge_container(rendered_single: Rendered) -> None:
    (deployment,) = rendered_single.of_kind("Deployment")
    container = bridge_container(deployment)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy.corp.example:3128"
    no_proxy = env["NO_PROXY"].split(",")
    assert {".svc", ".cluster.local", "internal.example"} <= set(no_proxy)
    assert env["SSL_CERT_FILE"] == "/etc/bridge/vendor-ca/ca.crt"
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["vendor-ca"]["configMap"]["name"] == "corporate-ca"
    assert volumes["vendor-ca"]["configMap"]["items"] == [
        {"key": "ca-bundle.pem", "path": "ca.crt"}
    ]
    assert 3128 in egress_ports(rendered_single)
    assert container["envFrom"] == [{"secretRef": {"name": "bridge-extra-env"}}]


def test_mtls_client_certificate_is_mounted_and_configured(rendered_single: Rendered) -> None:
    (deployment,) = rendered_single.of_kind("Deployment")
    config = deployment_config(rendered_single, deployment)
    assert config["kafka"]["ssl_certificate_location"] == "/etc/bridge/kafka-client/tls.crt"
    assert config["kafka"]["ssl_key_location"] == "/etc/bridge/kafka-client/tls.key"
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["kafka-client-cert"]["secret"]["secretName"] == "bridge-kafka-client-tls"


# --- pods -------------------------------------------------------------------------------------


def test_a_chart_version_bump_alone_does_not_restart_the_pods(
    rendered_default: Rendered, tmp_path: Path
) -> None:
    """Bug: helm.sh/chart on the pod template rolled every vendor on each chart release."""
    chart = tmp_path / "bridge"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "9.9.9"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    bumped = render(ci_values("minimal-values.yaml"), chart=chart)
    for deployment in rendered_default.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        assert "helm.sh/chart" not in deployment["spec"]["template"]["metadata"]["labels"]
        assert "helm.sh/chart" in deployment["metadata"]["labels"]
        after = bumped.named("Deployment", name)
        assert after["spec"]["template"] == deployment["spec"]["template"], name


def test_pods_spread_over_nodes_and_zones_by_default(rendered_default: Rendered) -> None:
    for deployment in rendered_default.of_kind("Deployment"):
        spread = pod_spec(deployment)["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in spread}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_common_labels_init_containers_and_sidecars(rendered_single: Rendered) -> None:
    for obj in rendered_single.objects:
        assert obj["metadata"]["labels"]["example.com/cost-centre"] == "data", obj["kind"]
    (deployment,) = rendered_single.of_kind("Deployment")
    spec = pod_spec(deployment)
    assert [c["name"] for c in spec["initContainers"]] == ["wait"]
    assert [c["name"] for c in spec["containers"]] == ["bridge", "log-shipper"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["example.com/cost-centre"] == "data"


def test_helm_test_hook_calls_the_status_port(rendered_default: Rendered) -> None:
    (pod,) = rendered_default.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example/team/bridge:0.1.0"
    assert "http://rel-bridge-metrics.bridge.svc:9400/healthz" in container["command"][-1]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


# --- rate limits and autoscaling --------------------------------------------------------------


def test_a_vendor_rate_limit_is_shared_by_the_most_pods_it_can_have() -> None:
    """Risk: a per-pod limit times KEDA's maximum overran a rate-limited vendor."""
    fixed = render_minimal(
        {"vendors": {"qubit": {"replicas": 4, "rateLimitTotalRps": 100, "rateLimitTotalBurst": 10}}}
    )
    qubit = deployment_config(fixed, fixed.named("Deployment", "rel-bridge-qubit"))["vendors"]
    assert qubit["qubit"]["rate_limit_rps"] == 25
    assert qubit["qubit"]["rate_limit_burst"] == 2
    scaled = render_minimal(
        {
            "keda": {"enabled": True, "maxReplicaCount": 6},
            "vendors": {"qubit": {"replicas": 1, "rateLimitTotalRps": 50}},
        }
    )
    config = deployment_config(scaled, scaled.named("Deployment", "rel-bridge-qubit"))
    assert config["vendors"]["qubit"]["rate_limit_rps"] * 6 == pytest.approx(50, abs=0.01)


# --- managed Kafka examples -------------------------------------------------------------------


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples_for_the_managed_services() -> None:
    names = {path.stem for path in example_files()}
    assert {"confluent-cloud", "msk-scram", "msk-mtls", "aiven-redpanda-scram"} <= names


@pytest.mark.parametrize("path", example_files(), ids=lambda path: path.stem)
def test_managed_kafka_examples_render_valid_configs(path: Path, tmp_path: Path) -> None:
    values = load_yaml(path)
    rendered = render(values)
    assert rendered.of_kind("Deployment")
    assert_configs_pass_the_bridges_validation(rendered, tmp_path)
    utils = require("kubernetes_validate.utils", "kubernetes-validate")
    for obj in rendered.objects:
        if obj["kind"] not in CRD_KINDS:
            utils.validate(obj, utils.latest_version(), strict=True)


def test_confluent_cloud_example_uses_plain_sasl_and_registry_basic_auth() -> None:
    rendered = render(load_yaml(EXAMPLES / "confluent-cloud.yaml"))
    deployment = rendered.of_kind("Deployment")[0]
    kafka = deployment_config(rendered, deployment)["kafka"]
    assert (kafka["security_protocol"], kafka["sasl_mechanism"]) == ("SASL_SSL", "PLAIN")
    assert kafka["schema_registry_password"] == {
        "file": "/etc/bridge/secrets/schema-registry-password"
    }
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    keys = {item["key"] for item in volumes["credentials"]["secret"]["items"]}
    assert {"kafka-sasl-password", "schema-registry-password"} <= keys
    assert 443 in egress_ports(rendered)
