"""A process's pipelines share each topic's decoder; a topic several of them read keeps its
recent results, so pipelines reading a record close together decode it once between them
(`bridge.kafka.formats.Decoders`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from bridge.config import Config, TopicSettings, validate_config
from bridge.errors import DecodeError
from bridge.events import DEFAULT_SCHEMAS_DIR, EventType, load_schema
from bridge.kafka.avro import AvroDecoder, AvroEncoder, SchemaMissingError
from bridge.kafka.formats import Decoders
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake
from bridge.pipeline.partitions import Partitions
from bridge.tools.sample import SampleEvents
from bridge.vendors import build_vendor

ORDERS_AND_VIEWS = {EventType.ORDER, EventType.PRODUCT_VIEW}


def config(**topics: Any) -> Config:
    return validate_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "topics": topics,
            "vendors": {
                "qubit": {"settings": {"tracking_id": "shop-1"}},
                "esputnik": {"settings": {"api_key": {"env": "ES_KEY"}}},
            },
        },
        environ={"ES_KEY": "k"},
    )


def source(settings: Config, event_type: EventType) -> TopicSettings:
    return settings.topics.sources({event_type})[0][1]


def encoded_order() -> bytes:
    encoder = AvroEncoder(load_schema(DEFAULT_SCHEMAS_DIR, EventType.ORDER))
    return encoder.encode(SampleEvents(seed=3).order())


def test_a_topic_two_pipelines_read_is_decoded_once_for_both() -> None:
    settings = config()
    decoders = Decoders.for_pipelines(settings, [{EventType.ORDER}, ORDERS_AND_VIEWS])
    orders = source(settings, EventType.ORDER)
    (decoder, decode), (again, decode_again) = decoders.get(orders), decoders.get(orders)
    raw = encoded_order()

    first = decode(raw)

    assert again is decoder
    # Each pipeline's consumer hands over bytes of its own: equal, not the same object.
    assert decode_again(bytes(bytearray(raw))) is first
    assert first == decoder.decode(raw)


def test_a_topic_one_pipeline_reads_keeps_nothing() -> None:
    settings = config()
    decoders = Decoders.for_pipelines(settings, [{EventType.ORDER}, ORDERS_AND_VIEWS])
    _, decode = decoders.get(source(settings, EventType.PRODUCT_VIEW))
    encoder = AvroEncoder(load_schema(DEFAULT_SCHEMAS_DIR, EventType.PRODUCT_VIEW))
    raw = encoder.encode(SampleEvents(seed=3).product_view())

    assert decode(raw) is not decode(raw)


def test_a_failure_is_not_kept_for_the_next_pipeline() -> None:
    settings = config(orders=[{"name": "orders", "format": "confluent"}])
    decoders = Decoders.for_pipelines(settings, [ORDERS_AND_VIEWS, ORDERS_AND_VIEWS])
    decoder, decode = decoders.get(source(settings, EventType.ORDER))
    schema = load_schema(DEFAULT_SCHEMAS_DIR, EventType.ORDER)
    raw = AvroEncoder(schema, schema_id=7).encode(SampleEvents(seed=3).order())

    with pytest.raises(SchemaMissingError):
        decode(raw)
    assert isinstance(decoder, AvroDecoder)
    decoder.add_writer_schema(7, schema)

    assert decode(raw) == decoder.decode(raw)
    with pytest.raises(DecodeError, match="magic byte"):
        decode(b"\x01" + raw[1:])


def test_two_vendors_intakes_take_the_one_decoded_event() -> None:
    settings = config()
    vendors = [
        build_vendor(name, settings.vendor_settings[name], settings.vendors[name].base_url)
        for name in ("qubit", "esputnik")
    ]
    decoders = Decoders.for_pipelines(settings, [vendor.event_types for vendor in vendors])
    metrics = Metrics(CollectorRegistry())
    raw = encoded_order()
    events = []
    for vendor in vendors:
        partitions = Partitions(vendor.name, metrics)
        partitions.assign({("orders", 0): 0})
        # A message of its own for each consumer: equal bytes, not the same object.
        message = Message(
            topic="orders", partition=0, offset=0, key=b"k", value=bytes(bytearray(raw))
        )
        taken = asyncio.run(Intake(settings, vendor, metrics, decoders).take([message], partitions))
        assert not taken.dead
        events.append(taken.ready[0].event)

    assert events[0] is events[1]
