"""`bridge preview` of one source record: what it holds, the event it becomes, each vendor's
request — the whole chain, through the live pipeline's own `Intake` (decoder, schema registry,
mapping, consent, ``on_unmappable``), never a copy of it. Nothing is sent anywhere.

The record comes from Kafka (`read_from_kafka`: a plain consumer assigned to the one partition
at the one offset, in no group's name, committing nothing) or from a file (`read_envelope`).

A file holds the record's value, or an envelope with its key and headers too::

    {"value": {...}, "key": "O-1", "headers": {"x-visitor-id": "v-1"}}

``key`` (a string, UTF-8) and ``headers`` (an object of strings, or a list of ``[name,
value]`` pairs when a name repeats) are optional; any other key makes the file a plain value.
The value is what the topic's format gives once decoded: a JSON topic's object (then checked
by the topic's decoder, with its JSON Schema); a raw Avro topic's record as JSON (then written
with the topic's ``avro_schema`` and read back by its decoder, so a record the schema does not
take is refused here); a Confluent topic's record as its writer schema decodes it, taken as it
is (the registry is not asked). A record in the bridge's own schema gets the schema's defaults.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

from bridge.commands import EXIT_FAILURE, EXIT_USAGE, CommandError
from bridge.commands.preview import RecordError, render, requests_for, validate_record
from bridge.config import Config, TopicSettings
from bridge.errors import DecodeError
from bridge.events import EventType
from bridge.kafka.avro import AvroEncoder
from bridge.kafka.clientlog import client_logger
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake, Source
from bridge.records import Record
from bridge.vendors.base import HttpRequest, Vendor

ENVELOPE_KEYS = frozenset({"value", "key", "headers"})
SOURCE_CLASSES = ("decode", "mapping")
"""Dead-letter classes decided by the topic, before any vendor: the same for every vendor."""


class _NoTracker:
    """A previewed record belongs to no partition of ours: nothing is acknowledged."""

    fenced = True

    def ack(self, offset: int) -> bool:
        return False

    def wanted(self, offset: int) -> bool:
        return False

    def abandon(self) -> None:
        pass

    def sending(self, offset: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record to preview: where it is from, its key and headers, and its value."""

    topic: str
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None = None
    """From Kafka: the value's bytes."""
    document: Any = None
    """From a file: the value as JSON."""
    partition: int = -1
    offset: int = -1

    @property
    def from_kafka(self) -> bool:
        return self.offset >= 0

    def record(self) -> Record:
        return Record(
            tracker=_NoTracker(),
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            key=self.key,
            value=self.value,
            headers=list(self.headers),
            size=len(self.value or b""),
        )


@dataclass(slots=True)
class VendorOutcome:
    vendor: str
    requests: list[HttpRequest] = field(default_factory=list)
    skipped: str | None = None
    dead: tuple[str, str] | None = None
    """(error class, message)"""


@dataclass(slots=True)
class Chain:
    """What became of one record: decoded, mapped, and each vendor's outcome."""

    source: SourceRecord
    event_type: EventType
    mapped: bool
    decoded: Any = None
    event: dict[str, Any] | None = None
    dead: tuple[str, str] | None = None
    """A dead letter for every vendor (class ``decode`` or ``mapping``, and the message)."""
    vendors: list[VendorOutcome] = field(default_factory=list)


def read_envelope(text: str, topic: str) -> SourceRecord:
    """The record a file holds: a plain value, or an envelope with its key and headers."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not (isinstance(data, dict) and "value" in data and set(data) <= ENVELOPE_KEYS):
        return SourceRecord(topic, None, [], document=data)
    key = data.get("key")
    if key is not None and not isinstance(key, str):
        raise RecordError("key: expected a string or null")
    raw_headers = data.get("headers") or {}
    pairs = list(raw_headers.items()) if isinstance(raw_headers, dict) else raw_headers
    headers: list[tuple[str, bytes]] = []
    for index, pair in enumerate(pairs if isinstance(pairs, list) else [None]):
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(part, str) for part in pair)
        ):
            raise RecordError(
                f"headers[{index}]: expected an object of strings or [name, value] pairs"
            )
        headers.append((pair[0], pair[1].encode()))
    return SourceRecord(
        topic, key.encode() if key is not None else None, headers, document=data["value"]
    )


def read_from_kafka(
    config: Config, topic: str, partition: int, offset: int, timeout_s: float
) -> SourceRecord:
    """The record at `offset` of `topic`'s `partition`, read without a group commit."""
    consumer = Consumer(
        {
            **config.kafka.client_properties(),
            "group.id": f"{config.kafka.group_prefix}.preview-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "logger": client_logger(),
        }
    )
    where = f"{topic} partition {partition}"
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise CommandError(f"topic {topic} not found", EXIT_FAILURE)
            if partition not in metadata.partitions:
                raise CommandError(
                    f"--partition {partition}: {topic} has partitions "
                    f"0..{len(metadata.partitions) - 1}",
                    EXIT_USAGE,
                )
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
        except KafkaException as exc:
            raise CommandError(
                f"cannot reach Kafka at {config.kafka.bootstrap_servers}: {exc.args[0].str()}"
            ) from None
        # The high watermark only names the record to wait for (some brokers' is stale).
        span = f"offsets {low}..{high - 1}" if high > low else "no records"
        if offset < low:
            raise CommandError(f"no record at offset {offset} of {where} ({span})")
        consumer.assign([TopicPartition(topic, partition, offset)])
        consumer.seek(TopicPartition(topic, partition, offset))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                raise CommandError(f"reading {where}: {error.str()}")
            if cast(int, message.offset()) != offset:  # compacted or a transaction marker
                raise CommandError(f"no record at offset {offset} of {where}")
            return SourceRecord(
                topic,
                message.key(),
                cast(list[tuple[str, bytes]], message.headers() or []),
                value=message.value(),
                partition=partition,
                offset=offset,
            )
        raise CommandError(
            f"no record at offset {offset} of {where} within {timeout_s:g} s ({span})"
        )
    finally:
        consumer.close()


