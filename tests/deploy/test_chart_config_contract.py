"""The chart's values.schema.json and values.yaml against bridge/config/, the authority.

A key added to, renamed in or removed from the bridge's configuration must show up here, so the
chart never renders a config the bridge refuses, nor hides a setting the bridge has.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from tests.deploy.deploy_support import CHART, CRD_KINDS, chart_values, require

CHART_MANAGED = {"kafka", "vendors", "http", "schemas_dir", "vendor_settings"}
"""Config fields the chart writes itself (from kafka.*, vendors.*, metrics.port, the image)."""
VENDOR_CHART_MANAGED = {"enabled", "base_url", "settings"}
KAFKA_FIELDS_THE_CHART_WRITES = {
    "bootstrap_servers": "kafka.bootstrapServers",
    "group_prefix": "kafka.groupPrefix",
    "security_protocol": "kafka.securityProtocol",
    "sasl_mechanism": "kafka.sasl.mechanism",
    "sasl_username": "kafka.sasl.username",
    "sasl_password": "credentials key kafka-sasl-password",
    "sasl_oauthbearer_token_endpoint_url": "kafka.sasl.oauthbearer.tokenEndpointUrl",
    "sasl_oauthbearer_client_id": "kafka.sasl.oauthbearer.clientId",
    "sasl_oauthbearer_client_secret": "credentials key kafka-oauth-client-secret",
    "sasl_oauthbearer_scope": "kafka.sasl.oauthbearer.scope",
    "sasl_oauthbearer_extensions": "kafka.sasl.oauthbearer.extensions",
    "ssl_ca_location": "kafka.tls.caBundle / kafka.tls.existingSecret",
    "ssl_certificate_location": "kafka.tls.clientCert",
    "ssl_key_location": "kafka.tls.clientCert",
    "ssl_key_password": "(not written: the chart mounts an unencrypted key)",
    "schema_registry_url": "kafka.schemaRegistryUrl",
    "schema_registry_username": "kafka.schemaRegistryUsername",
    "schema_registry_password": "credentials key schema-registry-password",
    "schema_registry_bearer_token": "credentials key schema-registry-bearer-token",
    "schema_registry_logical_cluster": "kafka.schemaRegistryLogicalCluster",
    "schema_registry_ssl_ca_location": (
        "kafka.schemaRegistryTls.caBundle / kafka.schemaRegistryTls.existingSecret"
    ),
    "schema_registry_ssl_certificate_location": "kafka.schemaRegistryTls.clientCert",
    "schema_registry_ssl_key_location": "kafka.schemaRegistryTls.clientCert",
    "schema_registry_ssl_key_password": "credentials key schema-registry-ssl-key-password",
    "consumer_properties": "kafka.consumerProperties",
    "producer_properties": "kafka.producerProperties",
}


def schema() -> dict[str, Any]:
    loaded = json.loads((CHART / "values.schema.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local $refs and fold allOf, enough for this schema's shapes."""
    if "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return resolve(target, root)
    if "allOf" in node:
        merged: dict[str, Any] = {"properties": {}}
        for part in node["allOf"]:
            resolved = resolve(part, root)
            merged = {**resolved, **merged, "properties": {**merged["properties"]}}
            merged["properties"].update(resolved.get("properties", {}))
        return merged
    return node


