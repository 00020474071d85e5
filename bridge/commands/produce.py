"""`bridge produce`: write sample events to the configured topics, in the configured format."""

from __future__ import annotations

import logging
import time
import urllib.request
from typing import Any

import orjson

from bridge.config import Config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroEncoder
from bridge.tools.sample import SampleEvents

log = logging.getLogger(__name__)

VIEWS_PER_ORDER = 3


def register_schema(registry_url: str, subject: str, schema: dict[str, Any]) -> int:
    """Register `schema` under `subject` in a Confluent-compatible registry; return its id."""
    request = urllib.request.Request(
        f"{registry_url.rstrip('/')}/subjects/{subject}/versions",
        data=orjson.dumps({"schema": orjson.dumps(schema).decode()}),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(orjson.loads(response.read())["id"])


def encoders(config: Config) -> dict[EventType, tuple[str, AvroEncoder]]:
    """Topic name and encoder per event type, registering schemas where the format needs it."""
    result = {}
    for event_type, topic in config.topics.by_event_type().items():
        schema = load_schema(config.schemas_dir, event_type)
        schema_id = None
        if topic.format == "confluent":
            if not config.kafka.schema_registry_url:
                raise RuntimeError("topics in confluent format need kafka.schema_registry_url")
            schema_id = register_schema(
                config.kafka.schema_registry_url, f"{topic.name}-value", schema
            )
        result[event_type] = (topic.name, AvroEncoder(schema, schema_id))
    return result


def produce_samples(config: Config, rate: float, count: int | None, seed: int = 7) -> int:
    """Produce about `rate` events/s (a quarter of them orders) until `count`; return the count."""
    from confluent_kafka import Producer

    producer = Producer({**config.kafka.client_properties(), "linger.ms": 20})
    by_type = encoders(config)
    events = SampleEvents(seed)
    sent = 0
    started = time.monotonic()
    try:
        while count is None or sent < count:
            is_order = sent % (VIEWS_PER_ORDER + 1) == 0
            event_type = EventType.ORDER if is_order else EventType.PRODUCT_VIEW
            event = events.order() if is_order else events.product_view()
            topic, encoder = by_type[event_type]
            key = event.get("order_id") or event["visitor_id"]
            producer.produce(topic, key=key.encode(), value=encoder.encode(event))
            sent += 1
            producer.poll(0)
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        producer.flush(10)
    return sent
