"""The only module that touches confluent_kafka's Consumer (its pause flags: `.pausing`).

One thread owns one Consumer: every call to it (poll, pause, resume, commit, close, the
rebalance callbacks) happens on that thread, so the event loop never blocks on librdkafka and
the consumer is never used from two threads. The loop talks to the thread with commands; the
thread talks to the loop with typed events (`ConsumerEvent`) put on an asyncio queue, in
order: an assignment always reaches the loop before that partition's first records, and a
batch of records before the revocation that follows it.

One batch at a time crosses to the loop, of at most `batch_limit` records (the pipeline sets it
to the room left under its in-flight limit, so that limit holds exactly). While the loop is
still taking a batch in for longer than `HOLD_AFTER_S` (a schema registry that is down), the
thread keeps serving the group (rebalances, ``max.poll.interval.ms``) with every partition
paused, and rewinds whatever it fetched meanwhile: the thread never stops polling.

Commits are asynchronous, answered through the same polling (`bridge.kafka.commits`: why, and
how they stay in order). One that Kafka refuses (a rebalance, a coordinator moving) is sent
again every `COMMIT_RETRY_S`; before leaving the group the thread polls (partitions paused)
until every commit landed, or the next owner would redeliver: for as long as `stop()` allows
(the pipeline gives it what is left of its shutdown deadline), `HANDOVER_COMMIT_S` by default.
A commit made while the group is between generations is refused until the rebalance ends,
and the rebalance waits for every member's revocation, each up to `revoke_timeout_s`.

If the thread dies, every command waiting on it fails at once and `closed` completes, so the
pipeline fails loudly instead of waiting for a commit that will never come.

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
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.kafka.clientlog import client_logger
from bridge.kafka.commands import Command, ConsumerDiedError, settle
from bridge.kafka.commits import CommitBook
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
from bridge.kafka.lag import Lag
from bridge.kafka.offsets import commit_metadata
from bridge.kafka.pausing import Pausing

log = logging.getLogger(__name__)

REFUSED = "%d partitions refused the commit"


class ConsumerThread:
    """Runs a Consumer on its own thread; `start()`, `commit()`/`set_fetching()`, `stop()`."""

    POLL_TIMEOUT_S = 0.1
    BATCH = 500
    HOLD_AFTER_S = 1.0
    COMMIT_RETRY_S = 0.2
    HANDOVER_COMMIT_S = 5.0

    def __init__(
        self,
        properties: dict[str, Any],
        topics: Sequence[str],
        events: asyncio.Queue[ConsumerEvent],
        loop: asyncio.AbstractEventLoop,
        revoke_timeout_s: float,
        on_lag: Callable[[str, int, int], None] | None = None,
        name: str = "consumer",
        consumer_factory: Callable[[dict[str, Any]], Consumer] = Consumer,
    ) -> None:
        self._properties = {
            **properties,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
            "logger": client_logger(),
        }
        self._topics = list(topics)
        self._events = events
        self._loop = loop
        self._revoke_timeout_s = revoke_timeout_s
        self._lag = Lag(on_lag) if on_lag is not None else None
        self._consumer_factory = consumer_factory
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.batch_limit = self.BATCH
        """Records one fetch may take; the loop lowers it near the in-flight limit."""
        self._handed_at = 0.0
        self._commits = CommitBook()
        self._last_commit_retry = 0.0
        self._pausing = Pausing()
        # One batch at a time crosses to the loop: the next is fetched only after the loop has
        # counted the previous one, so a pause decision is never outrun by queued batches.
        self._admitted = threading.Event()
        self._admitted.set()
        self._stopping = threading.Event()
        self._handover_s = self.HANDOVER_COMMIT_S
        self._abandoned = threading.Event()
        self._epochs: dict[TopicPartition, int] = {}
        self._next_epoch = 0
        self._broker_down = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._consumer: Consumer | None = None
        self.closed = concurrent.futures.Future[None]()
        """Completes when the thread ends: after `stop()`, or with the error that ended it."""

    # -- called from the event loop -------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def set_fetching(self, enabled: bool) -> None:
        """Pause (False) or resume (True) every assigned partition."""
        self._pausing.set_fetching(enabled)

    async def commit(self, commits: list[CommitRequest], wait: bool = False) -> None:
        """Send from the consumer thread (with `wait`, until Kafka answered); the outcome comes
        as Committed or CommitFailed. `ConsumerDiedError` if the thread is or goes away."""
        command = Command(lambda: self._commit(commits, wait))
        if not self._thread.is_alive() and self._thread.ident is not None:
            raise ConsumerDiedError("the consumer thread is not running")
        self._commands.put(command)
        if self.closed.done():  # died between the check and the put: nothing will run it
            self._fail_commands()
        await asyncio.wrap_future(command.done)

    async def stop(self, abandon: bool = False, handover_s: float | None = None) -> None:
        """Leave the group and close the consumer (idempotent).

        Before leaving, wait up to `handover_s` (default `HANDOVER_COMMIT_S`) for commits on
        their way or refused to land. With `abandon` (the pipeline crashed, nothing on the
        loop answers any more) the revocation on close commits nothing instead of asking the
        loop: safe, since whatever was not committed is delivered again.
        """
        if handover_s is not None:
            self._handover_s = handover_s
        if abandon:
            self._abandoned.set()
        self._stopping.set()
        if self._thread.is_alive():
            await self.wait_closed()

    async def wait_closed(self) -> None:
        """Until the thread ends; being cancelled here never cancels `closed` for others."""
        await asyncio.shield(asyncio.wrap_future(self.closed))

    @property
    def alive(self) -> bool:
        """Not ended: a thread not started yet is not dead (a starting pod is live)."""
        return not self.closed.done()

    # -- the consumer thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._consumer = self._consumer_factory(self._properties)
            self._consumer.subscribe(
                self._topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            last_lag = 0.0
            while not self._stopping.is_set():
                self._drain_commands()
                if self._admitted.wait(self.POLL_TIMEOUT_S):
                    self._fetch()
                elif time.monotonic() - self._handed_at >= self.HOLD_AFTER_S:
                    self._hold()
                now = time.monotonic()
                self._retry_commits(now)
                if now - last_lag >= 1.0:
                    last_lag = now
                    self._check_broker()
                    if self._lag is not None:
                        self._lag.report(self._consumer, list(self._epochs), not self._broker_down)
            self._drain_commands()
            self._settle_before_leaving()
            self._consumer.close()
        except Exception as exc:
            log.exception("consumer thread crashed", extra={"event": "consumer_crashed"})
            self.closed.set_exception(exc)  # the pipeline watching `closed` fails with it
        finally:
            settle(self.closed)
            self._fail_commands()

    def _fetch(self) -> None:
        assert self._consumer is not None
        self._pausing.hold(self._consumer, False)
        # consume(n, timeout) returns once it has n records or the timeout passed: on a slow
        # stream it would hold every record for the whole timeout. Wait for the first record
        # only, then take what else is fetched already.
        records = self._consumer.consume(1, self.POLL_TIMEOUT_S)
        if records and self.batch_limit > 1:
            records += self._consumer.consume(self.batch_limit - 1, 0)
        if records:
            self._hand_over(records)

    def _hold(self) -> None:
        """Serve the group while the loop is busy: everything paused, fetched records rewound."""
        assert self._consumer is not None
        self._pausing.hold(self._consumer, True)
        first: dict[tuple[Any, Any], Any] = {}
        for record in self._consumer.consume(self.BATCH, self.POLL_TIMEOUT_S):
            if record.error() is None:
                first.setdefault((record.topic(), record.partition()), record.offset())
        for (topic, partition), offset in first.items():
            if (topic, partition) in self._epochs:  # a partition revoked meanwhile has no seek
                self._consumer.seek(KafkaTopicPartition(topic, partition, offset))

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
            self._handed_at = time.monotonic()
            self._emit(Fetched(good, self._admitted))

    def _emit(self, event: ConsumerEvent) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.run()

    def _fail_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.fail()

    def _commit(self, commits: Iterable[CommitRequest], wait: bool = False) -> None:
        """Send the commits of current assignments; with `wait`, block until Kafka answers."""
        assert self._consumer is not None
        current = [c for c in commits if self._epochs.get((c.topic, c.partition)) == c.epoch]
        if not wait:
            current = self._commits.not_on_their_way(current)
        if not current:
            return
        metadata = commit_metadata()
        offsets = [
            KafkaTopicPartition(c.topic, c.partition, c.offset, metadata=metadata) for c in current
        ]
        try:
            if not wait:
                self._consumer.commit(offsets=offsets, asynchronous=True)
                self._commits.sent(current)
                return
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._settle(current, {(c.topic, c.partition) for c in current}, str(exc.args[0]))
            return
        refused = {(tp.topic, tp.partition) for tp in result or [] if tp.error is not None}
        self._settle(current, refused, REFUSED % len(refused))

    def _on_commit(self, error: KafkaError | None, partitions: list[KafkaTopicPartition]) -> None:
        answers = (((tp.topic, tp.partition), tp.offset, error or tp.error) for tp in partitions)
        answered, refused = self._commits.answered(answers)
        self._settle(answered, refused, error.str() if error else REFUSED % len(refused))

    def _settle(self, commits: list[CommitRequest], refused: set[TopicPartition], why: str) -> None:
        confirmed = [c for c in commits if (c.topic, c.partition) not in refused]
        self._commits.landed(confirmed)
        if self._lag is not None:
            for c in confirmed:
                self._lag.committed((c.topic, c.partition), c.offset)
        if refused:
            # Refused in a rebalance (ILLEGAL_GENERATION...): sent again in the new generation.
            self._emit(CommitFailed(why))
            self._commits.refused(c for c in commits if (c.topic, c.partition) in refused)
        if confirmed:
            self._emit(Committed(confirmed))

    def _retry_commits(self, now: float) -> None:
        if now - self._last_commit_retry >= self.COMMIT_RETRY_S:
            self._last_commit_retry = now
            self._commit(self._commits.take_held())

    def _settle_before_leaving(self) -> None:
        """Poll (partitions paused) until held commits land, for up to `_handover_s`; with
        every broker down, up to `HANDOVER_COMMIT_S`: a commit then lands only if a broker
        comes back, and the rest of the deadline would hold the pod for nothing."""
        assert self._consumer is not None
        start = time.monotonic()
        while self._commits.busy and not self._abandoned.is_set():
            waited = time.monotonic() - start
            if waited >= self._handover_s or (
                self._broker_down and waited >= self.HANDOVER_COMMIT_S
            ):
                break
            self._pausing.hold(self._consumer, True)
            self._consumer.consume(self.BATCH, self.POLL_TIMEOUT_S)  # serves the rejoin
            self._retry_commits(time.monotonic())

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
        self._emit(BrokerState(True))

    # -- rebalance callbacks (inside consume(), on this thread) ----------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        assigned: dict[TopicPartition, int] = {}
        for tp in partitions:
            self._next_epoch += 1
            key = (tp.topic, tp.partition)
            self._epochs[key] = self._next_epoch
            assigned[key] = self._next_epoch
        self._emit(Assigned(assigned))
        self._pausing.assigned(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        if keys and not self._abandoned.is_set():
            done_now = concurrent.futures.Future[list[CommitRequest]]()
            reply = concurrent.futures.Future[list[CommitRequest]]()
            self._emit(Revoked(keys, done_now, reply))
            # Not retried here: while this callback runs the member cannot rejoin, so a commit
            # refused for a stale generation would only hold the whole group's rebalance up.
            # What is done already goes first: the longer the wait for the rest, the likelier
            # another member's join has moved the generation on.
            self._commit(self._await_reply(done_now), wait=True)
            self._commit(self._await_reply(reply), wait=True)
        self._forget(keys)

    def _await_reply(
        self, reply: concurrent.futures.Future[list[CommitRequest]]
    ) -> list[CommitRequest]:
        deadline = time.monotonic() + self._revoke_timeout_s + 5
        while time.monotonic() < deadline and not self._abandoned.is_set():
            try:
                return reply.result(timeout=self.POLL_TIMEOUT_S)
            except concurrent.futures.TimeoutError:
                continue
        if not self._abandoned.is_set():
            log.error("revocation was not answered in time; committing nothing")
        return []

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._forget(keys)
        self._emit(Lost(keys))

    def _forget(self, keys: list[TopicPartition]) -> None:
        for key in keys:
            self._epochs.pop(key, None)
            if self._lag is not None:
                self._lag.forget(key)
            self._commits.forget(key)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._broker_down = True
            self._emit(BrokerState(False))
        else:
            log.warning("kafka: %s", error.str(), extra={"event": "kafka_error"})
