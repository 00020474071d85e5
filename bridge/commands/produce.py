"""`bridge produce`: write sample events to the configured topics, in the configured format."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from typing import Any

import orjson

from bridge.commands import EXIT_USAGE, CommandError
from bridge.config import Config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroEncoder
from bridge.kafka.clientlog import client_logger
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
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(orjson.loads(response.read())["id"])
    except (OSError, ValueError, KeyError) as exc:  # URLError and HTTPError are OSErrors
        raise CommandError(
            f"schema registry {registry_url}: cannot register {subject}: {exc}"
        ) from None


def encoders(config: Config) -> dict[EventType, tuple[str, AvroEncoder]]:
    """Topic name and encoder per event type, registering schemas where the format needs it."""
    result = {}
    for event_type, topic in config.topics.by_event_type().items():
        schema = load_schema(config.schemas_dir, event_type)
        schema_id = None
        if topic.format == "confluent":
            registry = config.kafka.schema_registry_url
            if not registry:
                raise CommandError(
                    f"topic {topic.name} is in confluent format: produce needs "
                    "kafka.schema_registry_url",
                    EXIT_USAGE,
                )
            schema_id = register_schema(registry, f"{topic.name}-value", schema)
        result[event_type] = (topic.name, AvroEncoder(schema, schema_id))
    return result


def produce_samples(
    config: Config,
    rate: float,
    count: int | None,
    seed: int = 7,
    stop: threading.Event | None = None,
) -> int:
    """Produce about `rate` events/s (a quarter of them orders) until `count` or `stop`.

    Returns the count; raises CommandError when Kafka did not acknowledge every event.
    """
    from confluent_kafka import Producer

    producer = Producer(
        {**config.kafka.client_properties(), "linger.ms": 20, "logger": client_logger()}
    )
    by_type = encoders(config)
    events = SampleEvents(seed)
    sent = 0
    started = time.monotonic()
    try:
        while (count is None or sent < count) and not (stop and stop.is_set()):
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
        unacknowledged = producer.flush(10)
    if unacknowledged:
        raise CommandError(
            f"{unacknowledged} of {sent} events not acknowledged by Kafka at "
            f"{config.kafka.bootstrap_servers} within 10 s"
        )
    return sent
