"""Intake: a fetched batch becomes records, each decoded once and routed.

Each source topic of the config (`TopicSettings`: a name or a ``^pattern``) has its event type,
its decoder (`bridge.kafka.formats`) and, when it is in the retailer's schema, its compiled
mapping (`bridge.mapping`). A topic matched by a pattern is looked up once, on its first record.

For each Kafka message of a partition this pipeline still owns: register its offset with the
partition's tracker (before anything else, so no record can be acknowledged unregistered),
decode it, map it onto the bridge's event when its topic has a mapping, and decide its way:
- undecodable: dead letter (class ``decode``, with the reason);
- the mapping cannot handle it (a required value missing, a value that will not convert):
  dead letter (class ``mapping``, with the event field, where it was read from and why);
- without consent where the vendor requires it: skipped (``no_consent``);
- the vendor cannot take it (`MappingError`): skipped by reason, or dead-lettered by policy;
- the mapper itself failed (a bug meeting an unexpected record): dead letter, ``mapper_error``;
- otherwise: ready for delivery.

Decoding is synchronous; only a writer schema not seen yet makes intake wait, for the Schema
Registry. A registry that is down or refuses us is waited for (the consumer keeps serving the
group meanwhile, with its partitions paused), and `waiting_for_registry` makes the pipeline
report not ready; a schema the registry cannot give or fastavro cannot use is a decode failure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import Message

from bridge.config import Config, KafkaSettings, VendorConfig
from bridge.errors import DecodeError, MappingError
from bridge.events import EventType
from bridge.kafka.avro import AvroDecoder, SchemaMissingError
from bridge.kafka.formats import Decode, Decoders, JsonDecoder
from bridge.kafka.offsets import PartitionOffsets
from bridge.kafka.registry import Registry, RegistryUnavailableError
from bridge.mapping import SourceMapping, SourceMappingError
from bridge.metrics import Metrics
from bridge.pipeline.partitions import Partitions
from bridge.records import Record
from bridge.vendors.base import Vendor

log = logging.getLogger(__name__)

REGISTRY_RETRY_S = 2.0


@dataclass(slots=True)
class Admitted:
    """What became of one fetched batch."""

    taken: int = 0
    size: int = 0
    largest: int = 0
    ready: list[Record] = field(default_factory=list)
    skipped: list[tuple[Record, str]] = field(default_factory=list)
    dead: list[tuple[Record, str, str, str]] = field(default_factory=list)
    """(record, error class, message, reason)"""


@dataclass(slots=True, eq=False)
class Source:
    """One configured source topic, ready to read."""

    name: str
    """The topic, or the ``^pattern`` it was subscribed with."""
    event_type: EventType
    decoder: AvroDecoder | JsonDecoder
    decode: Decode
    """The decoder's `decode`, keeping recent results where other pipelines read the topic."""
    mapping: SourceMapping | None


