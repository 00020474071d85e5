"""One vendor's pipeline: consume -> decode -> map -> deliver -> ack -> commit.

Each vendor has its own pipeline and consumer group (``<group_prefix>.<vendor>``), so one
vendor's outage, slowness or replay never holds another back.

How a record becomes a commit:
1. The consumer thread hands records over in partition order; each is registered with its
   partition's `PartitionOffsets` before anything else happens to it.
2. It is decoded once. Undecodable -> dead letter. Without consent where the vendor requires
   it, or unmappable -> skipped (or dead-lettered, by the vendor's policy).
3. With ``ordering: key``, a record waits while an earlier record with the same Kafka key is in
   flight, so a later event never overtakes an earlier one's retries.
4. Workers (as many as the vendor's concurrency) take ready records, in batches for vendors
   whose API takes arrays, and `Sender` sends them until each has an outcome.
5. A record is done when delivered, skipped, or its dead-letter copy is acknowledged by Kafka;
   only then is its offset acknowledged. Commits (periodic, on revocation, at shutdown) store
   the highest contiguous done offset per partition.

Back-pressure: when in-flight records or bytes reach their limits, when the circuit is not
closed, or when the vendor refuses the credentials, every assigned partition is paused; fetching
resumes below the low-water mark. Memory therefore stays flat whatever the backlog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

import aiohttp
from confluent_kafka import Message

from bridge.config import Config, VendorConfig
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit, CircuitState
from bridge.delivery.sender import Record, Sender
from bridge.errors import CredentialsError, DecodeError, MappingError
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, SchemaMissingError, SchemaRegistry
from bridge.kafka.consumer import CommitRequest, ConsumerThread, TopicPartition
from bridge.kafka.deadletter import DeadLetter, DeadLetterWriter
from bridge.kafka.offsets import PartitionOffsets
from bridge.kafka.outcomes import outcome_value
from bridge.kafka.producer import AsyncProducer, ProduceError
from bridge.metrics import Metrics
from bridge.vendors.base import Vendor

log = logging.getLogger(__name__)

REGISTRY_RETRY_S = 2.0
SAMPLE_EVERY = 1000


class Pipeline:
    """Runs one vendor's pipeline; `run()` until `stop()` (or a crash, which propagates)."""

    def __init__(
        self,
        config: Config,
        vendor: Vendor[Any],
        producer: AsyncProducer,
        metrics: Metrics,
    ) -> None:
        self.vendor = vendor
        self.name = vendor.name
        self._config = config
        self._vc: VendorConfig = config.vendors[self.name]
        self._metrics = metrics
        self._dead_letters = DeadLetterWriter(
            producer,
            config.dead_letter.topic_for(self.name),
            config.dead_letter.max_error_chars,
        )
        topics = config.topics.by_event_type()
        self._decoders: dict[str, tuple[EventType, AvroDecoder]] = {
            topics[kind].name: (
                kind,
                AvroDecoder(load_schema(config.schemas_dir, kind), topics[kind].format),
            )
            for kind in vendor.event_types
        }
        self._producer = producer
        self._outcome_topic = config.outcomes.topic if config.outcomes.enabled else None
        url = config.kafka.schema_registry_url
        self._registry = SchemaRegistry(url, self._registry_session) if url else None
        self._trackers: dict[TopicPartition, PartitionOffsets] = {}
        self._intake: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._ready: deque[Record] = deque()
        self._ready_since = 0.0
        self._has_ready = asyncio.Event()
        self._lanes: dict[bytes, deque[Record]] = {}
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._progress = asyncio.Event()
        self._full = False
        self._fetching = True
        self._draining = False
        self._refused = False
        self._assigned_once = False
        self._broker_reachable = True
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._skips: dict[str, int] = {}
        self._bind_metrics()
        self._circuit = Circuit(
            self._vc.circuit.failure_threshold, self._vc.circuit.open_s, self._on_circuit
        )
        metrics.set_circuit(self.name, CircuitState.CLOSED)
        self._consumer: ConsumerThread | None = None

    def _bind_metrics(self) -> None:
        m, name = self._metrics, self.name
        self._m_delivered = m.records.labels(name, "delivered", "")
        self._m_e2e = m.end_to_end.labels(name)
        self._m_in_flight = m.in_flight_records.labels(name)
        self._m_in_flight_bytes = m.in_flight_bytes.labels(name)
        self._m_paused = m.paused_partitions.labels(name)
        self._m_ready = m.pipeline_ready.labels(name)
        self._m_refused = m.credentials_refused.labels(name)
        self._m_warnings = m.vendor_warnings.labels(name)
        self._m_outcome_failures = m.outcome_write_failures.labels(name)
        self._m_commit_failures = m.commit_failures.labels(name)
        self._m_consumed = {
            topic: m.records_consumed.labels(name, topic) for topic in self._decoders
        }
        self._m_ready.set(0)
        self._m_refused.set(0)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Joined the group, the broker is reachable, and the vendor takes our credentials."""
        return self._assigned_once and self._broker_reachable and not self._refused

    @property
    def consumer_alive(self) -> bool:
        return self._consumer is not None and self._consumer.alive

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Consume and deliver until `stop()`, then drain, commit and leave the group.

        Shutdown steps, sharing one deadline (`shutdown_deadline_s`):
        1. stop fetching; 2. let in-flight records finish until the deadline; 3. commit what is
        done; 4. close the consumer (leaving the group hands the partitions over at once);
        5. stop the workers and close the HTTP session.
        """
        loop = asyncio.get_running_loop()
        consumer = ConsumerThread(
            self._consumer_properties(),
            list(self._decoders),
            self,
            loop,
            self._config.revoke_timeout_s,
            on_lag=self._on_lag,
            name=f"consumer-{self.name}",
        )
        self._consumer = consumer
        async with VendorClient(self.vendor, self._vc.request_timeout_s, self._metrics) as client:
            sender = Sender(self.vendor, self._vc, client, self._circuit, self, self._metrics)
            workers = [
                self._start(self._work(sender), f"{self.name}-worker-{i}")
                for i in range(self._vc.concurrency)
            ]
            intake = self._start(self._take_in(), f"{self.name}-intake")
            ticker = self._start(self._tick(), f"{self.name}-commit")
            consumer.start()
            try:
                await self._wait_for_stop_or_crash([intake, ticker, *workers])
                deadline = loop.time() + self._config.shutdown_deadline_s
                self._draining = True
                consumer.set_fetching(False)
                await self._drain(deadline)
                await self._commit()
                ticker.cancel()
                await consumer.stop()
            finally:
                for task in [*workers, intake, ticker, *self._tasks]:
                    task.cancel()
                await asyncio.gather(*workers, intake, ticker, *self._tasks, return_exceptions=True)
                if consumer.alive:  # a crash: leave the group without a last commit
                    await consumer.stop(abandon=True)
                self._m_ready.set(0)

    async def _wait_for_stop_or_crash(self, tasks: list[asyncio.Task[None]]) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        for task in done:
            if task is not stop:
                # A pipeline task never returns on its own: its end is a crash. Fail loudly.
                task.result()
                raise RuntimeError(f"pipeline task {task.get_name()} ended unexpectedly")

    async def _wait_for_progress(self, pending: Callable[[], bool], deadline: float) -> None:
        """Wait while `pending()` holds, re-checking whenever a record finishes."""
        loop = asyncio.get_running_loop()
        while pending() and loop.time() < deadline:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), deadline - loop.time())
            except TimeoutError:
                return

    async def _drain(self, deadline: float) -> None:
        await self._wait_for_progress(lambda: self._in_flight > 0, deadline)
        if self._in_flight:
            log.warning(
                "shutdown deadline reached with %d records in flight; they will be redelivered",
                self._in_flight,
                extra={"vendor": self.name, "event": "drain_incomplete"},
            )

    def _start(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        return task

    def _spawn(self, coro: Any, name: str) -> None:
        task = self._start(coro, name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _consumer_properties(self) -> dict[str, Any]:
        kafka = self._config.kafka
        return {
            **kafka.client_properties(),
            "group.id": f"{kafka.group_prefix}.{self.name}",
            "auto.offset.reset": "earliest",
            # Bounds what librdkafka prefetches, so memory stays flat while partitions are
            # paused over a large backlog.
            "queued.max.messages.kbytes": 8192,
            **kafka.consumer_properties,
        }

    def _registry_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    # -- events from the consumer thread (already on the loop) ------------------------------
    def on_assigned(self, partitions: dict[TopicPartition, int]) -> None:
        self._intake.put_nowait(("assigned", partitions))

    def on_records(self, records: list[Message], admitted: threading.Event) -> None:
        self._intake.put_nowait(("records", (records, admitted)))

    def on_revoked(
        self,
        partitions: list[TopicPartition],
        reply: concurrent.futures.Future[list[CommitRequest]],
    ) -> None:
        self._intake.put_nowait(("revoked", (partitions, reply)))

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self._intake.put_nowait(("lost", partitions))

    def on_committed(self, commits: list[CommitRequest]) -> None:
        for commit in commits:
            tracker = self._trackers.get((commit.topic, commit.partition))
            if tracker is not None and tracker.epoch == commit.epoch:
                tracker.committed = max(tracker.committed or 0, commit.offset)
            self._metrics.committed_offset.labels(
                self.name, commit.topic, str(commit.partition)
            ).set(commit.offset)

    def on_commit_failed(self, error: str) -> None:
        self._m_commit_failures.inc()
        log.warning(
            "offset commit failed: %s", error, extra={"vendor": self.name, "event": "commit_failed"}
        )

    def on_broker_state(self, reachable: bool) -> None:
        self._broker_reachable = reachable
        self._publish_ready()

    def _on_lag(self, topic: str, partition: int, lag: int) -> None:
        # Called on the consumer thread; prometheus-client metrics are thread-safe.
        self._metrics.consumer_lag.labels(self.name, topic, str(partition)).set(lag)

    # -- intake: one task, so assignments, records and revocations keep their order ---------
    async def _take_in(self) -> None:
        while True:
            kind, payload = await self._intake.get()
            if kind == "records":
                records, admitted = payload
                try:
                    await self._admit_all(records)
                finally:
                    admitted.set()
            elif kind == "assigned":
                self._assign(payload)
            elif kind == "revoked":
                await self._revoke(*payload)
            elif kind == "lost":
                self._lose(payload)

    def _assign(self, partitions: dict[TopicPartition, int]) -> None:
        for (topic, partition), epoch in partitions.items():
            self._trackers[(topic, partition)] = PartitionOffsets(topic, partition, epoch)
        self._publish_paused()
        self._assigned_once = True
        self._broker_reachable = True
        self._publish_ready()
        log.info(
            "assigned %d partitions",
            len(partitions),
            extra={"vendor": self.name, "event": "partitions_assigned"},
        )

    async def _revoke(
        self,
        partitions: list[TopicPartition],
        reply: concurrent.futures.Future[list[CommitRequest]],
    ) -> None:
        trackers = [t for tp in partitions if (t := self._trackers.get(tp)) is not None]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0 if self._draining else self._config.revoke_timeout_s)
        await self._wait_for_progress(lambda: any(t.pending_count for t in trackers), deadline)
        commits = [
            CommitRequest(t.topic, t.partition, t.epoch, offset)
            for t in trackers
            if (offset := t.to_commit()) is not None
        ]
        self._lose(partitions)
        reply.set_result(commits)

    def _lose(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            tracker = self._trackers.pop(tp, None)
            if tracker is not None:
                tracker.fenced = True
            # The partition's gauges now belong to its new owner: drop ours, not leave them stale.
            labels = (self.name, tp[0], str(tp[1]))
            for gauge in (
                self._metrics.oldest_unacked_age,
                self._metrics.consumer_lag,
                self._metrics.committed_offset,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        self._publish_paused()

    async def _admit_all(self, messages: list[Message]) -> None:
        # The hot path: per record, only what must be per record. Decoding is synchronous;
        # only a writer schema not seen yet makes it wait (for the registry).
        now = time.monotonic()
        consumed = dict.fromkeys(self._decoders, 0)
        for message in messages:
            topic, partition = cast(str, message.topic()), cast(int, message.partition())
            tracker = self._trackers.get((topic, partition))
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
            self._in_flight += 1
            self._in_flight_bytes += record.size
            consumed[topic] += 1
            event_type, decoder = self._decoders[topic]
            record.event_type = event_type
            try:
                try:
                    record.event = decoder.decode(value)
                except SchemaMissingError as missing:
                    record.event = await self._decode_with_fetched(decoder, missing, value)
            except DecodeError as exc:
                self._metrics.decode_failures.labels(self.name, topic, exc.reason).inc()
                self.dead_letter(record, "decode", str(exc), None, reason=exc.reason)
                continue
            self._route(record, event_type, record.event)
        for topic, count in consumed.items():
            if count:
                self._m_consumed[topic].inc(count)
        self._after_change()

    def _route(self, record: Record, event_type: EventType, event: dict[str, Any]) -> None:
        """Skip, dead-letter or queue a decoded record for delivery."""
        if self._vc.require_consent and event.get("marketing_consent") is not True:
            self._skip(record, "no_consent")
            return
        try:
            record.items = self.vendor.map(event_type, event)
        except MappingError as exc:
            if self._vc.on_unmappable == "skip":
                self._skip(record, exc.reason)
            else:
                self.dead_letter(record, "unmappable", str(exc), None, reason=exc.reason)
            return
        except Exception as exc:
            # A mapper bug met a record it did not expect: keep the record (dead letter) and
            # the pipeline running, rather than crash-looping on it. Only the exception's type
            # is reported: its text could hold the record's data.
            log.error(
                "the %s mapper failed on a record: %s",
                self.name,
                type(exc).__name__,
                extra={
                    "vendor": self.name,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "event": "mapper_failed",
                },
            )
            self.dead_letter(record, "mapper_error", f"mapper raised {type(exc).__name__}", None)
            return
        self._enqueue(record)

    async def _decode_with_fetched(
        self, decoder: AvroDecoder, missing: SchemaMissingError, raw: bytes | None
    ) -> dict[str, Any]:
        if self._registry is None:
            raise DecodeError("unknown_schema_id", "no schema registry is configured")
        schema_id = missing.schema_id
        while True:
            try:
                decoder.add_writer_schema(schema_id, await self._registry.fetch(schema_id))
                return decoder.decode(raw)
            except DecodeError:
                raise
            except Exception as exc:  # the registry is down: wait for it, lose nothing
                log.warning(
                    "schema registry unavailable: %s",
                    type(exc).__name__,
                    extra={"vendor": self.name, "event": "schema_registry_unavailable"},
                )
                await asyncio.sleep(REGISTRY_RETRY_S)

    # -- ordering lanes and the ready queue ------------------------------------------------
    def _enqueue(self, record: Record) -> None:
        key = record.key
        if self._vc.ordering == "key" and key is not None:
            lane = self._lanes.get(key)
            if lane is not None:
                lane.append(record)
                return
            self._lanes[key] = deque()
        self._make_ready(record)

    def _make_ready(self, record: Record) -> None:
        if not self._ready:
            self._ready_since = time.monotonic()
        self._ready.append(record)
        self._has_ready.set()

    def _release_lane(self, record: Record) -> None:
        key = record.key
        if self._vc.ordering != "key" or key is None:
            return
        lane = self._lanes.get(key)
        if lane is None:
            return
        if lane:
            self._make_ready(lane.popleft())
        else:
            del self._lanes[key]

    async def _work(self, sender: Sender) -> None:
        batching = self.vendor.batches
        max_events = self._vc.batch.max_events if batching else 1
        linger = self._vc.batch.linger_ms / 1000
        while True:
            while not self._ready:
                self._has_ready.clear()
                await self._has_ready.wait()
            if batching and linger and len(self._ready) < max_events:
                # Wait for a fuller batch, but never keep the oldest record past the linger.
                wait = linger - (time.monotonic() - self._ready_since)
                if wait > 0:
                    await asyncio.sleep(wait)
            batch: list[Record] = []
            while self._ready and len(batch) < max_events:
                record = self._ready.popleft()
                if record.tracker.fenced:
                    self.dropped(record)
                else:
                    batch.append(record)
            if batch:
                await sender.send(batch)

    # -- outcomes (the Outcomes protocol of Sender) -----------------------------------------
    def delivered(self, records: Sequence[Record], status: int) -> None:
        self._m_delivered.inc(len(records))
        now_ms = time.time() * 1000
        for record in records:
            if record.event is not None:
                occurred_ms = record.event.get("occurred_at")
                if isinstance(occurred_ms, int):
                    self._m_e2e.observe(max(0.0, now_ms - occurred_ms) / 1000)
            self._finish(record, "delivered", None, status, notify=False)
        self._progress.set()
        self._after_change()

    def warned(self, record: Record, warnings: Sequence[str]) -> None:
        self._m_warnings.inc(len(warnings))
        log.info(
            "vendor accepted the event with %d warnings: %s",
            len(warnings),
            "; ".join(warnings)[:300],
            extra={
                "vendor": self.name,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "event": "vendor_warning",
            },
        )

    def dead_letter(
        self,
        record: Record,
        error_class: str,
        message: str,
        status: int | None,
        reason: str | None = None,
    ) -> None:
        self._spawn(
            self._write_dead_letter(record, error_class, message, status, reason or error_class),
            f"{self.name}-dead-letter",
        )

    async def _write_dead_letter(
        self, record: Record, error_class: str, message: str, status: int | None, reason: str
    ) -> None:
        await self._dead_letters.write(
            DeadLetter(
                vendor=self.name,
                error_class=error_class,
                message=message,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                headers=record.headers,
                attempts=record.attempts,
                status=status,
                first_attempt=record.first_attempt,
                last_attempt=record.last_attempt,
            )
        )
        self._metrics.dead_letters.labels(self.name, reason).inc()
        self._metrics.records.labels(self.name, "dead_lettered", reason).inc()
        log.warning(
            "record dead-lettered (%s)",
            error_class,
            extra={
                "vendor": self.name,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "event": "dead_lettered",
                "error_class": error_class,
                "status": status,
            },
        )
        self._finish(record, "dead_lettered", reason, status)

    def _skip(self, record: Record, reason: str) -> None:
        self._metrics.records.labels(self.name, "skipped", reason).inc()
        seen = self._skips.get(reason, 0)
        self._skips[reason] = seen + 1
        if seen % SAMPLE_EVERY == 0:
            log.info(
                "record skipped: %s (%d so far)",
                reason,
                seen + 1,
                extra={
                    "vendor": self.name,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "event": "skipped",
                },
            )
        self._finish(record, "skipped", reason, None)

    def dropped(self, record: Record) -> None:
        """The record's partition was revoked: forget it without acknowledging it."""
        self._finish(record, None, None, None, ack=False)

    def credentials_refused(self, error: CredentialsError | None) -> None:
        self._refused = error is not None
        self._m_refused.set(1 if self._refused else 0)
        if error is not None:
            log.error(
                "%s refused the credentials or endpoint (%s): pausing, committing nothing new, "
                "probing every %ss until it works",
                self.name,
                error,
                self._vc.retry.credentials_probe_s,
                extra={"vendor": self.name, "event": "credentials_refused", "status": error.status},
            )
        else:
            log.warning(
                "%s takes the credentials again: resuming",
                self.name,
                extra={"vendor": self.name, "event": "credentials_accepted"},
            )
        self._publish_ready()
        self._after_change()

    def _finish(
        self,
        record: Record,
        outcome: str | None,
        reason: str | None,
        status: int | None,
        ack: bool = True,
        notify: bool = True,
    ) -> None:
        """The record is done; `notify=False` leaves telling waiters to the caller (a batch)."""
        if record.done:
            return
        record.done = True
        if ack and self._outcome_topic is not None and outcome is not None:
            key, value = outcome_value(
                self.name,
                record.event_type,
                record.event,
                outcome,
                reason,
                status,
                record.attempts,
                time.time(),
            )
            self._spawn(self._write_outcome(record, key, value), f"{self.name}-outcome")
            return
        self._release(record, ack, notify)

    async def _write_outcome(self, record: Record, key: bytes | None, value: bytes) -> None:
        assert self._outcome_topic is not None

        def failed(error: ProduceError) -> None:
            self._m_outcome_failures.inc()
            log.error(
                "outcome write failed, retrying: %s",
                error,
                extra={"vendor": self.name, "event": "outcome_write_failed"},
            )

        await self._producer.produce_durably(self._outcome_topic, key, value, (), failed)
        self._release(record, ack=True)

    def _release(self, record: Record, ack: bool, notify: bool = True) -> None:
        """The record is done with: acknowledge its offset and free its place."""
        if ack:
            record.tracker.ack(record.offset)
        self._in_flight -= 1
        self._in_flight_bytes -= record.size
        self._release_lane(record)
        if notify:
            self._progress.set()
            self._after_change()

    # -- back-pressure, commits, gauges -----------------------------------------------------
    def _on_circuit(self, state: CircuitState) -> None:
        self._metrics.set_circuit(self.name, state)
        log.warning("circuit %s", state, extra={"vendor": self.name, "event": f"circuit_{state}"})
        self._after_change()

    def _after_change(self) -> None:
        """Pause or resume fetching when in-flight work or the vendor's state asks for it."""
        vc = self._vc
        if self._full:
            self._full = not (
                self._in_flight <= vc.max_in_flight_records * vc.resume_ratio
                and self._in_flight_bytes <= vc.max_in_flight_bytes * vc.resume_ratio
            )
        else:
            self._full = (
                self._in_flight >= vc.max_in_flight_records
                or self._in_flight_bytes >= vc.max_in_flight_bytes
            )
        fetching = not (
            self._full
            or self._draining
            or self._refused
            or self._circuit.state is not CircuitState.CLOSED
        )
        if fetching is not self._fetching and self._consumer is not None:
            self._fetching = fetching
            self._consumer.set_fetching(fetching)
            self._publish_paused()

    def _publish_paused(self) -> None:
        self._m_paused.set(0 if self._fetching else len(self._trackers))

    def _publish_ready(self) -> None:
        self._m_ready.set(1 if self.ready else 0)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._config.commit_interval_s
        next_commit = loop.time() + interval
        while True:
            await asyncio.sleep(min(1.0, interval))
            if self._consumer is not None and not self._consumer.alive:
                # Fail the pipeline loudly: the process exits non-zero and is restarted, rather
                # than staying up without consuming.
                raise RuntimeError(f"the {self.name} consumer thread died")
            self._update_gauges()
            if loop.time() >= next_commit:
                next_commit = loop.time() + interval
                await self._commit()

    async def _commit(self) -> None:
        commits = [
            CommitRequest(t.topic, t.partition, t.epoch, offset)
            for t in self._trackers.values()
            if (offset := t.to_commit()) is not None
        ]
        if commits and self._consumer is not None and self._consumer.alive:
            await self._consumer.commit(commits)

    def _update_gauges(self) -> None:
        now = time.monotonic()
        self._m_in_flight.set(self._in_flight)
        self._m_in_flight_bytes.set(self._in_flight_bytes)
        for (topic, partition), tracker in self._trackers.items():
            since = tracker.oldest_pending_since()
            self._metrics.oldest_unacked_age.labels(self.name, topic, str(partition)).set(
                0 if since is None else now - since
            )
