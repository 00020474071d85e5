"""The `kafka:` block: SASL (incl. OAUTHBEARER/OIDC), mTLS, registry auth, reserved properties.

Each refusal must name the field, so a Helm value or an environment override that breaks the
consumer's guarantees fails at start with a message an operator can act on.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.config import KafkaSettings, validate_config
from bridge.errors import ConfigError

ENV = {"KAFKA_PASSWORD": "kafka-pw", "OIDC_SECRET": "oidc-s3cret", "SR_PASSWORD": "sr-pw"}


def config(kafka: dict[str, Any]) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "broker:9092", **kafka},
        "vendors": {"qubit": {"settings": {"tracking_id": "shop-1"}}},
    }


def kafka_settings(**kafka: Any) -> KafkaSettings:
    return validate_config(config(kafka), environ=ENV).kafka


def refusal(**kafka: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config(kafka), environ=ENV)
    return str(caught.value)


@pytest.mark.parametrize(
    "key", ["group.id", "auto.offset.reset", "enable.auto.commit", "enable.auto.offset.store"]
)
def test_consumer_properties_cannot_override_what_the_bridge_relies_on(key: str) -> None:
    message = refusal(consumer_properties={"session.timeout.ms": 45000, key: "x"})
    assert "kafka.consumer_properties" in message
    assert repr(key) in message
    assert "set by the bridge" in message


def test_a_reserved_key_is_refused_whatever_its_case() -> None:
    assert "'Group.Id'" in refusal(consumer_properties={"Group.Id": "shared"})


def test_other_consumer_properties_pass_through() -> None:
    props = {"session.timeout.ms": 45000, "max.partition.fetch.bytes": 262144}
    assert kafka_settings(consumer_properties=props).consumer_properties == props


def test_oauthbearer_uses_librdkafkas_oidc_client_credentials() -> None:
    kafka = kafka_settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauthbearer_token_endpoint_url="https://idp.example/oauth2/token",
        sasl_oauthbearer_client_id="bridge",
        sasl_oauthbearer_client_secret={"env": "OIDC_SECRET"},
        sasl_oauthbearer_scope="kafka",
        sasl_oauthbearer_extensions="logicalCluster=lkc-1,identityPoolId=pool-1",
    )
    props = kafka.client_properties()
    assert props == {
        "bootstrap.servers": "broker:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
        "sasl.oauthbearer.client.id": "bridge",
        "sasl.oauthbearer.client.secret": "oidc-s3cret",
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-1,identityPoolId=pool-1",
    }
    assert "oidc-s3cret" not in repr(kafka)


def test_oauthbearer_needs_no_password_but_its_client_credentials() -> None:
    message = refusal(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauthbearer_client_id="bridge",
    )
    assert "kafka: " in message
    assert "sasl_oauthbearer_token_endpoint_url" in message
    assert "sasl_oauthbearer_client_secret" in message
    assert "sasl_password" not in message


def test_oidc_settings_without_oauthbearer_are_refused() -> None:
    message = refusal(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="bridge",
        sasl_password={"env": "KAFKA_PASSWORD"},
        sasl_oauthbearer_client_id="bridge",
    )
    assert "sasl_oauthbearer_client_id need sasl_mechanism OAUTHBEARER" in message


def test_scram_still_needs_user_and_password() -> None:
    message = refusal(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512")
    assert "SASL_SSL needs sasl_username, sasl_password" in message


def test_mtls_client_certificate_reaches_librdkafka() -> None:
    kafka = kafka_settings(
        security_protocol="SSL",
        ssl_ca_location="/etc/bridge/kafka-ca/ca.crt",
        ssl_certificate_location="/etc/bridge/kafka-client/tls.crt",
        ssl_key_location="/etc/bridge/kafka-client/tls.key",
        ssl_key_password={"env": "KAFKA_PASSWORD"},
    )
    props = kafka.client_properties()
    assert props["ssl.certificate.location"] == "/etc/bridge/kafka-client/tls.crt"
    assert props["ssl.key.location"] == "/etc/bridge/kafka-client/tls.key"
    assert props["ssl.key.password"] == "kafka-pw"
    assert props["ssl.ca.location"] == "/etc/bridge/kafka-ca/ca.crt"


@pytest.mark.parametrize(
    ("kafka", "expected"),
    [
        (
            {"security_protocol": "SSL", "ssl_certificate_location": "/c.crt"},
            "needs both ssl_certificate_location and ssl_key_location",
        ),
        (
            {"ssl_certificate_location": "/c.crt", "ssl_key_location": "/c.key"},
            "needs security_protocol SSL or SASL_SSL",
        ),
    ],
)
def test_incomplete_or_plaintext_mtls_is_refused(kafka: dict[str, Any], expected: str) -> None:
    assert expected in refusal(**kafka)


def test_schema_registry_basic_auth() -> None:
    kafka = kafka_settings(
        schema_registry_url="https://psrc-1.example.confluent.cloud",
        schema_registry_username="SRKEY",
        schema_registry_password={"env": "SR_PASSWORD"},
    )
    assert kafka.schema_registry_auth() == ("SRKEY", "sr-pw")
    assert kafka_settings().schema_registry_auth() is None
    assert "schema_registry_password" in refusal(schema_registry_username="SRKEY")


@pytest.mark.parametrize(("consumers", "kbytes"), [(1, 8192), (2, 8192), (3, 5461), (5, 4096)])
def test_consumers_sharing_a_process_prefetch_a_share_of_it(consumers: int, kbytes: int) -> None:
    settings = kafka_settings().shared_by(consumers)
    assert settings.consumer_config("qubit")["queued.max.messages.kbytes"] == kbytes


def test_a_prefetch_queue_set_in_consumer_properties_is_kept_when_shared() -> None:
    settings = kafka_settings(consumer_properties={"queued.max.messages.kbytes": 1024})
    assert settings.shared_by(5).consumer_config("qubit")["queued.max.messages.kbytes"] == 1024
