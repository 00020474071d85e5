"""`bridge trace ID`: the history of one order or event across vendors, from the outcome topic.

Reads the outcome topic from the beginning to its current end, without joining a consumer
group or committing anything, and keeps the records whose key, order id, event id or product
id is ID.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from bridge.commands import CommandError
from bridge.config import Config
from bridge.kafka.clientlog import client_logger

COLUMNS = ("at", "vendor", "event_type", "outcome", "reason", "http_status", "attempts")


def find_outcomes(config: Config, wanted: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    consumer = Consumer(
        {
            **config.kafka.client_properties(),
            "group.id": f"bridge-trace-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "logger": client_logger(),
        }
    )
    found: list[dict[str, Any]] = []
    try:
        topic = config.outcomes.topic
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise CommandError(
                f"cannot reach Kafka at {config.kafka.bootstrap_servers}: {exc.args[0].str()}"
            ) from None
        if metadata is None or metadata.error is not None:
            hint = "" if config.outcomes.enabled else " (outcomes.enabled is false in the config)"
            raise CommandError(f"outcome topic {topic} not found{hint}")
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        consumer.assign(partitions)
        remaining = set(metadata.partitions)
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    continue
                value = orjson.loads(message.value() or b"{}")
                ids = {
                    (message.key() or b"").decode(errors="replace"),
                    value.get("order_id"),
                    value.get("event_id"),
                    value.get("product_id"),
                }
                if wanted in ids:
                    found.append(value)
            # The end is the high watermark cached from fetches, not a ListOffsets answer (see
            # ConsumerThread._report_lag).
            for partition in list(remaining):
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
                position = consumer.position([TopicPartition(topic, partition)])[0].offset
                if high is not None and high >= 0 and position >= high:
                    remaining.discard(partition)
    finally:
        consumer.close()
    return sorted(found, key=lambda value: str(value.get("at")))


def render(wanted: str, outcomes: list[dict[str, Any]]) -> str:
    if not outcomes:
        return f"no outcome recorded for {wanted}"
    rows = [COLUMNS, *[tuple(str(o.get(c, "")) for c in COLUMNS) for o in outcomes]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return f"{wanted}: {len(outcomes)} outcomes\n" + "\n".join(lines)
