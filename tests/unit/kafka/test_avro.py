from __future__ import annotations

import copy
import struct
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import DecodeError
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, AvroEncoder, SchemaMissingError
from bridge.tools.sample import SampleEvents

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def order_schema() -> dict[str, Any]:
    return load_schema(SCHEMAS, EventType.ORDER)


def test_raw_avro_round_trip_keeps_occurred_at_as_epoch_millis() -> None:
    event = SampleEvents(seed=1).order(now_ms=1_700_000_000_123)
    raw = AvroEncoder(order_schema()).encode(event)
    decoded = AvroDecoder(order_schema(), "avro").decode(raw)
    assert decoded == event
    assert decoded["occurred_at"] == 1_700_000_000_123


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_value"),
        (None, "empty_value"),
        (b"\x02", "malformed_avro"),
    ],
)
def test_undecodable_bytes_raise_decode_error_with_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        AvroDecoder(order_schema(), "avro").decode(raw)
    assert caught.value.reason == reason


def test_trailing_garbage_is_not_silently_accepted() -> None:
    event = SampleEvents(seed=1).order()
    raw = AvroEncoder(order_schema()).encode(event) + b"\x00\x00"
    with pytest.raises(DecodeError, match="trailing"):
        AvroDecoder(order_schema(), "avro").decode(raw)


def test_confluent_wire_format_needs_the_writer_schema_then_decodes() -> None:
    event = SampleEvents(seed=2).order()
    raw = AvroEncoder(order_schema(), schema_id=42).encode(event)
    decoder = AvroDecoder(order_schema(), "confluent")
    with pytest.raises(SchemaMissingError) as missing:
        decoder.decode(raw)
    assert missing.value.schema_id == 42
    decoder.add_writer_schema(42, order_schema())
    assert decoder.decode(raw) == event


def test_wrong_magic_byte_is_a_decode_error() -> None:
    raw = struct.pack(">bI", 1, 42) + b"\x00"
    with pytest.raises(DecodeError) as caught:
        AvroDecoder(order_schema(), "confluent").decode(raw)
    assert caught.value.reason == "bad_magic_byte"


def test_compatible_evolution_added_and_reordered_fields_decode() -> None:
    writer = copy.deepcopy(order_schema())
    writer["fields"].reverse()
    writer["fields"].append({"name": "loyalty_tier", "type": "string", "default": "none"})
    event = SampleEvents(seed=4).order()
    raw = AvroEncoder(writer, schema_id=7).encode({**event, "loyalty_tier": "gold"})
    decoder = AvroDecoder(order_schema(), "confluent")
    decoder.add_writer_schema(7, writer)
    assert decoder.decode(raw) == event


def test_writer_missing_a_required_field_is_a_schema_mismatch() -> None:
    writer = copy.deepcopy(order_schema())
    writer["fields"] = [f for f in writer["fields"] if f["name"] != "order_id"]
    event = SampleEvents(seed=4).order()
    del event["order_id"]
    raw = AvroEncoder(writer, schema_id=8).encode(event)
    decoder = AvroDecoder(order_schema(), "confluent")
    decoder.add_writer_schema(8, writer)
    with pytest.raises(DecodeError) as caught:
        decoder.decode(raw)
    assert caught.value.reason == "schema_mismatch"
