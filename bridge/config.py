"""Settings: one YAML file, environment overrides, secrets as references, validated at start.

Loading order:
1. the YAML file (`bridge run --config FILE`);
2. environment overrides: ``BRIDGE__KAFKA__BOOTSTRAP_SERVERS=broker:9092`` sets
   ``kafka.bootstrap_servers``; values are read as YAML scalars, so ``true`` and ``5`` are typed;
3. validation of the whole tree, then of each vendor's own `settings` block by the vendor's
   model. Every problem is reported at once, each with the dotted path of its field.

Secrets are written as ``{env: NAME}`` or ``{file: PATH}`` (see `bridge.secrets`) and are held
as `SecretStr`, so printing a config masks them (`Config.masked()`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from bridge.errors import ConfigError
from bridge.events import DEFAULT_SCHEMAS_DIR, EventType
from bridge.secrets import Secret
from bridge.vendors import vendor_classes
from bridge.vendors.base import VendorSettings

ENV_PREFIX = "BRIDGE__"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Strict):
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


class TopicSettings(_Strict):
    name: str
    format: Literal["avro", "confluent"] = "avro"
    """``avro``: schemaless Avro written with the schema in schemas/; ``confluent``: the
    Confluent wire format, writer schema fetched from kafka.schema_registry_url."""


class TopicsSettings(_Strict):
    orders: TopicSettings = TopicSettings(name="orders")
    product_views: TopicSettings = TopicSettings(name="product-views")

    def by_event_type(self) -> dict[EventType, TopicSettings]:
        return {EventType.ORDER: self.orders, EventType.PRODUCT_VIEW: self.product_views}


class DeadLetterSettings(_Strict):
    mode: Literal["shared", "per_vendor"] = "shared"
    topic: str = "bridge.dead-letter"
    """The shared topic, or the prefix of ``<topic>.<vendor>`` in per_vendor mode."""
    max_error_chars: int = Field(default=500, ge=50)

    def topic_for(self, vendor: str) -> str:
        return self.topic if self.mode == "shared" else f"{self.topic}.{vendor}"


class OutcomeSettings(_Strict):
    enabled: bool = False
    topic: str = "bridge.outcomes"


class BatchSettings(_Strict):
    max_events: int = Field(default=100, ge=1)
    max_bytes: int = Field(default=1_000_000, ge=1_000)
    linger_ms: float = Field(default=50, ge=0)


class RetrySettings(_Strict):
    initial_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=60, gt=0)
    max_attempts: int | None = Field(default=None, ge=1)
    """None: retry transient failures until they succeed (Kafka is the buffer)."""
    max_elapsed_s: float | None = Field(default=None, gt=0)
    credentials_probe_s: float = Field(default=30, gt=0)
    """How often a pipeline whose credentials were refused tries again."""


class CircuitSettings(_Strict):
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive transient failures that open the circuit."""
    open_s: float = Field(default=10, gt=0)
    """How long the circuit stays open before one probe request is let through."""


class VendorConfig(_Strict):
    enabled: bool = True
    base_url: str | None = None
    """None: the vendor's production endpoint. Must be https, but on loopback."""
    allow_insecure_http: bool = False
    """Allow an http:// base_url off loopback (a sandbox in a compose network): keys would
    travel in clear text."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """The vendor's own block (credentials, options), validated by its module."""
    concurrency: int = Field(default=16, ge=1, le=1024)
    """Requests in flight at once."""
    max_in_flight_records: int = Field(default=5_000, ge=1)
    max_in_flight_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    resume_ratio: float = Field(default=0.5, gt=0, lt=1)
    """Paused partitions resume when in-flight work falls below this share of the limits."""
    rate_limit_rps: float | None = Field(default=None, gt=0)
    rate_limit_burst: int | None = Field(default=None, ge=1)
    request_timeout_s: float = Field(default=10, gt=0)
    ordering: Literal["key", "none"] = "key"
    on_unmappable: Literal["skip", "dead-letter"] = "skip"
    require_consent: bool = False
    batch: BatchSettings = BatchSettings()
    retry: RetrySettings = RetrySettings()
    circuit: CircuitSettings = CircuitSettings()

    @model_validator(mode="after")
    def _https_off_loopback(self) -> VendorConfig:
        url = urlsplit(self.base_url or "https://default")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, not {self.base_url!r}")
        if url.scheme == "http" and not self.allow_insecure_http and not _loopback(url.hostname):
            raise ValueError(
                "base_url must use https (vendor keys would travel in clear text); "
                "http is allowed on loopback, or with allow_insecure_http: true"
            )
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpSettings(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=9400, ge=0, le=65535)