def unwrap(annotation: Any) -> Any:
    """X | None -> X; Annotated[X, ...] -> X."""
    if typing.get_origin(annotation) is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return unwrap(rest[0])
    return annotation


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def compare(
    node: dict[str, Any],
    model: type[BaseModel],
    where: str,
    root: dict[str, Any],
    ignore: Collection[str] = (),
) -> list[str]:
    """Differences between a schema object and a pydantic model: names, nesting, enums."""
    node = resolve(node, root)
    properties = node.get("properties", {})
    fields = {name: info for name, info in model.model_fields.items() if name not in ignore}
    problems = [
        f"{where}.{name}: in the chart's schema, not in {model.__name__}"
        for name in sorted(set(properties) - set(fields))
    ]
    problems += [
        f"{where}.{name}: a {model.__name__} field the chart's schema lacks"
        for name in sorted(set(fields) - set(properties))
    ]
    for name in sorted(set(properties) & set(fields)):
        annotation = unwrap(fields[name].annotation)
        child = resolve(properties[name], root)
        if typing.get_origin(annotation) is list and is_model(typing.get_args(annotation)[0]):
            # One block or a list of them: the schema offers both, each the model's shape.
            branches = [resolve(branch, root) for branch in child.get("oneOf", [child])]
            objects = [b for b in branches if b.get("type") != "array"]
            lists = [resolve(b["items"], root) for b in branches if b.get("type") == "array"]
            if not lists:
                problems.append(f"{where}.{name}: the chart's schema takes no list of blocks")
            for index, branch in enumerate([*objects, *lists]):
                model = typing.get_args(annotation)[0]
                problems += compare(branch, model, f"{where}.{name}[{index}]", root)
        elif is_model(annotation):
            problems += compare(child, annotation, f"{where}.{name}", root)
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            # e.g. concurrency: a number or "adaptive": each literal must be a branch's const.
            literals = {
                value
                for arg in typing.get_args(annotation)
                if typing.get_origin(arg) is Literal
                for value in typing.get_args(arg)
            }
            consts = {resolve(b, root).get("const") for b in child.get("oneOf", [child])}
            if not literals <= consts:
                problems.append(f"{where}.{name}: schema lacks {sorted(literals - consts)}")
        elif typing.get_origin(annotation) is Literal:
            expected = {value for value in typing.get_args(annotation) if value is not None}
            allowed = {value for value in child.get("enum", []) if value not in (None, "")}
            if allowed != expected:
                problems.append(
                    f"{where}.{name}: schema enum {sorted(allowed)} != {sorted(expected)}"
                )
    return problems


def test_config_block_mirrors_the_bridge_config() -> None:
    from bridge.config import Config

    root = schema()
    assert compare(root["properties"]["config"], Config, "config", root, CHART_MANAGED) == []


def test_vendor_options_mirror_the_vendor_config() -> None:
    from bridge.config import VendorConfig

    root = schema()
    node = root["definitions"]["vendorOptions"]
    assert compare(node, VendorConfig, "vendors.<name>.options", root, VENDOR_CHART_MANAGED) == []


def test_every_known_vendor_has_a_values_block_and_a_settings_schema() -> None:
    from bridge.vendors import vendor_classes

    root = schema()
    known = vendor_classes()
    assert set(root["properties"]["vendors"]["properties"]) == set(known)
    assert set(chart_values()["vendors"]) == set(known)
    problems: list[str] = []
    for name, cls in sorted(known.items()):
        node = root["properties"]["vendors"]["properties"][name]
        settings = resolve(node, root)["properties"]["settings"]
        problems += compare(settings, cls.settings_model, f"vendors.{name}.settings", root)
    assert problems == []


def test_kafka_settings_are_all_written_by_the_chart() -> None:
    from bridge.config import KafkaSettings

    assert set(KafkaSettings.model_fields) == set(KAFKA_FIELDS_THE_CHART_WRITES)
    root = schema()
    kafka = root["properties"]["kafka"]["properties"]
    fields = KafkaSettings.model_fields
    for values_key, field in (("securityProtocol", "security_protocol"),):
        assert set(kafka[values_key]["enum"]) == set(
            typing.get_args(unwrap(fields[field].annotation))
        )
    mechanisms = set(typing.get_args(unwrap(fields["sasl_mechanism"].annotation)))
    assert set(kafka["sasl"]["properties"]["mechanism"]["enum"]) == mechanisms
    # Each source named above exists: a values key in values.yaml and the schema, or a key of
    # the credentials Secret the chart creates.
    credential_keys = set(chart_values()["credentials"]["values"])
    for field, source in KAFKA_FIELDS_THE_CHART_WRITES.items():
        if source.startswith("credentials key "):
            assert source.removeprefix("credentials key ") in credential_keys, field
            continue
        if source.startswith("(not written"):
            continue
        for path in source.split(" / "):
            node: Any = chart_values()
            schema_node: Any = root
            for part in path.split("."):
                assert part in node, f"{field}: {path} is not in values.yaml"
                node = node[part]
                schema_node = resolve(schema_node, root)["properties"][part]
            assert schema_node, f"{field}: {path} is not in values.schema.json"


