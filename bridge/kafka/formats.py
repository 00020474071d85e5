"""Value formats per source topic: a record's bytes -> a dict, or `DecodeError`.

- ``avro`` and ``confluent``: `bridge.kafka.avro.AvroDecoder`;
- ``json``: one UTF-8 JSON object per record (orjson), optionally checked against a JSON
  Schema. A record that does not match is a dead letter naming the failing keyword and where
  in the record it failed, never the value (it may be personal data).

`decoder_for` picks the decoder of a configured source topic and the schemas it reads with;
`Decoders` holds them for the pipelines of one process, a topic's decoder shared by its readers.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from bridge.config import Config, TopicSettings
from bridge.errors import DecodeError
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder

RECENT = 4096
"""Results a shared topic's decoder keeps: pipelines this many records apart decode once."""

Decode = Callable[[bytes | None], dict[str, Any]]


class JsonDecoder:
    """Decodes UTF-8 JSON objects, checked against `schema` when there is one."""

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        self._validator = (
            jsonschema.validators.validator_for(schema)(schema) if schema is not None else None
        )

    def decode(self, raw: bytes | None) -> dict[str, Any]:
        if not raw:
            raise DecodeError("empty_value", "the record has no value")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("malformed_json", f"not UTF-8 JSON: {exc.msg} at {exc.pos}") from None
        if not isinstance(value, dict):
            raise DecodeError("malformed_json", f"a JSON {type(value).__name__}, not an object")
        if self._validator is not None:
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
            if error is not None:
                raise DecodeError(
                    "json_schema_mismatch",
                    f"{error.json_path}: fails the JSON Schema's {error.validator!r} keyword",
                )
        return value


def decoder_for(source: TopicSettings, schemas_dir: Path) -> AvroDecoder | JsonDecoder:
    """The decoder of a source topic: in the bridge's own schema unless it has a mapping."""
    if source.format == "json":
        return JsonDecoder(source.json_schema_json)
    own = load_schema(schemas_dir, source.event_type)
    retailers = source.avro_schema_json
    if source.compiled_mapping is None:
        # The bridge's own schema: read as it; a file's schema is the writer (raw Avro).
        return AvroDecoder(own, source.format, retailers)
    if source.format == "avro":
        return AvroDecoder(None, "avro", retailers)
    # Mapped Confluent records: read as written, or resolved against the retailer's file.
    return AvroDecoder(retailers, "confluent")


class Decoders:
    """The decoders of one process's pipelines: one per source topic, made on first use.

    With several vendors in one process each pipeline reads a topic with a consumer of its own,
    and would decode every record again: an order five times with five vendors, where decoding
    is the largest cost (docs/performance.md). So a topic in `shared` keeps its last `RECENT`
    results by value, and a pipeline that reads the record a little after another one takes
    the event that one decoded. Pipelines that keep close share the work; one far behind
    decodes for itself. The event dict is shared as it is: nothing after the decoder changes
    an event (`tests/unit/vendors/test_properties.py` checks every vendor's mapper,
    `tests/unit/test_mapping.py` a topic's mapping).
    """

    def __init__(self, schemas_dir: Path, shared: Collection[str] = ()) -> None:
        self._schemas_dir = schemas_dir
        self._shared = frozenset(shared)
        self._made: dict[str, tuple[AvroDecoder | JsonDecoder, Decode]] = {}

    @classmethod
    def for_pipelines(
        cls, config: Config, event_types: Iterable[Collection[EventType]]
    ) -> Decoders:
        """The decoders of pipelines that read `event_types` each: a topic read by more than
        one of them is shared."""
        readers = Counter(
            source.name for types in event_types for _, source in config.topics.sources(types)
        )
        return cls(config.schemas_dir, [topic for topic, count in readers.items() if count > 1])

    def get(self, source: TopicSettings) -> tuple[AvroDecoder | JsonDecoder, Decode]:
        """The decoder of `source` and how to decode with it (keeping recent results or not)."""
        made = self._made.get(source.name)
        if made is None:
            decoder = decoder_for(source, self._schemas_dir)
            decode: Decode = decoder.decode
            if source.name in self._shared:
                # A failure is not kept: each pipeline counts and dead-letters it for itself.
                decode = functools.lru_cache(maxsize=RECENT)(decoder.decode)
            made = self._made[source.name] = (decoder, decode)
        return made