async def preview_chain(
    config: Config, vendors: Sequence[Vendor[Any]], source: SourceRecord, timeout_s: float
) -> Chain:
    """The chain for one record, each vendor through its own `Intake`."""
    intakes = [(vendor, Intake(config, vendor, Metrics(CollectorRegistry()))) for vendor in vendors]
    reading = [(v, i, s) for v, i in intakes if (s := i.source(source.topic)) is not None]
    if not reading:
        names = ", ".join(vendor.name for vendor in vendors)
        raise CommandError(f"--topic {source.topic}: no topic {names} reads matches", EXIT_USAGE)
    _, first, topic = reading[0]
    chain = Chain(source, topic.event_type, mapped=topic.mapping is not None)
    try:
        settings = next(s for _, s in config.topics.sources() if s.name == topic.name)
        chain.decoded = await asyncio.wait_for(_decoded(first, topic, settings, source), timeout_s)
    except DecodeError as exc:
        chain.dead = ("decode", str(exc))
        return chain
    except TimeoutError:
        raise CommandError(
            f"the schema registry did not give the record's schema within {timeout_s:g} s"
        ) from None
    for vendor, intake, _ in reading:
        admitted = intake.admit_decoded(source.record(), chain.decoded)
        outcome = VendorOutcome(vendor.name)
        if admitted.ready:
            record = admitted.ready[0]
            outcome.requests = requests_for(vendor, record.items)
        elif admitted.skipped:
            record, outcome.skipped = admitted.skipped[0]
        else:
            record, error_class, message, _ = admitted.dead[0]
            if error_class in SOURCE_CLASSES:
                chain.dead = (error_class, message)
                return chain
            outcome.dead = (error_class, message)
        chain.event = record.event
        chain.vendors.append(outcome)
    return chain


async def _decoded(
    intake: Intake, topic: Source, settings: TopicSettings, source: SourceRecord
) -> Any:
    if source.from_kafka:
        return await intake.decode(topic, source.value)
    if topic.mapping is None:  # the bridge's own schema, written as JSON: defaults filled in
        return validate_record(source.document, topic.event_type)
    if settings.format == "json":
        return await intake.decode(topic, orjson.dumps(source.document))
    if settings.format == "confluent":  # the writer's schema is the registry's: taken as given
        if not isinstance(source.document, dict):
            raise RecordError("value: expected an object")
        return source.document
    assert settings.avro_schema_json is not None  # a mapped raw Avro topic names its writer's
    try:
        raw = AvroEncoder(settings.avro_schema_json).encode(source.document)
    except Exception as exc:  # fastavro reports a record its schema refuses with many types
        raise RecordError(f"value: not a record of the topic's avro_schema: {exc}") from None
    return await intake.decode(topic, raw)


def render_chain(chain: Chain) -> str:
    """The chain as text: the source record, the event, then each vendor's request(s)."""
    source = chain.source
    where = (
        f"{source.topic}, partition {source.partition}, offset {source.offset}"
        if source.from_kafka
        else source.topic
    )
    lines = [f"== source record ({where})"]
    if source.key is not None:
        lines.append(f"key: {source.key.decode('utf-8', 'replace')}")
    for name, value in source.headers:
        lines.append(f"header {name}: {(value or b'').decode('utf-8', 'replace')}")
    shown = chain.decoded if chain.decoded is not None else source.document
    if shown is None and source.value is not None:
        shown = f"<{len(source.value)} bytes, undecodable>"
    lines.append(_pretty(shown))
    if chain.dead is not None:
        error_class, message = chain.dead
        lines += ["", f"would be dead-lettered ({error_class}): {message}"]
        return "\n".join(lines)
    how = "mapped by the topic's mapping" if chain.mapped else "the bridge's own schema"
    lines += ["", f"== event: {chain.event_type.value} ({how})", _pretty(chain.event)]
    for outcome in chain.vendors:
        lines += ["", f"== {outcome.vendor}"]
        if outcome.skipped is not None:
            lines.append(f"would be skipped: {outcome.skipped}")
        elif outcome.dead is not None:
            lines.append(f"would be dead-lettered ({outcome.dead[0]}): {outcome.dead[1]}")
        else:
            lines.append(render(outcome.requests))
    return "\n".join(lines)


def _pretty(value: Any) -> str:
    return orjson.dumps(
        value, default=_shown, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    ).decode()


def _shown(value: Any) -> Any:
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, Decimal | date | datetime):
        return str(value)
    raise TypeError
