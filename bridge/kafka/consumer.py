"""The only module that touches confluent_kafka's Consumer.

One thread owns one Consumer: every call to it (poll, pause, resume, commit, close, the
rebalance callbacks) happens on that thread, so the event loop never blocks on librdkafka and
the consumer is never used from two threads. The loop talks to the thread with commands; the
thread talks to the loop with `ConsumerEvents` callbacks scheduled by `call_soon_threadsafe`, in
order: an assignment always reaches the loop before that partition's first records, and a
batch of records before the revocation that follows it.

Revocation (cooperative-sticky): the thread asks the loop to finish the revoked partitions'
in-flight records (bounded by revoke_timeout_s), commits what the loop reports done, and only
then returns from the callback, so the next owner starts after our last done record. Every
assignment of a partition gets a new epoch; a commit is refused unless it carries the current
epoch of a partition this consumer still owns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class CommitRequest:
    topic: str
    partition: int
    epoch: int
    offset: int


class ConsumerEvents(Protocol):
    """What the consumer thread tells the pipeline, always on the event loop's thread."""

    def on_assigned(self, partitions: dict[TopicPartition, int]) -> None: ...

    def on_records(self, records: list[Message], admitted: threading.Event) -> None:
        """Take `records` in; set `admitted` once they count against the in-flight limits."""

    def on_revoked(
        self,
        partitions: list[TopicPartition],
        reply: concurrent.futures.Future[list[CommitRequest]],
    ) -> None:
        """Finish what can be finished of `partitions`, then resolve `reply` with its commits."""

    def on_lost(self, partitions: list[TopicPartition]) -> None: ...

    def on_committed(self, commits: list[CommitRequest]) -> None: ...

    def on_commit_failed(self, error: str) -> None: ...

    def on_broker_state(self, reachable: bool) -> None: ...


