"""Value formats per source topic: a record's bytes -> a dict, or `DecodeError`.

- ``avro`` and ``confluent``: `bridge.kafka.avro.AvroDecoder`;
- ``json``: one UTF-8 JSON object per record (orjson), optionally checked against a JSON
  Schema. A record that does not match is a dead letter naming the failing keyword and where
  in the record it failed, never the value (it may be personal data).

`decoder_for` picks the decoder of a configured source topic and the schemas it reads with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import jsonschema
import orjson

from bridge.config import TopicSettings
from bridge.errors import DecodeError
from bridge.events import load_schema
from bridge.kafka.avro import AvroDecoder


class Decoder(Protocol):
    def decode(self, raw: bytes | None) -> dict[str, Any]: ...


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
