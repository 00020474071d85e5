"""Test helpers for the broker: configs, producing, reading back, committed offsets."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from bridge.app import run
from bridge.config import Config, validate_config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import CONSUMER_PROPERTIES
from bridge.tools.sandbox_settings import sandbox_settings


class Broker(Protocol):
    """What the helpers need of a broker: Tansu's `LocalBroker` and `ApacheKafka` both have it."""

    @property
    def bootstrap(self) -> str: ...


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

SANDBOX_SETTINGS: dict[str, dict[str, str]] = {
    name: dict(settings.values) for name, settings in sandbox_settings().items()
}
"""Each vendor's settings for the sandbox's default credentials (secrets in plain text)."""
SECRET_FIELDS = frozenset(field for s in sandbox_settings().values() for field in s.secrets)
"""Setting names that are a secret for some vendor; `vendor_block` writes them as files."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def vendor_block(name: str, base_url: str, secrets_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A vendor config block for the sandbox, secrets as {file: ...} references."""
    settings = sandbox_settings()[name].block(secrets_dir)
    return {"base_url": base_url, "settings": settings, **overrides}


def make_config(broker: Broker, vendors: dict[str, dict[str, Any]], **kwargs: Any) -> Config:
    return validate_config(config_dict(broker, vendors, **kwargs))


def config_dict(
    broker: Broker,
    vendors: dict[str, dict[str, Any]],
    *,
    orders: str | dict[str, Any] = "orders",
    views: str | dict[str, Any] = "product-views",
    dead_letter: str | dict[str, Any] = "dead-letter",
    group_prefix: str | None = None,
    kafka_registry: str | None = None,
    **top: Any,
) -> dict[str, Any]:
    """The raw configuration tree (what a YAML file would hold).

    Topics and the dead-letter block take a name or a whole block.
    """
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap,
            "group_prefix": group_prefix or unique("bridge"),
            "consumer_properties": dict(CONSUMER_PROPERTIES),
            "schema_registry_url": kafka_registry,
        },
        "topics": {"orders": _block(orders), "product_views": _block(views)},
        "dead_letter": _block(dead_letter, key="topic"),
        "vendors": vendors,
        "http": {"host": "127.0.0.1", "port": 0},
        "schemas_dir": str(SCHEMAS),
        "commit_interval_s": 0.5,
        **top,
    }


def _block(value: str | dict[str, Any], key: str = "name") -> dict[str, Any]:
    return {key: value} if isinstance(value, str) else value


ProducedHeaders = list[tuple[str, str | bytes | None]]
"""Headers as `Producer.produce` takes them: its stub wants exactly this list type (a list is
invariant, so a `list[tuple[str, bytes]]` does not fit; annotate the list with this instead)."""


def headers_of(message: Message) -> dict[str, bytes]:
    """A consumed message's headers by name (the last wins); none gives an empty dict.

    The stub types `Message.headers()` as anything a producer may send (a dict or a list, values
    str, bytes or None); a consumed message's are a list of (name, value) pairs, and every
    header the tests read has a bytes value.
    """
    return dict(cast(list[tuple[str, bytes]], message.headers() or []))


def value_of(message: Message) -> bytes:
    """A consumed message's value, which must be there (not a tombstone)."""
    value = message.value()
    assert value is not None, "a record without a value"
    return value


def encoder(event_type: EventType) -> AvroEncoder:
    return AvroEncoder(load_schema(SCHEMAS, event_type))


def produce(
    broker: Broker,
    topic: str,
    records: Iterable[tuple[int, bytes | None, bytes | None]],
) -> dict[int, int]:
    """Write (partition, key, value) records in order; return the count per partition."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    counts: dict[int, int] = {}
    for partition, key, value in records:
        producer.produce(topic, value=value, key=key, partition=partition)
        counts[partition] = counts.get(partition, 0) + 1
        producer.poll(0)
    assert producer.flush(15) == 0
    return counts


def read_topic(broker: Broker, topic: str, expected: int, timeout_s: float = 30) -> list[Message]:
    """Read `expected` records from the start of `topic` (fewer if the timeout passes).

    The partitions are assigned, not subscribed to: joining a group costs about 3 s on Tansu
    (0.2 s assigned), and nearly every integration test reads a topic back."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
            **CONSUMER_PROPERTIES,
        }
    )
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        partitions = _partitions(consumer, topic, deadline)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while partitions and len(found) < expected and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                if message.error() is None:
                    found.append(message)
    finally:
        consumer.close()
    return found


def _partitions(consumer: Consumer, topic: str, deadline: float) -> list[int]:
    """The partitions of `topic`, waiting for it to exist until `deadline` (none after)."""
    while True:
        metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if metadata is not None and metadata.error is None and metadata.partitions:
            return sorted(metadata.partitions)
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)


def committed(broker: Broker, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        result = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in result}


def has_done(registry: CollectorRegistry, vendor: str, count: int) -> Callable[[], bool]:
    """A `wait_for` condition: `vendor` has done exactly `count` records (see `done`)."""
    return lambda: done(registry, vendor) == count


async def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running_bridge(
    config: Config, vendors: list[str] | None = None
) -> AsyncIterator[CollectorRegistry]:
    """Run the bridge in this process; yields its metrics registry; drains on exit."""
    registry = CollectorRegistry()
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, vendors, registry=registry, stop=stop))
    try:
        yield registry
    finally:
        stop.set()
        await asyncio.wait_for(task, config.shutdown_deadline_s + 20)


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def done(registry: CollectorRegistry, vendor: str) -> float:
    """Records done for `vendor`, whatever the outcome (delivered, skipped, dead-lettered)."""
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "bridge_records"
        for sample in family.samples
        if sample.name == "bridge_records_total" and sample.labels["vendor"] == vendor
    )
