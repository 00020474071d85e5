"""Settings: one YAML file, environment overrides, secrets as references, validated at start.

Loading order:
1. the YAML file (`bridge run --config FILE`);
2. environment overrides: ``BRIDGE__KAFKA__BOOTSTRAP_SERVERS=broker:9092`` sets
   ``kafka.bootstrap_servers``; values are read as YAML scalars, so ``true`` and ``5`` are typed;
3. validation of the whole tree and, independently, of each vendor's own `settings` block by
   the vendor's model. Every problem is reported at once, each with the dotted path of its
   field, a suggestion for a misspelt key or vendor, and the environment variable that set it
   when an override did.

Secrets are written as ``{env: NAME}`` or ``{file: PATH}`` (see `bridge.secrets`) and are held
as `SecretStr`, so printing a config masks them (`Config.masked()`).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import fastavro
import jsonschema
import orjson
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from bridge.errors import ConfigError
from bridge.events import DEFAULT_SCHEMAS_DIR, SCHEMA_FILES, EventType, load_schema
from bridge.mapping import MappingSpecError, SourceMapping, compile_mapping
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
    """One source topic (or, with a name starting with ``^``, every topic matching a pattern).

    Without a mapping, its records follow the bridge's own schema (schemas/). With one, they
    follow the retailer's schema and `mapping` says where each field of the event is found
    (`bridge.mapping`, docs/mapping.md); it is compiled here, once.
    """

    event_type: ClassVar[EventType]
    name: str
    """The topic, or a regular expression starting with ``^`` (librdkafka subscribes to every
    matching topic, including ones created later)."""
    format: Literal["avro", "confluent", "json"] = "avro"
    """``avro``: schemaless Avro, written with `avro_schema` (default: the bridge's own);
    ``confluent``: the Confluent wire format, each record's writer schema fetched from
    kafka.schema_registry_url; ``json``: one UTF-8 JSON object per record (needs a mapping)."""
    avro_schema: Path | None = None
    """avro: the schema the records are written with; confluent: the schema they are read as
    (the writer's is resolved against it); default: the bridge's own, or, with a mapping and
    confluent, the writer's as it is."""
    json_schema: Path | None = None
    """json: a JSON Schema each record must match (a record that does not is a dead letter)."""
    subject: str | None = None
    """The registry subject check-config reads the schema from (default ``<name>-value``)."""
    mapping: dict[str, Any] | None = None

    _compiled: SourceMapping | None = PrivateAttr(default=None)
    _avro: dict[str, Any] | None = PrivateAttr(default=None)
    _json: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def is_pattern(self) -> bool:
        return self.name.startswith("^")

    @property
    def compiled_mapping(self) -> SourceMapping | None:
        return self._compiled

    @property
    def avro_schema_json(self) -> dict[str, Any] | None:
        """The parsed `avro_schema` file."""
        return self._avro

    @property
    def json_schema_json(self) -> dict[str, Any] | None:
        """The parsed `json_schema` file."""
        return self._json

    @model_validator(mode="after")
    def _load(self) -> TopicSettings:
        if self.is_pattern:
            try:
                re.compile(self.name)
            except re.error as exc:
                raise ValueError(f"name: not a valid pattern: {exc}") from None
        if self.format == "json" and self.mapping is None:
            raise ValueError("format json needs a mapping onto the bridge's schema")
        if self.json_schema is not None and self.format != "json":
            raise ValueError("json_schema is for format json")
        if self.avro_schema is not None and self.format == "json":
            raise ValueError("avro_schema is for format avro or confluent")
        if self.format == "avro" and self.mapping is not None and self.avro_schema is None:
            raise ValueError("format avro with a mapping needs avro_schema (the writer's)")
        if self.avro_schema is not None:
            self._avro = _json_file(self.avro_schema, "avro_schema")
            try:
                fastavro.parse_schema(self._avro)
            except Exception as exc:  # fastavro reports a bad schema with many types
                raise ValueError(f"avro_schema: not a usable Avro schema: {exc}") from None
        if self.json_schema is not None:
            self._json = _json_file(self.json_schema, "json_schema")
            try:
                jsonschema.validators.validator_for(self._json).check_schema(self._json)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"json_schema: not a valid JSON Schema: {exc.message}") from None
        if self.mapping is not None:
            target = load_schema(DEFAULT_SCHEMAS_DIR, self.event_type)
            try:
                self._compiled = compile_mapping(self.mapping, target)
            except MappingSpecError as exc:
                raise ValueError(f"mapping.{exc}") from None
        return self


class OrderTopic(TopicSettings):
    event_type = EventType.ORDER


class ProductViewTopic(TopicSettings):
    event_type = EventType.PRODUCT_VIEW


def _json_file(path: Path, field: str) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{field}: {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{field}: {path} must hold a JSON object")
    return data


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class TopicsSettings(_Strict):
    """The source topics of each event type: one block, or a list of them."""

    orders: Annotated[list[OrderTopic], BeforeValidator(_one_or_many), Field(min_length=1)] = [
        OrderTopic(name="orders")
    ]
    product_views: Annotated[
        list[ProductViewTopic], BeforeValidator(_one_or_many), Field(min_length=1)
    ] = [ProductViewTopic(name="product-views")]

    @model_validator(mode="after")
    def _each_topic_once(self) -> TopicsSettings:
        names = [source.name for _, source in self.sources()]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"topic {repeated[0]} is listed more than once")
        return self

    def sources(self) -> list[tuple[EventType, TopicSettings]]:
        """Every source topic with its event type, orders first, in the order written."""
        return [
            *((EventType.ORDER, source) for source in self.orders),
            *((EventType.PRODUCT_VIEW, source) for source in self.product_views),
        ]

    def by_event_type(self) -> dict[EventType, TopicSettings]:
        """The first source topic of each event type (where `bridge produce` writes)."""
        return {EventType.ORDER: self.orders[0], EventType.PRODUCT_VIEW: self.product_views[0]}


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
    concurrency: Annotated[int, Field(ge=1, le=1024)] | Literal["adaptive"] = 16
    """Requests in flight at once, or ``adaptive``: found and followed at run time
    (`bridge.delivery.adaptive`), from 1 up to `max_concurrency`."""
    max_concurrency: int = Field(default=64, ge=1, le=1024)
    """The most requests in flight ``concurrency: adaptive`` may reach."""
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


def load_config(
    path: Path | str,
    environ: Mapping[str, str] | None = None,
    *,
    vendors: Collection[str] | None = None,
    check_files: bool = False,
) -> Config:
    """Read, override and validate; raise ConfigError listing every bad field with its path.

    `vendors`: validate only these vendors' `settings` (a command that needs none, such as
    `bridge trace`, passes ``()``); None validates every enabled vendor's. `check_files`: see
    `validate_config`; the commands that run here set it.
    """
    raw = _read_yaml(Path(path))
    environ = os.environ if environ is None else environ
    overrides = apply_env_overrides(raw, environ)
    return validate_config(
        raw, environ, vendors=vendors, overrides=overrides, check_files=check_files
    )


def validate_config(
    raw: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    vendors: Collection[str] | None = None,
    overrides: Mapping[tuple[str, ...], str] | None = None,
    check_files: bool = False,
) -> Config:
    """The validated configuration; every problem of every section reported in one ConfigError.

    The top level and each vendor's `settings` block are validated independently, so an error
    in one never hides another's. `overrides` maps a dotted path set from the environment to
    the variable that set it, so an error there names the variable. `check_files`: also
    refuse files this machine cannot read (schemas, TLS files), for a configuration about to
    run here rather than one checked for another machine (a chart, a compose file).
    """
    context = {"environ": os.environ if environ is None else environ}
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        problems.extend(_describe(exc.errors(), Config, overrides=overrides))
    known = vendor_classes()
    raw_vendors = raw.get("vendors")
    vendor_settings: dict[str, VendorSettings] = {}
    for name, block in (raw_vendors if isinstance(raw_vendors, dict) else {}).items():
        cls = known.get(name)
        if cls is None:
            problems.append(
                f"vendors.{name}: unknown vendor{did_you_mean(str(name), known)}; "
                f"known: {', '.join(sorted(known))}"
            )
            continue
        settings = block.get("settings", {}) if isinstance(block, dict) else None
        if not isinstance(settings, dict) or block.get("enabled", True) is False:
            continue  # a block of the wrong shape is reported by the top level
        if vendors is not None and name not in vendors:
            continue
        try:
            vendor_settings[name] = cls.settings_model.model_validate(settings, context=context)
        except ValidationError as exc:
            problems.extend(
                _describe(
                    exc.errors(),
                    cls.settings_model,
                    prefix=("vendors", name, "settings"),
                    overrides=overrides,
                )
            )
    if check_files:
        problems.extend(_file_problems(raw, overrides))
    if config is not None and vendors is None and not config.enabled_vendors():
        problems.append("vendors: no vendor is enabled")
    if problems or config is None:
        raise ConfigError("\n".join(problems))
    return config.model_copy(update={"vendor_settings": vendor_settings})


def apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Set ``raw[a][b] = value`` for every ``BRIDGE__A__B=value`` in the environment.

    Returns each path set, with the name of the variable that set it.
    """
    overrides: dict[tuple[str, ...], str] = {}
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
        try:
            node[path[-1]] = yaml.safe_load(environ[key]) if environ[key] else ""
        except yaml.YAMLError:
            raise ConfigError(f"{key}: not a valid YAML value") from None
        overrides[tuple(path)] = key
    return overrides


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


def _describe(
    errors: Iterable[ErrorDetails],
    model: type[BaseModel],
    prefix: tuple[str | int, ...] = (),
    overrides: Mapping[tuple[str, ...], str] | None = None,
) -> list[str]:
    """One line per error: the dotted path, the message, a suggestion, the variable that set it.

    Only the message and the path: pydantic's `input` could be a secret's value.
    """
    lines = []
    for error in errors:
        loc = (*prefix, *error["loc"])
        message = error["msg"]
        if error["type"] in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
            message = str(error["ctx"]["error"])  # without pydantic's "Value error, " prefix
        if error["type"] == "extra_forbidden":
            message = "unknown key" + did_you_mean(
                str(error["loc"][-1]), _keys_at(model, error["loc"][:-1])
            )
        lines.append(_line(loc, message, overrides))
    return lines


def _line(
    loc: tuple[str | int, ...], message: str, overrides: Mapping[tuple[str, ...], str] | None
) -> str:
    where = ".".join(str(part) for part in loc) or "(top level)"
    source = _override_source(loc, overrides or {})
    return f"{where}: {message}" + (f" (set by {source})" if source else "")


def _file_problems(
    raw: Mapping[str, Any], overrides: Mapping[tuple[str, ...], str] | None
) -> list[str]:
    """The files the configuration names that this machine cannot read, one line each."""
    paths: list[tuple[tuple[str, ...], Any]] = []
    schemas_dir = raw.get("schemas_dir", DEFAULT_SCHEMAS_DIR)
    if isinstance(schemas_dir, str | Path):
        paths += [(("schemas_dir",), Path(schemas_dir) / name) for name in SCHEMA_FILES.values()]
    kafka = raw.get("kafka")
    for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        value = kafka.get(key) if isinstance(kafka, dict) else None
        if isinstance(value, str) and value:
            paths.append((("kafka", key), Path(value)))
    problems: dict[tuple[str, ...], str] = {}  # one line per field, not one per schema
    for loc, path in paths:
        try:
            path.open("rb").close()
        except OSError as exc:
            problems.setdefault(loc, _line(loc, f"cannot read {path}: {exc.strerror}", overrides))
    return list(problems.values())


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'qubit'?)"`` for the closest candidate to a misspelt name, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at `loc` (a path into it), or none when it cannot tell."""
    node: Any = model
    remaining = list(loc)
    while True:
        while get_origin(node) in (Union, UnionType, Annotated):  # Optional, Annotated
            node = next(arg for arg in get_args(node) if arg is not type(None))
        if get_origin(node) in (dict, list):  # a key or an index, then the value's type
            if not remaining:
                return []
            remaining.pop(0)
            node = get_args(node)[-1]
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return []
        if not remaining:
            return [name for name in node.model_fields if not node.model_fields[name].exclude]
        field = node.model_fields.get(str(remaining.pop(0)))
        if field is None:
            return []
        node = field.annotation


def _override_source(
    loc: tuple[str | int, ...], overrides: Mapping[tuple[str, ...], str]
) -> str | None:
    """The environment variable that set `loc` or the mapping it sits in, if one did."""
    path = tuple(str(part) for part in loc)
    for length in range(len(path), 0, -1):
        if path[:length] in overrides:
            return overrides[path[:length]]
    return None