class LogSettings(_Strict):
    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Strict):
    kafka: KafkaSettings
    topics: TopicsSettings = TopicsSettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    vendors: dict[str, VendorConfig]
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR
    commit_interval_s: float = Field(default=0.2, gt=0)
    """How often done offsets are committed while they move (nothing is sent while they do
    not): a kill -9 redelivers at most what was done in the last interval plus what was in
    flight."""
    shutdown_deadline_s: float = Field(default=25, gt=0)
    """Graceful drain on SIGTERM; keep it below the pod's terminationGracePeriodSeconds."""
    revoke_timeout_s: float = Field(default=10, gt=0)
    """How long a revoked partition's in-flight records may finish before the hand-over."""

    vendor_settings: dict[str, VendorSettings] = Field(default_factory=dict, exclude=True)
    """Each vendor's validated `settings` block; filled by `load_config`, not by YAML."""

    def enabled_vendors(self) -> list[str]:
        return [name for name, vendor in self.vendors.items() if vendor.enabled]

    def masked(self) -> dict[str, Any]:
        """The configuration as a plain tree, every secret replaced by ``'**********'``."""
        dumped = self.model_dump(mode="json", exclude={"vendor_settings"})
        for name, settings in self.vendor_settings.items():
            dumped["vendors"][name]["settings"] = settings.model_dump(mode="json")
        return dumped


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override and validate; raise ConfigError listing every bad field with its path."""
    raw = _read_yaml(Path(path))
    environ = os.environ if environ is None else environ
    apply_env_overrides(raw, environ)
    return validate_config(raw, environ)


def validate_config(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    context = {"environ": os.environ if environ is None else environ}
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors())) from None
    known = vendor_classes()
    problems: list[str] = []
    vendor_settings: dict[str, VendorSettings] = {}
    for name, vendor in config.vendors.items():
        cls = known.get(name)
        if cls is None:
            problems.append(f"vendors.{name}: unknown vendor; known: {', '.join(sorted(known))}")
            continue
        if not vendor.enabled:
            continue
        try:
            vendor_settings[name] = cls.settings_model.model_validate(
                vendor.settings, context=context
            )
        except ValidationError as exc:
            problems.append(_describe(exc.errors(), prefix=("vendors", name, "settings")))
    if not config.enabled_vendors():
        problems.append("vendors: no vendor is enabled")
    if problems:
        raise ConfigError("\n".join(problems))
    return config.model_copy(update={"vendor_settings": vendor_settings})


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set ``raw[a][b] = value`` for every ``BRIDGE__A__B=value`` in the environment."""
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in key[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(f"{key}: empty path segment in environment override")
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: {'.'.join(path)} crosses a non-mapping value")
            node = child
        node[path[-1]] = yaml.safe_load(environ[key]) if environ[key] else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _describe(errors: Iterable[ErrorDetails], prefix: tuple[str | int, ...] = ()) -> str:
    # Only the message and the path: pydantic's `input` could be a secret's value.
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in (*prefix, *error["loc"])) or "(top level)"
        lines.append(f"{where}: {error['msg']}")
    return "\n".join(lines)
