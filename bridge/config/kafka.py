"""The Kafka cluster and Schema Registry the bridge connects to: addresses, SASL, TLS,
librdkafka properties passed through.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from bridge.config.strict import StrictModel
from bridge.secrets import Secret

PREFETCH_KB = 8192
"""librdkafka's prefetch queue of one consumer (``queued.max.messages.kbytes``): it bounds what
is fetched ahead, so memory stays flat while partitions are paused over a large backlog."""
PREFETCH_KB_PER_PROCESS = 16_384
PREFETCH_KB_MIN = 4096


def prefetch_kbytes(consumers: int) -> int:
    """Each consumer's prefetch queue when `consumers` (one per vendor) share a process: 8 MB
    for one or two, then a share of 16 MB, never below 4 MB. Five vendors in one process
    (bench/fleet.py) peaked at 244-256 MB with 8 MB each and at 233-234 MB with 4 MB; a batching
    vendor alone delivered about 8 % less with 4 MB, so a process of its own keeps 8 MB."""
    return max(PREFETCH_KB_MIN, min(PREFETCH_KB, PREFETCH_KB_PER_PROCESS // max(1, consumers)))


class KafkaSettings(StrictModel):
    bootstrap_servers: str
    group_prefix: str = "bridge"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    sasl_oauthbearer_token_endpoint_url: str | None = None
    """OAUTHBEARER: the OIDC token endpoint librdkafka fetches tokens from (client
    credentials grant, ``sasl.oauthbearer.method=oidc``)."""
    sasl_oauthbearer_client_id: str | None = None
    sasl_oauthbearer_client_secret: Secret | None = None
    sasl_oauthbearer_scope: str | None = None
    sasl_oauthbearer_extensions: str | None = None
    """``key=value,key=value`` SASL extensions, e.g. Confluent Cloud's
    ``logicalCluster=lkc-...,identityPoolId=pool-...``."""
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    """mTLS: the client certificate (PEM) presented to the brokers."""
    ssl_key_location: Path | None = None
    """mTLS: the client certificate's private key (PEM)."""
    ssl_key_password: Secret | None = None
    schema_registry_url: str | None = None
    schema_registry_username: str | None = None
    """Basic auth for the Schema Registry (Confluent Cloud: the API key)."""
    schema_registry_password: Secret | None = None
    schema_registry_bearer_token: Secret | None = None
    """Bearer auth for the Schema Registry (instead of basic auth)."""
    schema_registry_logical_cluster: str | None = None
    """Confluent Cloud with a bearer token: the registry's logical cluster (``lsrc-...``)."""
    schema_registry_ssl_ca_location: Path | None = None
    """The CA bundle (PEM) the registry's certificate is checked against (default: certifi's)."""
    schema_registry_ssl_certificate_location: Path | None = None
    """mTLS to the registry: the client certificate (PEM)."""
    schema_registry_ssl_key_location: Path | None = None
    schema_registry_ssl_key_password: Secret | None = None

    @model_validator(mode="after")
    def _registry_auth(self) -> KafkaSettings:
        if self.schema_registry_bearer_token and self.schema_registry_username:
            raise ValueError("schema registry: give basic auth or a bearer token, not both")
        if (self.schema_registry_ssl_certificate_location is None) != (
            self.schema_registry_ssl_key_location is None
        ):
            raise ValueError(
                "schema registry mTLS needs both schema_registry_ssl_certificate_location and "
                "schema_registry_ssl_key_location"
            )
        return self

    consumer_properties: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Any librdkafka consumer property, passed through as it is, except the ones the bridge's
    correctness rests on (`RESERVED_CONSUMER_PROPERTIES`)."""
    producer_properties: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Any librdkafka producer property (dead-letter and outcome producer)."""

    RESERVED_CONSUMER_PROPERTIES: ClassVar[dict[str, str]] = {
        "group.id": "the group is <group_prefix>.<vendor>, one per vendor; set group_prefix",
        "auto.offset.reset": "a new group starts at the earliest offset, so nothing is skipped",
        "enable.auto.commit": "offsets are committed only after the vendor acknowledged",
        "enable.auto.offset.store": "offsets are stored only after the vendor acknowledged",
    }
    _OAUTHBEARER_FIELDS: ClassVar[tuple[str, ...]] = (
        "sasl_oauthbearer_token_endpoint_url",
        "sasl_oauthbearer_client_id",
        "sasl_oauthbearer_client_secret",
    )

    @field_validator("consumer_properties")
    @classmethod
    def _no_reserved_consumer_properties(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        for key in value:
            why = cls.RESERVED_CONSUMER_PROPERTIES.get(key.strip().lower())
            if why is not None:
                raise ValueError(f"{key!r} is set by the bridge and cannot be overridden ({why})")
        return value

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        oauth = self.sasl_mechanism == "OAUTHBEARER"
        if self.security_protocol.startswith("SASL"):
            needed = (
                ("sasl_mechanism", *self._OAUTHBEARER_FIELDS)
                if oauth
                else ("sasl_mechanism", "sasl_username", "sasl_password")
            )
            missing = [name for name in needed if getattr(self, name) is None]
            if missing:
                what = f"{self.security_protocol} with {self.sasl_mechanism}" if oauth else None
                raise ValueError(f"{what or self.security_protocol} needs {', '.join(missing)}")
        stray = [
            name
            for name in (*self._OAUTHBEARER_FIELDS, "sasl_oauthbearer_scope")
            if getattr(self, name) is not None
        ]
        if stray and not (oauth and self.security_protocol.startswith("SASL")):
            raise ValueError(f"{', '.join(stray)} need sasl_mechanism OAUTHBEARER with SASL_*")
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError("mTLS needs both ssl_certificate_location and ssl_key_location")
        if self.ssl_certificate_location and self.security_protocol not in ("SSL", "SASL_SSL"):
            raise ValueError("a client certificate needs security_protocol SSL or SASL_SSL")
        if (self.schema_registry_username is None) != (self.schema_registry_password is None):
            raise ValueError(
                "schema registry basic auth needs both schema_registry_username and "
                "schema_registry_password"
            )
        return self

    def consumer_config(self, vendor: str) -> dict[str, str | int | float | bool]:
        """The librdkafka properties of `vendor`'s consumer (group ``<group_prefix>.<vendor>``)."""
        return {
            **self.client_properties(),
            "group.id": f"{self.group_prefix}.{vendor}",
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": PREFETCH_KB,
            # The broker answers a fetch with nothing new after this long; librdkafka's 500 ms
            # default adds up to that to a record produced just after an empty fetch (issue 16
            # measured a plain consumer at p50 156 ms with it, 58 ms with 10 ms). 25 ms keeps
            # an idle pipeline's fetches to 40 a second per broker.
            "fetch.wait.max.ms": 25,
            **self.consumer_properties,
        }

    def shared_by(self, consumers: int) -> KafkaSettings:
        """These settings for `consumers` consumers in one process: each prefetches its share
        (`prefetch_kbytes`), unless ``consumer_properties`` sets the queue itself."""
        queue = {"queued.max.messages.kbytes": prefetch_kbytes(consumers)}
        return self.model_copy(
            update={"consumer_properties": {**queue, **self.consumer_properties}}
        )

    def client_properties(self) -> dict[str, str | int | float | bool]:
        """librdkafka properties shared by the consumer and the producers."""
        props: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            props["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            props["sasl.username"] = self.sasl_username
        if self.sasl_password:
            props["sasl.password"] = self.sasl_password.get_secret_value()
        if self.sasl_mechanism == "OAUTHBEARER":
            props["sasl.oauthbearer.method"] = "oidc"
            optional = {
                "sasl.oauthbearer.token.endpoint.url": self.sasl_oauthbearer_token_endpoint_url,
                "sasl.oauthbearer.client.id": self.sasl_oauthbearer_client_id,
                "sasl.oauthbearer.scope": self.sasl_oauthbearer_scope,
                "sasl.oauthbearer.extensions": self.sasl_oauthbearer_extensions,
            }
            props.update({key: value for key, value in optional.items() if value})
            if self.sasl_oauthbearer_client_secret:
                secret = self.sasl_oauthbearer_client_secret.get_secret_value()
                props["sasl.oauthbearer.client.secret"] = secret
        if self.ssl_ca_location:
            props["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location and self.ssl_key_location:
            props["ssl.certificate.location"] = str(self.ssl_certificate_location)
            props["ssl.key.location"] = str(self.ssl_key_location)
        if self.ssl_key_password:
            props["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return props

    def schema_registry_auth(self) -> tuple[str, str] | None:
        """(user, password) for the Schema Registry's basic auth, or None."""
        if self.schema_registry_username is None or self.schema_registry_password is None:
            return None
        return self.schema_registry_username, self.schema_registry_password.get_secret_value()