REGISTRY_EVERYTHING = [
    {  # basic auth, the registry's CA from an existing Secret, mTLS with an encrypted key
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {"mechanism": "SCRAM-SHA-512", "username": "bridge"},
            "tls": {"caBundle": "KAFKA CA PEM", "clientCert": {"existingSecret": "kafka-tls"}},
            "schemaRegistryUrl": "https://registry.shop.internal",
            "schemaRegistryUsername": "bridge",
            "schemaRegistryTls": {
                "existingSecret": "registry-ca",
                "existingSecretKey": "ca.pem",
                "clientCert": {"existingSecret": "registry-tls", "encryptedKey": True},
            },
            "consumerProperties": {"session.timeout.ms": 45000},
            "producerProperties": {"linger.ms": 5},
        },
        "credentials": {
            "values": {
                "kafka-sasl-password": "p",
                "schema-registry-password": "p",
                "schema-registry-ssl-key-password": "p",
            }
        },
    },
    {  # OIDC to the brokers, a bearer token with a logical cluster, the registry CA inline
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauthbearer": {
                    "tokenEndpointUrl": "https://idp.example/token",
                    "clientId": "bridge",
                    "scope": "kafka",
                    "extensions": "logicalCluster=lkc-1",
                },
            },
            "schemaRegistryUrl": "https://psrc-1.confluent.cloud",
            "schemaRegistryBearerAuth": True,
            "schemaRegistryLogicalCluster": "lsrc-1",
            "schemaRegistryTls": {"caBundle": "REGISTRY CA PEM"},
        },
        "credentials": {
            "values": {"kafka-oauth-client-secret": "s", "schema-registry-bearer-token": "t"}
        },
    },
]


