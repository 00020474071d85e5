"""Intake: a fetched batch becomes records, each decoded once and routed.

For each Kafka message of a partition this pipeline still owns: register its offset with the
partition's tracker (before anything else, so no record can be acknowledged unregistered),
decode it, and decide its way:
- undecodable: dead letter (class ``decode``, with the reason);
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
import time
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
from confluent_kafka import Message

from bridge.config import Config, VendorConfig
from bridge.errors import DecodeError, MappingError
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, SchemaMissingError, SchemaRegistry
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
    ready: list[Record] = field(default_factory=list)
    skipped: list[tuple[Record, str]] = field(default_factory=list)
    dead: list[tuple[Record, str, str, str]] = field(default_factory=list)
    """(record, error class, message, reason)"""


class Intake:
    """Decodes and routes the records of one vendor's topics."""

    def __init__(self, config: Config, vendor: Vendor[Any], metrics: Metrics) -> None:
        self._vendor = vendor
        self._vc: VendorConfig = config.vendors[vendor.name]
        self._metrics = metrics
        topics = config.topics.by_event_type()
        self._decoders: dict[str, tuple[EventType, AvroDecoder]] = {
            topics[kind].name: (
                kind,
                AvroDecoder(load_schema(config.schemas_dir, kind), topics[kind].format),
            )
            for kind in vendor.event_types
        }
        url = config.kafka.schema_registry_url
        auth = config.kafka.schema_registry_auth()
        basic = aiohttp.BasicAuth(*auth) if auth else None

        def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), auth=basic)

        self._registry = SchemaRegistry(url, session) if url else None
        self.waiting_for_registry = False
        self._m_consumed = {
            topic: metrics.records_consumed.labels(vendor.name, topic) for topic in self._decoders
        }

    @property
    def topics(self) -> list[str]:
        return list(self._decoders)

    async def take(self, messages: list[Message], partitions: Partitions) -> Admitted:
        # The hot path: per record, only what must be per record.
        intake = Admitted()
        consumed = dict.fromkeys(self._decoders, 0)
        now = time.monotonic()
        for message in messages:
            topic, partition = cast(str, message.topic()), cast(int, message.partition())
            tracker = partitions.get(topic, partition)
            if tracker is None:
                continue  # lost before we got to it; the next owner has it
            value = message.value()
            record = Record(
                tracker=tracker,
                topic=topic,
                partition=partition,
                offset=cast(int, message.offset()),
                key=message.key(),
                value=value,
                headers=cast(list[tuple[str, bytes]], message.headers() or []),
                size=len(value) if value else 0,
            )
            tracker.add(record.offset, now)
            intake.taken += 1
            intake.size += record.size
            consumed[topic] += 1
            event_type, decoder = self._decoders[topic]
            record.event_type = event_type
            try:
                try:
                    record.event = decoder.decode(value)
                except SchemaMissingError as missing:
                    record.event = await self._decode_with_fetched(decoder, missing, value)
            except DecodeError as exc:
                self._metrics.decode_failures.labels(self._vendor.name, topic, exc.reason).inc()
                intake.dead.append((record, "decode", str(exc), exc.reason))
                continue
            self._route(record, event_type, record.event, intake)
        for topic, count in consumed.items():
            if count:
                self._m_consumed[topic].inc(count)
        return intake

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
        if self._registry is None:
            raise DecodeError("unknown_schema_id", "no schema registry is configured")
        schema_id = missing.schema_id
        while True:
            try:
                schema = await self._registry.fetch(schema_id)
            except DecodeError:
                raise
            except Exception as exc:  # down, slow or refusing us: wait for it, lose nothing
                self.waiting_for_registry = True
                log.warning(
                    "schema registry unavailable, waiting: %s",
                    type(exc).__name__,
                    extra={"vendor": self._vendor.name, "event": "schema_registry_unavailable"},
                )
                await asyncio.sleep(REGISTRY_RETRY_S)
                continue
            self.waiting_for_registry = False
            decoder.add_writer_schema(schema_id, schema)
            return decoder.decode(raw)
