"""Avro decoding: schemas parsed once; `decode(raw) -> dict` or `DecodeError`.

Two formats per topic:
- ``avro``: schemaless Avro, written with a known schema (the bridge's own in `schemas/`, or
  the retailer's from a file), resolved against the reader schema when there is one;
- ``confluent``: magic byte 0, a 4-byte big-endian schema id, then the Avro body. The writer
  schema is fetched from the Schema Registry by id (`bridge.kafka.registry`, once, then cached
  here parsed) and resolved against the reader schema, so compatible evolution (added optional
  fields, reordered fields) decodes; without a reader schema (a mapped topic) the record is
  read as it was written.

``timestamp-millis`` is read as a plain int of epoch milliseconds: the mappers and the latency
metric want milliseconds, and a datetime round trip per record would cost time for nothing.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import Any

import fastavro

from bridge.errors import DecodeError

_MAGIC = 0
_HEADER = struct.Struct(">bI")


class SchemaMissingError(Exception):
    """The writer schema `schema_id` is not cached yet: fetch it, then decode again."""

    def __init__(self, schema_id: int) -> None:
        super().__init__(schema_id)
        self.schema_id = schema_id


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _without_logical_types(value)
            for key, value in node.items()
            if key != "logicalType"
        }
    if isinstance(node, list):
        return [_without_logical_types(value) for value in node]
    return node


def parse(schema: dict[str, Any]) -> Any:
    return fastavro.parse_schema(_without_logical_types(schema))


class AvroDecoder:
    """Decodes the records of one topic.

    `reader_schema`: what the records are read as (None: as written). `writer_schema`: what
    schemaless records are written with (default: the reader schema).
    """

    def __init__(
        self,
        reader_schema: dict[str, Any] | None,
        wire_format: str,
        writer_schema: dict[str, Any] | None = None,
    ) -> None:
        self._reader = parse(reader_schema) if reader_schema is not None else None
        self._confluent = wire_format == "confluent"
        self._writers: dict[int, Any] = {}
        self._writer = parse(writer_schema) if writer_schema is not None else self._reader
        # Resolving a schema against itself costs time for nothing.
        self._resolve_raw = self._reader if writer_schema is not None else None

    def decode(self, raw: bytes | None) -> dict[str, Any]:
        """The event in `raw`; raises DecodeError, or SchemaMissingError for an unseen id."""
        if not raw:
            raise DecodeError("empty_value", "the record has no value")
        if not self._confluent:
            return self._read(raw, 0, self._writer, self._resolve_raw)
        if len(raw) < _HEADER.size:
            raise DecodeError("bad_header", "shorter than the Confluent wire-format header")
        magic, schema_id = _HEADER.unpack_from(raw)
        if magic != _MAGIC:
            raise DecodeError("bad_magic_byte", f"magic byte {magic}, expected {_MAGIC}")
        writer = self._writers.get(schema_id)
        if writer is None:
            raise SchemaMissingError(schema_id)
        return self._read(raw, _HEADER.size, writer, self._reader)

    def add_writer_schema(
        self, schema_id: int, schema: dict[str, Any], references: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Cache a writer schema (with the schemas it references, dependencies first);
        DecodeError when it cannot be used (it never will be)."""
        try:
            named: dict[str, Any] = {}
            for reference in references:
                fastavro.parse_schema(_without_logical_types(reference), named_schemas=named)
            self._writers[schema_id] = fastavro.parse_schema(
                _without_logical_types(schema), named_schemas=named
            )
        except Exception as exc:  # fastavro reports a bad schema with many exception types
            raise DecodeError(
                "unusable_schema", f"writer schema {schema_id}: {type(exc).__name__}: {exc}"[:200]
            ) from None

    @staticmethod
    def _read(raw: bytes, start: int, writer: Any, reader: Any) -> dict[str, Any]:
        stream = io.BytesIO(raw)
        stream.seek(start)
        try:
            event = fastavro.schemaless_reader(stream, writer, reader)
        except fastavro.read.SchemaResolutionError as exc:
            raise DecodeError("schema_mismatch", str(exc)[:200]) from None
        except Exception as exc:  # fastavro reports bad bytes with many exception types
            raise DecodeError("malformed_avro", f"{type(exc).__name__}: {exc}"[:200]) from None
        if not isinstance(event, dict):
            raise DecodeError("malformed_avro", "not a record")
        if stream.tell() != len(raw):
            raise DecodeError("malformed_avro", f"{len(raw) - stream.tell()} trailing bytes")
        return event


class AvroEncoder:
    """The producer side, for the sample producer and the tests: event dict -> record bytes."""

    def __init__(self, schema: dict[str, Any], schema_id: int | None = None) -> None:
        self._schema = parse(schema)
        self._prefix = _HEADER.pack(_MAGIC, schema_id) if schema_id is not None else b""

    def encode(self, event: dict[str, Any]) -> bytes:
        stream = io.BytesIO()
        stream.write(self._prefix)
        fastavro.schemaless_writer(stream, self._schema, event)
        return stream.getvalue()