def mounted_files(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every file the bridge container sees from a Secret: path -> (Secret, key)."""
    from tests.deploy.deploy_support import bridge_container, pod_spec

    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    files: dict[str, tuple[str, str]] = {}
    for mount in bridge_container(deployment)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        for item in (secret or {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


@pytest.mark.parametrize("values", REGISTRY_EVERYTHING, ids=["basic-mtls", "bearer-ca"])
def test_every_kafka_setting_the_chart_writes_is_rendered_mounted_and_accepted(
    values: dict[str, Any], tmp_path: Path
) -> None:
    """Each file the kafka block points at (a secret's {file: ...}, a CA, a certificate, a key)
    is mounted from the Secret holding it, and the bridge accepts the config."""
    from tests.deploy.deploy_support import deployment_config, render_minimal
    from tests.deploy.test_helm_render import assert_configs_pass_the_bridges_validation

    rendered = render_minimal(values)
    assert_configs_pass_the_bridges_validation(rendered, tmp_path)
    utils = require("kubernetes_validate.utils", "kubernetes-validate")
    for obj in rendered.objects:
        if obj["kind"] not in CRD_KINDS:
            utils.validate(obj, utils.latest_version(), strict=True)
    secrets = {s["metadata"]["name"]: s for s in rendered.of_kind("Secret")}
    for deployment in rendered.of_kind("Deployment"):
        kafka = deployment_config(rendered, deployment)["kafka"]
        files = mounted_files(deployment)
        for field, value in kafka.items():
            path = value["file"] if isinstance(value, dict) and set(value) == {"file"} else None
            if field.endswith("_location"):
                path = value
            if path is None:
                continue
            assert path in files, f"{field}: {path} is not mounted"
            secret, key = files[path]
            if secret in secrets:  # a Secret the chart creates holds the key
                assert key in secrets[secret]["data"], (field, secret, key)


def test_every_kafka_setting_is_written_by_some_values() -> None:
    """Together the renderings above set every KafkaSettings field the chart says it writes."""
    from tests.deploy.deploy_support import deployment_config, render_minimal

    written: set[str] = set()
    for values in REGISTRY_EVERYTHING:
        rendered = render_minimal(values)
        for deployment in rendered.of_kind("Deployment"):
            written |= set(deployment_config(rendered, deployment)["kafka"])
    expected = {
        field
        for field, source in KAFKA_FIELDS_THE_CHART_WRITES.items()
        if not source.startswith("(not written")
    }
    assert written == expected


def test_chart_defaults_are_the_bridges_defaults() -> None:
    """values.yaml's config block repeats the bridge's defaults rather than changing them."""
    from bridge.config import Config, HttpSettings

    minimal = {"kafka": {"bootstrap_servers": "kafka:9092"}, "vendors": {}}
    defaults = Config.model_validate(minimal).model_dump(mode="json", exclude=CHART_MANAGED)
    # Read as the bridge reads it (a topic block is a list of one), so equal means same meaning.
    chart = Config.model_validate({**minimal, **chart_values()["config"]})
    values = chart.model_dump(mode="json", exclude=CHART_MANAGED)
    assert {key: values[key] for key in chart_values()["config"]} == {
        key: defaults[key] for key in chart_values()["config"]
    }
    assert chart_values()["config"]["topics"]["orders"]["name"] == "orders"
    assert chart_values()["metrics"]["port"] == HttpSettings().port


def test_a_mapped_topic_block_and_adaptive_concurrency_render_to_a_config_the_bridge_accepts(
    tmp_path: Path,
) -> None:
    from tests.deploy.deploy_support import deployment_config, render_minimal
    from tests.deploy.test_helm_render import assert_configs_pass_the_bridges_validation

    mapping = {"event_id": {"key": True}, "occurred_at": "ts", "product_id": "sku", "price": "p"}
    values = {
        "kafka": {"schemaRegistryUrl": "https://registry.shop.internal"},
        "config": {
            "topics": {
                "product_views": {
                    "name": "clicks",
                    "format": "confluent",
                    "subject": "clicks-value",
                    "mapping": mapping,
                }
            }
        },
        "vendors": {"quicklizard": {"options": {"concurrency": "adaptive", "max_concurrency": 32}}},
    }
    rendered = render_minimal(values)
    assert_configs_pass_the_bridges_validation(rendered, tmp_path)
    (deployment,) = [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "quicklizard"
    ]
    config = deployment_config(rendered, deployment)
    assert config["topics"]["product_views"]["mapping"] == mapping
    assert config["vendors"]["quicklizard"]["concurrency"] == "adaptive"
    assert config["vendors"]["quicklizard"]["max_concurrency"] == 32


def test_topic_lists_mappings_and_adaptive_concurrency_render_to_a_config_the_bridge_accepts(
    tmp_path: Path,
) -> None:
    """Values using the keys of docs/mapping.md and concurrency: adaptive pass the schema,
    render, and the bridge accepts what the pods read."""
    from tests.deploy.deploy_support import deployment_config, render_minimal
    from tests.deploy.test_helm_render import assert_configs_pass_the_bridges_validation

    mapping = {
        "event_id": {"header": "event-id"},
        "order_id": "orderNumber",
        "occurred_at": "placedAt",
        "currency": "currencyCode",
        "total": {"path": "amounts.grossCents", "convert": "cents"},
        "customer": {"customer_id": "billing.customerId"},  # a record without default
        "items": {
            "each": "lines",
            "fields": {"product_id": "sku", "quantity": "qty", "price": "unitPrice"},
        },
    }
    values = {
        "kafka": {"schemaRegistryUrl": "https://registry.shop.internal"},
        "config": {
            "topics": {
                "orders": [
                    {"name": "orders"},
                    {
                        "name": "^shop\\.orders\\.[a-z]{2}$",
                        "format": "confluent",
                        "subject": "shop-orders-value",
                        "mapping": mapping,
                    },
                    {"name": "webhook.orders", "format": "json", "mapping": mapping},
                ],
                "product_views": {"name": "product-views", "format": "confluent"},
            }
        },
        "vendors": {"quicklizard": {"options": {"concurrency": "adaptive", "max_concurrency": 32}}},
    }
    rendered = render_minimal(values)
    assert_configs_pass_the_bridges_validation(rendered, tmp_path)
    (deployment,) = [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "quicklizard"
    ]
    config = deployment_config(rendered, deployment)
    assert [topic["name"] for topic in config["topics"]["orders"]][
        1
    ] == "^shop\\.orders\\.[a-z]{2}$"
    assert config["topics"]["orders"][2]["mapping"] == mapping
    assert config["vendors"]["quicklizard"]["concurrency"] == "adaptive"
    assert config["vendors"]["quicklizard"]["max_concurrency"] == 32


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"config": {"topics": {"orders": {"name": "o", "format": "protobuf"}}}}, "/config/topics"),
        ({"config": {"topics": {"orders": []}}}, "/config/topics/orders"),
        ({"config": {"topics": {"orders": [{"name": "o", "mapin": {}}]}}}, "/config/topics"),
        ({"vendors": {"qubit": {"options": {"concurrency": "max"}}}}, "/vendors/qubit/options"),
    ],
)
def test_values_schema_refuses_what_the_bridge_would(values: dict[str, Any], where: str) -> None:
    helm = require("helm_python", "helm-python-sdk")
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError, match=where):
        chart.validate_schema(chart.merge_values(values))
