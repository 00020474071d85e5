"""The topics the bridge reads (source topics, with their format, schema and mapping) and the
ones it writes (dead letters, outcomes).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import fastavro
import jsonschema
import orjson
from pydantic import BeforeValidator, Field, PrivateAttr, model_validator

from bridge.config.strict import StrictModel
from bridge.events import DEFAULT_SCHEMAS_DIR, EventType, load_schema
from bridge.mapping import MappingSpecError, SourceMapping, compile_mapping


class TopicSettings(StrictModel):
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


class TopicsSettings(StrictModel):
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

    def sources(
        self, kinds: Collection[EventType] = frozenset(EventType)
    ) -> list[tuple[EventType, TopicSettings]]:
        """The source topics of `kinds` (default: every one) with their event type, orders
        first, in the order written."""
        every = [
            *((EventType.ORDER, source) for source in self.orders),
            *((EventType.PRODUCT_VIEW, source) for source in self.product_views),
        ]
        return [(kind, source) for kind, source in every if kind in kinds]

    def by_event_type(self) -> dict[EventType, TopicSettings]:
        """The first source topic of each event type (where `bridge produce` writes)."""
        return {EventType.ORDER: self.orders[0], EventType.PRODUCT_VIEW: self.product_views[0]}


class DeadLetterSettings(StrictModel):
    mode: Literal["shared", "per_vendor"] = "shared"
    topic: str = "bridge.dead-letter"
    """The shared topic, or the prefix of ``<topic>.<vendor>`` in per_vendor mode."""
    max_error_chars: int = Field(default=500, ge=50)

    def topic_for(self, vendor: str) -> str:
        return self.topic if self.mode == "shared" else f"{self.topic}.{vendor}"


class OutcomeSettings(StrictModel):
    enabled: bool = False
    topic: str = "bridge.outcomes"
