"""The chart's values.schema.json and values.yaml against bridge/config.py, the authority.

A key added to, renamed in or removed from the bridge's configuration must show up here, so the
chart never renders a config the bridge refuses, nor hides a setting the bridge has.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel

from tests.deploy.deploy_support import CHART, chart_values

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
        if is_model(annotation):
            problems += compare(child, annotation, f"{where}.{name}", root)
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


def test_chart_defaults_are_the_bridges_defaults() -> None:
    """values.yaml's config block repeats the bridge's defaults rather than changing them."""
    from bridge.config import Config, HttpSettings

    minimal = Config.model_validate({"kafka": {"bootstrap_servers": "kafka:9092"}, "vendors": {}})
    defaults = minimal.model_dump(mode="json", exclude=CHART_MANAGED)
    assert chart_values()["config"] == {key: defaults[key] for key in chart_values()["config"]}
    assert chart_values()["metrics"]["port"] == HttpSettings().port