class ConsumerThread:
    """Runs a Consumer on its own thread; `start()`, `request_*`, then `stop()`."""

    POLL_TIMEOUT_S = 0.1
    BATCH = 500

    def __init__(
        self,
        properties: dict[str, Any],
        topics: Sequence[str],
        events: ConsumerEvents,
        loop: asyncio.AbstractEventLoop,
        revoke_timeout_s: float,
        on_lag: Callable[[str, int, int], None] | None = None,
        name: str = "consumer",
    ) -> None:
        self._properties = {
            **properties,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "error_cb": self._on_error,
        }
        self._topics = list(topics)
        self._events = events
        self._loop = loop
        self._revoke_timeout_s = revoke_timeout_s
        self._on_lag = on_lag
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._fetching = threading.Event()
        self._fetching.set()
        # One batch at a time crosses to the loop: the next is fetched only after the loop has
        # counted the previous one, so a pause decision is never outrun by queued batches.
        self._admitted = threading.Event()
        self._admitted.set()
        self._stopping = threading.Event()
        self._abandoned = threading.Event()
        self._epochs: dict[TopicPartition, int] = {}
        self._next_epoch = 0
        self._paused = False
        self._broker_down = False
        self._committed: dict[TopicPartition, int] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._consumer: Consumer | None = None
        self._closed = concurrent.futures.Future[None]()

    # -- called from the event loop -------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def set_fetching(self, enabled: bool) -> None:
        """Pause (False) or resume (True) every assigned partition."""
        if enabled:
            self._fetching.set()
        else:
            self._fetching.clear()

    async def commit(self, commits: list[CommitRequest]) -> None:
        """Commit on the consumer thread; the outcome arrives as on_committed/on_commit_failed."""
        done = concurrent.futures.Future[None]()

        def run() -> None:
            try:
                self._commit(commits)
            finally:
                _settle(done)

        self._commands.put(run)
        await asyncio.wrap_future(done)

    async def stop(self, abandon: bool = False) -> None:
        """Leave the group and close the consumer (idempotent).

        With `abandon` (the pipeline crashed, nothing on the loop answers any more) the
        revocation on close commits nothing instead of asking the loop: safe, since whatever
        was not committed is delivered again.
        """
        if abandon:
            self._abandoned.set()
        self._stopping.set()
        if self._thread.is_alive():
            await asyncio.wrap_future(self._closed)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the consumer thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._consumer = Consumer(self._properties)
            self._consumer.subscribe(
                self._topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            last_lag = 0.0
            while not self._stopping.is_set():
                self._drain_commands()
                if not self._admitted.wait(self.POLL_TIMEOUT_S):
                    continue
                self._apply_pause()
                records = self._consumer.consume(self.BATCH, self.POLL_TIMEOUT_S)
                if records:
                    self._hand_over(records)
                now = time.monotonic()
                if now - last_lag >= 1.0:
                    last_lag = now
                    self._check_broker()
                    self._report_lag()
            self._drain_commands()
            self._consumer.close()
        except Exception:
            log.exception("consumer thread crashed", extra={"event": "consumer_crashed"})
            raise
        finally:
            _settle(self._closed)

    def _hand_over(self, records: list[Message]) -> None:
        good: list[Message] = []
        for record in records:
            error = record.error()
            if error is None:
                good.append(record)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", error.str(), extra={"event": "consume_error"})
        if good:
            self._admitted.clear()
            self._loop.call_soon_threadsafe(self._events.on_records, good, self._admitted)

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _apply_pause(self) -> None:
        assert self._consumer is not None
        want_paused = not self._fetching.is_set()
        if want_paused == self._paused:
            return
        assignment = self._consumer.assignment()
        if assignment:
            if want_paused:
                self._consumer.pause(assignment)
            else:
                self._consumer.resume(assignment)
        self._paused = want_paused

    def _commit(self, commits: Iterable[CommitRequest]) -> None:
        assert self._consumer is not None
        current = [c for c in commits if self._epochs.get((c.topic, c.partition)) == c.epoch]
        if not current:
            return
        offsets = [KafkaTopicPartition(c.topic, c.partition, c.offset) for c in current]
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._loop.call_soon_threadsafe(self._events.on_commit_failed, str(exc.args[0]))
            return
        failed = {(tp.topic, tp.partition) for tp in result or [] if tp.error is not None}
        confirmed = [c for c in current if (c.topic, c.partition) not in failed]
        for c in confirmed:
            self._committed[(c.topic, c.partition)] = c.offset
        if failed:
            self._loop.call_soon_threadsafe(
                self._events.on_commit_failed, f"{len(failed)} partitions refused the commit"
            )
        if confirmed:
            self._loop.call_soon_threadsafe(self._events.on_committed, confirmed)

    def _check_broker(self) -> None:
        # After "all brokers down" nothing else says the broker is back while no record flows.
        assert self._consumer is not None
        if not self._broker_down:
            return
        try:
            self._consumer.list_topics(timeout=1)
        except KafkaException:
            return
        self._broker_down = False
        self._loop.call_soon_threadsafe(self._events.on_broker_state, True)

    def _report_lag(self) -> None:
        # The high watermark cached from fetch responses is right on every broker (a ListOffsets
        # request is not: Tansu answers the last batch's base offset + 1).
        assert self._consumer is not None
        if self._on_lag is None:
            return
        for topic, partition in list(self._epochs):
            try:
                low, high = self._consumer.get_watermark_offsets(
                    KafkaTopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high is None or high < 0:
                continue
            # Nothing committed yet: the group starts from the earliest offset.
            committed = self._committed.get((topic, partition), max(low or 0, 0))
            self._on_lag(topic, partition, max(0, high - committed))

    # -- rebalance callbacks (inside consume(), on this thread) ----------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        assigned: dict[TopicPartition, int] = {}
        for tp in partitions:
            self._next_epoch += 1
            key = (tp.topic, tp.partition)
            self._epochs[key] = self._next_epoch
            assigned[key] = self._next_epoch
        if partitions:
            for tp in consumer.committed(partitions, timeout=10):
                if tp.offset != OFFSET_INVALID and tp.offset >= 0:
                    self._committed[(tp.topic, tp.partition)] = tp.offset
        self._loop.call_soon_threadsafe(self._events.on_assigned, assigned)
        if partitions and self._paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        if keys and not self._abandoned.is_set():
            reply = concurrent.futures.Future[list[CommitRequest]]()
            self._loop.call_soon_threadsafe(self._events.on_revoked, keys, reply)
            try:
                commits = reply.result(timeout=self._revoke_timeout_s + 5)
            except concurrent.futures.TimeoutError:
                log.error("revocation was not answered in time; committing nothing")
                commits = []
            self._commit(commits)
        self._forget(keys)

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._forget(keys)
        self._loop.call_soon_threadsafe(self._events.on_lost, keys)

    def _forget(self, keys: list[TopicPartition]) -> None:
        for key in keys:
            self._epochs.pop(key, None)
            self._committed.pop(key, None)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._broker_down = True
            self._loop.call_soon_threadsafe(self._events.on_broker_state, False)
        else:
            log.warning("kafka: %s", error.str(), extra={"event": "kafka_error"})


def _settle(future: concurrent.futures.Future[None]) -> None:
    # The awaiting side may have been cancelled (a shutdown deadline); that is not an error here.
    if not future.done():
        future.set_result(None)