class Intake:
    """Decodes, maps and routes the records of one vendor's topics."""

    def __init__(
        self,
        config: Config,
        vendor: Vendor[Any],
        metrics: Metrics,
        decoders: Decoders | None = None,
    ) -> None:
        self._vendor = vendor
        self._vc: VendorConfig = config.vendors[vendor.name]
        self._metrics = metrics
        decoders = decoders if decoders is not None else Decoders(config.schemas_dir)
        self._sources = [
            Source(settings.name, kind, *decoders.get(settings), settings.compiled_mapping)
            for kind, settings in config.topics.sources(vendor.event_types)
        ]
        self._by_topic: dict[str, Source | None] = {
            source.name: source for source in self._sources if not source.name.startswith("^")
        }
        self._patterns = [
            (re.compile(source.name), source)
            for source in self._sources
            if source.name.startswith("^")
        ]
        self._kafka: KafkaSettings = config.kafka
        self.waiting_for_registry = False
        self._m_consumed: dict[str, Any] = {}

    @property
    def topics(self) -> list[str]:
        """What the consumer subscribes to: topic names and ``^patterns``."""
        return [source.name for source in self._sources]

    def source(self, topic: str) -> Source | None:
        """The source a topic's records are read as (the first that names or matches it)."""
        if topic not in self._by_topic:
            self._by_topic[topic] = next(
                (source for pattern, source in self._patterns if pattern.match(topic)), None
            )
        return self._by_topic[topic]

    async def take(self, messages: list[Message], partitions: Partitions) -> Admitted:
        # The hot path: per record, only what must be per record. A fetch holds runs of
        # records of one partition, so its tracker and source are looked up once per run.
        intake = Admitted()
        consumed: dict[str, int] = {}
        now = time.monotonic()
        where: tuple[str, int] | None = None
        tracker: PartitionOffsets | None = None
        source: Source | None = None
        size = largest = 0
        for message in messages:
            topic, partition = cast(str, message.topic()), cast(int, message.partition())
            if where != (topic, partition):
                where = (topic, partition)
                tracker = partitions.get(topic, partition)
                source = self.source(topic)
                if tracker is not None:
                    consumed.setdefault(topic, 0)
            if tracker is None:
                continue  # lost before we got to it; the next owner has it
            value = message.value()
            offset = cast(int, message.offset())
            record = Record(
                tracker,
                topic,
                partition,
                offset,
                message.key(),
                value,
                cast(list[tuple[str, bytes]], message.headers()) or (),
                len(value) if value else 0,
            )
            tracker.add(offset, now)
            consumed[topic] += 1
            size += record.size
            if record.size > largest:
                largest = record.size
            if source is None:  # cannot happen: the consumer subscribes to our topics only
                intake.dead.append((record, "decode", "no source topic matches", "no_source"))
                continue
            record.event_type = source.event_type
            try:
                try:
                    decoded = source.decode(value)
                except SchemaMissingError:
                    decoded = await self.decode(source, value)
            except DecodeError as exc:
                self._metrics.decode_failures.labels(self._vendor.name, topic, exc.reason).inc()
                intake.dead.append((record, "decode", str(exc), exc.reason))
                continue
            self._map_and_route(record, source, decoded, intake)
        intake.size, intake.largest = size, largest
        for topic, count in consumed.items():
            intake.taken += count
            counter = self._m_consumed.get(topic)
            if counter is None:
                counter = self._m_consumed[topic] = self._metrics.records_consumed.labels(
                    self._vendor.name, topic
                )
            counter.inc(count)
        return intake

    async def decode(self, source: Source, value: bytes | None) -> dict[str, Any]:
        """`value` as `source`'s decoder reads it; a writer schema not seen yet is fetched from
        the registry (waited for while it is unavailable). Raises `DecodeError`."""
        try:
            return source.decode(value)
        except SchemaMissingError as missing:
            assert isinstance(source.decoder, AvroDecoder)
            return await self._decode_with_fetched(source.decoder, missing, value)

    async def admit(self, record: Record) -> Admitted:
        """One record read outside the live consumer (`bridge replay`, `bridge preview`):
        decoded, mapped and routed as `take` does. Its offset is registered nowhere."""
        source = self.source(record.topic)
        if source is None:
            admitted = Admitted(taken=1, size=record.size, largest=record.size)
            admitted.dead.append((record, "decode", "no source topic matches", "no_source"))
            return admitted
        try:
            decoded = await self.decode(source, record.value)
        except DecodeError as exc:
            record.event_type = source.event_type
            self._metrics.decode_failures.labels(self._vendor.name, record.topic, exc.reason).inc()
            admitted = Admitted(taken=1, size=record.size, largest=record.size)
            admitted.dead.append((record, "decode", str(exc), exc.reason))
            return admitted
        return self.admit_decoded(record, decoded)

    def admit_decoded(self, record: Record, decoded: dict[str, Any]) -> Admitted:
        """`admit` for a record whose value is already decoded (`decode`, or a preview's
        file): mapped when its topic has a mapping, then routed."""
        admitted = Admitted(taken=1, size=record.size, largest=record.size)
        source = self.source(record.topic)
        if source is None:
            admitted.dead.append((record, "decode", "no source topic matches", "no_source"))
            return admitted
        record.event_type = source.event_type
        self._map_and_route(record, source, decoded, admitted)
        return admitted

    def _map_and_route(
        self, record: Record, source: Source, decoded: dict[str, Any], intake: Admitted
    ) -> None:
        if source.mapping is not None:
            try:
                decoded = source.mapping.apply(decoded, record.key, record.headers)
            except SourceMappingError as exc:
                self._metrics.decode_failures.labels(
                    self._vendor.name, record.topic, exc.reason
                ).inc()
                intake.dead.append((record, "mapping", str(exc), exc.reason))
                return
        record.event = decoded
        self._route(record, source.event_type, decoded, intake)

    def _route(
        self, record: Record, event_type: EventType, event: dict[str, Any], intake: Admitted
    ) -> None:
        if self._vc.require_consent and event.get("marketing_consent") is not True:
            intake.skipped.append((record, "no_consent"))
            return
        try:
            record.items = self._vendor.map(event_type, event)
        except MappingError as exc:
            if self._vc.on_unmappable == "skip":
                intake.skipped.append((record, exc.reason))
            else:
                intake.dead.append((record, "unmappable", str(exc), exc.reason))
            return
        except Exception as exc:
            # A mapper bug met a record it did not expect: keep the record (dead letter) and
            # the pipeline running, rather than crash-looping on it. Only the exception's type
            # is reported: its text could hold the record's data.
            log.error(
                "the %s mapper failed on a record: %s",
                self._vendor.name,
                type(exc).__name__,
                extra={
                    "vendor": self._vendor.name,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "event": "mapper_failed",
                },
            )
            message = f"mapper raised {type(exc).__name__}"
            intake.dead.append((record, "mapper_error", message, "mapper_error"))
            return
        intake.ready.append(record)

    async def _decode_with_fetched(
        self, decoder: AvroDecoder, missing: SchemaMissingError, raw: bytes | None
    ) -> dict[str, Any]:
        if self._kafka.schema_registry_url is None:
            raise DecodeError("unknown_schema_id", "no schema registry is configured")
        schema_id = missing.schema_id
        while True:
            try:
                # A client per fetch: fetches are rare (a schema id not seen yet), the parsed
                # schema is cached in the decoder, and nothing stays open between them.
                async with Registry(self._kafka) as registry:
                    writer = await registry.by_id(schema_id)
            except RegistryUnavailableError as exc:  # down, slow or refusing us: wait for it
                self.waiting_for_registry = True
                log.warning(
                    "schema registry unavailable, waiting: %s",
                    exc,
                    extra={"vendor": self._vendor.name, "event": "schema_registry_unavailable"},
                )
                await asyncio.sleep(REGISTRY_RETRY_S)
                continue
            self.waiting_for_registry = False
            decoder.add_writer_schema(schema_id, writer.schema, writer.references)
            return decoder.decode(raw)
