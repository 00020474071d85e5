"""One vendor's pipeline: its parts, its lifecycle, and the consumer's events.

A record's way, top to bottom, each step a part of its own that never calls back up:
1. `ConsumerThread` (kafka/) fetches a batch and puts a `Fetched` event on the queue.
2. `Intake` registers each record with its partition's tracker (`Partitions`), decodes it
   once, and routes it: ready, skipped or dead letter.
3. `KeyLanes` hold a record behind an earlier one of the same key; `ReadyQueue` batches.
4. Workers (as many as the vendor's concurrency) take batches and `Sender` (delivery/) sends
   them until each record has an outcome (`Sent`).
5. `Settlement` writes dead letters and outcome records, acknowledges offsets, frees places.
6. `FlowControl` pauses or resumes fetching as work is taken and freed, and with the circuit.
7. The commit loop commits each partition's done prefix every `commit_interval_s` while
   offsets move; revocation and shutdown commit too.

Shutdown shares one deadline (`stop(deadline)`): stop fetching; let in-flight records finish
until shortly before the deadline; commit what is done; close the consumer (leaving the group
hands the partitions over at once); stop the workers and close the HTTP session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any

from bridge.config import Config, VendorConfig
from bridge.delivery.adaptive import AdaptiveConcurrency, workers_and_limiter
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit, CircuitState
from bridge.delivery.sender import Sender
from bridge.kafka.consumer import ConsumerThread
from bridge.kafka.consumer_events import (
    Assigned,
    BrokerState,
    CommitFailed,
    CommitRequest,
    Committed,
    ConsumerEvent,
    Fetched,
    Lost,
    Revoked,
    TopicPartition,
)
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.formats import Decoders
from bridge.kafka.outcomes import OutcomeWriter
from bridge.kafka.producer import AsyncProducer
from bridge.metrics import Metrics
from bridge.pipeline.flow import FlowControl
from bridge.pipeline.intake import Intake
from bridge.pipeline.lanes import KeyLanes, ReadyQueue
from bridge.pipeline.partitions import Partitions
from bridge.pipeline.settlement import Settlement
from bridge.pipeline.tasks import Tasks
from bridge.vendors.base import Vendor

log = logging.getLogger(__name__)


class Pipeline:
    """Runs one vendor's pipeline; `run()` until `stop()` (or a crash, which propagates)."""

    def __init__(
        self,
        config: Config,
        vendor: Vendor[Any],
        producer: AsyncProducer,
        metrics: Metrics,
        decoders: Decoders | None = None,
    ) -> None:
        self.vendor = vendor
        self.name = vendor.name
        self._config = config
        self._vc: VendorConfig = config.vendors[self.name]
        self._producer = producer
        self._metrics = metrics
        self._intake = Intake(config, vendor, metrics, decoders)
        self._partitions = Partitions(self.name, metrics)
        batches = vendor.batches
        self._ready = ReadyQueue(
            self._vc.batch.max_events if batches else 1,
            self._vc.batch.linger_ms / 1000 if batches else 0,
        )
        self._lanes = KeyLanes(self._vc.ordering == "key", self._ready)
        self._flow = FlowControl(self._vc, self._set_fetching)
        self._circuit = Circuit(
            self._vc.circuit.failure_threshold, self._vc.circuit.open_s, self._on_circuit
        )
        self._consumer: ConsumerThread | None = None
        self._stop = asyncio.Event()
        self._deadline: float | None = None
        self._drain_until: float | None = None
        self._assigned_once = False
        self._broker_reachable = True
        self._was_refused = False
        name = self.name
        self._m_ready = metrics.pipeline_ready.labels(name)
        self._m_refused = metrics.credentials_refused.labels(name)
        self._m_paused = metrics.paused_partitions.labels(name)
        self._m_in_flight = metrics.in_flight_records.labels(name)
        self._m_in_flight_bytes = metrics.in_flight_bytes.labels(name)
        self._m_commit_failures = metrics.commit_failures.labels(name)
        # Bound even with the outcome log off: a zero series is a dashboard line, not a gap.
        self._m_outcome_failures = metrics.outcome_write_failures.labels(name)
        self._m_ready.set(0)
        self._m_refused.set(0)
        metrics.set_circuit(name, CircuitState.CLOSED)

    # -- what the app sees ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Joined the group, broker and registry reachable, and the vendor takes our key."""
        return (
            self._assigned_once
            and self._broker_reachable
            and not self._circuit.refused
            and not self._intake.waiting_for_registry
        )

    @property
    def consumer_alive(self) -> bool:  # a pipeline still starting is alive
        return self._consumer is None or self._consumer.alive

    def stop(self, deadline: float | None = None) -> None:
        """Drain and stop; `deadline` (the loop's clock) bounds the whole shutdown."""
        self._deadline = deadline
        self._stop.set()

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[ConsumerEvent] = asyncio.Queue()
        consumer = ConsumerThread(
            self._config.kafka.consumer_config(self.name),
            self._intake.topics,
            events,
            loop,
            self._config.revoke_timeout_s,
            on_lag=self._on_lag,
            name=f"consumer-{self.name}",
        )
        self._consumer = consumer
        tasks = Tasks()
        dead_letters = DeadLetterWriter(
            self._producer,
            self._config.dead_letter.topic_for(self.name),
            self._config.dead_letter.max_error_chars,
            on_refused=self._count_dead_letter_refusal,
        )
        outcomes = (
            OutcomeWriter(
                self._producer,
                self._config.outcomes.topic,
                self.name,
                self._m_outcome_failures.inc,
            )
            if self._config.outcomes.enabled
            else None
        )
        settlement = Settlement(
            self.name, self._flow, self._lanes, dead_letters, outcomes, tasks, self._metrics
        )
        async with VendorClient(self.vendor, self._vc.request_timeout_s, self._metrics) as client:
            limit = self._metrics.concurrency_limit.labels(self.name)
            workers, adaptive = workers_and_limiter(self._vc, limit.set)
            sender = Sender(self.vendor, self._vc, client, self._circuit, self._metrics, adaptive)
            running = [
                self._start(self._work(sender, settlement, adaptive), f"{self.name}-worker-{i}")
                for i in range(workers)
            ]
            running.append(self._start(self._take_events(events, settlement), "events"))
            running.append(self._start(self._commit_loop(), "commits"))
            running.append(self._start(self._watch(consumer), "consumer-watch"))
            running.append(self._start(tasks.failure(), "background-writes"))
            consumer.batch_limit = self._flow.room()
            consumer.start()
            try:
                await self._wait_for_stop_or_crash(running)
                await self._shut_down(consumer, loop)
            finally:
                self._circuit.close()
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                await tasks.cancel()
                if consumer.alive:  # a crash: leave the group without a last commit
                    await consumer.stop(abandon=True)
                self._m_ready.set(0)

    async def _shut_down(self, consumer: ConsumerThread, loop: asyncio.AbstractEventLoop) -> None:
        deadline = self._deadline or loop.time() + self._config.shutdown_deadline_s
        # The hand-over (commit, leaving the group) keeps a share of the time for itself.
        reserve = min(5.0, self._config.shutdown_deadline_s / 5)
        self._drain_until = max(loop.time(), deadline - reserve)
        self._flow.drain()
        self._partitions.leave()
        await self._flow.wait_for_progress(lambda: self._flow.in_flight > 0, self._drain_until)
        self._drain_until = loop.time()  # what is left now waits for no revocation
        if self._flow.in_flight:
            log.warning(
                "shutdown deadline reached with %d records in flight; they will be redelivered",
                self._flow.in_flight,
                extra={"vendor": self.name, "event": "drain_incomplete"},
            )
        try:
            async with asyncio.timeout_at(max(loop.time(), deadline)):
                # Waited for, as a revocation's: unwaited, a rebalance could refuse it unseen;
                # refused mid-rebalance, it is sent again until the deadline (less 1 s to close).
                await self._commit(wait=True)
                await consumer.stop(handover_s=max(0.0, deadline - loop.time() - 1))
        except TimeoutError:
            log.error(
                "shutdown deadline reached before the consumer closed; uncommitted records "
                "will be redelivered",
                extra={"vendor": self.name, "event": "close_incomplete"},
            )

    async def _wait_for_stop_or_crash(self, tasks: list[asyncio.Task[None]]) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        for task in done:
            if task is not stop:
                # A pipeline task never returns on its own: its end is a crash. Fail loudly.
                task.result()
                raise RuntimeError(f"pipeline task {task.get_name()} ended unexpectedly")

    def _start(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=f"{self.name}-{name}")

    async def _watch(self, consumer: ConsumerThread) -> None:
        # Closed without stop(): the thread died. Fail the pipeline loudly, so the process
        # exits non-zero and is restarted, rather than staying up without consuming.
        await consumer.wait_closed()
        raise RuntimeError(f"the {self.name} consumer thread ended")

    # -- the consumer's events, in order ----------------------------------------------------
    async def _take_events(
        self, events: asyncio.Queue[ConsumerEvent], settlement: Settlement
    ) -> None:
        while True:
            match await events.get():
                case Fetched(records, admitted):
                    try:
                        await self._admit(records, settlement)
                    finally:
                        admitted.set()
                case Assigned(partitions):
                    self._assign(partitions)
                case Revoked(partitions, done_now, reply):
                    await self._revoke(partitions, done_now, reply)
                case Lost(partitions):
                    # Kafka took them without a revocation (the member fell out of the group):
                    # what was done since the last commit is delivered again by the next owner.
                    log.warning(
                        "%d partitions lost without a hand-over",
                        len(partitions),
                        extra={"vendor": self.name, "event": "partitions_lost"},
                    )
                    self._partitions.give_up(partitions)
                    self._publish_paused()
                case Committed(commits):
                    self._partitions.confirmed(commits)
                case CommitFailed(error):
                    self._m_commit_failures.inc()
                    log.warning(
                        "offset commit failed: %s",
                        error,
                        extra={"vendor": self.name, "event": "commit_failed"},
                    )
                case BrokerState(reachable):
                    self._broker_reachable = reachable
                    self._publish_ready()

    async def _admit(self, messages: list[Any], settlement: Settlement) -> None:
        if self._flow.draining:
            # Fetched as the drain began (the consumer was mid-fetch when told to pause): not
            # started, so never committed, and the next owner delivers it once. Started, it
            # could reach the vendor after the hand-over's last commit, and so twice.
            return
        admitted = await self._intake.take(messages, self._partitions)
        self._flow.taken(admitted.taken, admitted.size, admitted.largest)
        for record, reason in admitted.skipped:
            settlement.skipped(record, reason)
        for record, error_class, message, reason in admitted.dead:
            settlement.dead_letter(record, error_class, message, None, reason)
        for record in admitted.ready:
            self._lanes.add(record)
        assert self._consumer is not None
        self._consumer.batch_limit = min(ConsumerThread.BATCH, self._flow.room())

    def _assign(self, partitions: dict[TopicPartition, int]) -> None:
        self._partitions.assign(partitions)
        self._assigned_once = True
        self._broker_reachable = True
        self._publish_paused()
        self._publish_ready()
        log.info(
            "assigned %d partitions",
            len(partitions),
            extra={"vendor": self.name, "event": "partitions_assigned"},
        )

    async def _revoke(
        self,
        partitions: list[TopicPartition],
        done_now: concurrent.futures.Future[list[CommitRequest]],
        reply: concurrent.futures.Future[list[CommitRequest]],
    ) -> None:
        trackers = self._partitions.owned(partitions)
        self._partitions.leave(trackers)
        done_now.set_result(self._partitions.commits(trackers))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.revoke_timeout_s
        if self._drain_until is not None:
            # A rebalance while draining (a rolling restart): the records of the partitions
            # leaving still finish here first, or their next owner would deliver them again;
            # but only while the drain lasts.
            deadline = min(deadline, self._drain_until)
        await self._flow.wait_for_progress(lambda: self._partitions.unfinished(trackers), deadline)
        commits = self._partitions.commits(trackers)
        self._partitions.give_up(partitions)
        self._publish_paused()
        reply.set_result(commits)

    # -- delivery -----------------------------------------------------------------------------
    async def _work(
        self, sender: Sender, settlement: Settlement, adaptive: AdaptiveConcurrency | None
    ) -> None:
        while True:
            if adaptive is not None:
                await adaptive.wait_for_room()
            batch = await self._ready.take()
            live = []
            for record in batch:
                if record.tracker.wanted(record.offset):
                    live.append(record)
                else:
                    settlement.dropped(record)
            if live:
                settlement.sent(await sender.send(live))

    def _on_circuit(self, state: CircuitState) -> None:
        self._metrics.set_circuit(self.name, state)
        log.warning("circuit %s", state, extra={"vendor": self.name, "event": f"circuit_{state}"})
        refused = self._circuit.refused
        if refused is not self._was_refused:
            self._was_refused = refused
            self._m_refused.set(1 if refused else 0)
            if refused:
                log.error(
                    "%s refused the credentials or endpoint: pausing, committing nothing new, "
                    "probing every %ss until it works",
                    self.name,
                    self._vc.retry.credentials_probe_s,
                    extra={"vendor": self.name, "event": "credentials_refused"},
                )
            else:
                log.warning(
                    "%s takes the credentials again: resuming",
                    self.name,
                    extra={"vendor": self.name, "event": "credentials_accepted"},
                )
        self._flow.set_circuit(state)
        self._publish_ready()

    # -- commits and gauges -----------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.commit_interval_s)
            self._partitions.publish_ages()
            self._m_in_flight.set(self._flow.in_flight)
            self._m_in_flight_bytes.set(self._flow.in_flight_bytes)
            self._publish_ready()
            await self._commit()

    async def _commit(self, wait: bool = False) -> None:
        commits = self._partitions.commits()
        if commits and self._consumer is not None:
            await self._consumer.commit(commits, wait)

    def _count_dead_letter_refusal(self, kind: str) -> None:
        self._metrics.dead_letter_write_failures.labels(self.name, kind).inc()

    def _on_lag(self, topic: str, partition: int, lag: int) -> None:
        # Called on the consumer thread; prometheus-client metrics are thread-safe.
        self._metrics.consumer_lag.labels(self.name, topic, str(partition)).set(lag)

    def _set_fetching(self, fetching: bool) -> None:
        if self._consumer is not None:
            self._consumer.set_fetching(fetching)
        self._publish_paused()

    def _publish_paused(self) -> None:
        self._m_paused.set(0 if self._flow.fetching else len(self._partitions))

    def _publish_ready(self) -> None:
        self._m_ready.set(1 if self.ready else 0)
