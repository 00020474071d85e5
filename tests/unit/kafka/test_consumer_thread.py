"""The consumer thread alone, with a fake Consumer: epochs fence commits, death fails waiters."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.kafka.commands import ConsumerDiedError
from bridge.kafka.consumer import ConsumerThread
from bridge.kafka.consumer_events import (
    Assigned,
    BrokerState,
    CommitFailed,
    CommitRequest,
    Committed,
    ConsumerEvent,
    Fetched,
)

Callback = Callable[[Any, list[KafkaTopicPartition]], None]


class FakeMessage:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def offset(self) -> int:
        return self._offset


class FakeConsumer:
    """Assigns `partitions` on the first consume(); records commits; can be made to crash.

    As librdkafka does, an asynchronous commit is answered through ``on_commit`` from a later
    consume(), and while the coordinator is unreachable a synchronous commit blocks and no
    commit is answered."""

    def __init__(self, partitions: list[tuple[str, int]]) -> None:
        self._to_assign = [KafkaTopicPartition(t, p) for t, p in partitions]
        self.commits: list[list[tuple[str, int, int]]] = []
        self.crash = threading.Event()
        self.refuse_commits = 0
        self.coordinator = threading.Event()
        self.coordinator.set()
        self.fetched: list[FakeMessage] = []
        self._on_assign: Callback | None = None
        self._on_commit: Callable[[Any, list[KafkaTopicPartition]], None] | None = None
        self._answers: list[tuple[KafkaError | None, list[KafkaTopicPartition]]] = []
        self.brokers_down = threading.Event()
        self._on_error: Callable[[KafkaError], None] | None = None

    def configured(self, properties: dict[str, Any]) -> Consumer:
        self._on_commit = properties["on_commit"]
        self._on_error = properties["error_cb"]
        # The fake has the part of the consumer the thread uses; typed as the real one here.
        return cast(Consumer, self)

    def subscribe(self, topics: list[str], on_assign: Callback, **_: Any) -> None:
        self._on_assign = on_assign

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        if self.crash.is_set():
            raise RuntimeError("librdkafka went away")
        if self._to_assign and self._on_assign is not None:
            assigned, self._to_assign = self._to_assign, []
            self._on_assign(self, assigned)
        if self.brokers_down.is_set() and self._on_error is not None:
            self._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
        if self.coordinator.is_set() and self._on_commit is not None:
            answers, self._answers = self._answers, []
            for error, offsets in answers:
                self._on_commit(error, offsets)
        # As librdkafka does: return once num_messages are at hand, or when the timeout passed.
        deadline = time.monotonic() + timeout
        while len(self.fetched) < num_messages and time.monotonic() < deadline:
            time.sleep(0.005)
        taken, self.fetched = self.fetched[:num_messages], self.fetched[num_messages:]
        return taken

    def commit(self, offsets: list[KafkaTopicPartition], asynchronous: bool) -> list[Any] | None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        refused = KafkaError(KafkaError.ILLEGAL_GENERATION) if self.refuse_commits else None
        self.refuse_commits = max(0, self.refuse_commits - 1)
        if asynchronous:
            self._answers.append((refused, list(offsets)))
            return None
        self.coordinator.wait()
        if refused is not None:
            raise KafkaException(refused)
        return list(offsets)

    def assignment(self) -> list[Any]:
        return []

    def pause(self, partitions: list[Any]) -> None:
        pass

    def resume(self, partitions: list[Any]) -> None:
        pass

    def committed(self, partitions: list[Any], timeout: float) -> list[Any]:
        return [KafkaTopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]

    def get_watermark_offsets(self, tp: Any, cached: bool) -> tuple[int, int]:
        return 0, 0

    def list_topics(self, timeout: float) -> None:
        if self.brokers_down.is_set():
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    def close(self) -> None:
        pass


async def started(
    fake: FakeConsumer,
) -> tuple[ConsumerThread, asyncio.Queue[ConsumerEvent], dict[tuple[str, int], int]]:
    events: asyncio.Queue[ConsumerEvent] = asyncio.Queue()
    thread = ConsumerThread(
        {},
        ["t"],
        events,
        asyncio.get_running_loop(),
        revoke_timeout_s=1,
        consumer_factory=fake.configured,
    )
    thread.start()
    event = await asyncio.wait_for(events.get(), 5)
    assert isinstance(event, Assigned)
    return thread, events, event.partitions


async def test_a_commit_of_an_old_epoch_or_an_unassigned_partition_commits_nothing() -> None:
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    try:
        epoch = epochs[("t", 0)]
        await thread.commit([CommitRequest("t", 0, epoch - 1, 10)])
        await thread.commit([CommitRequest("t", 1, epoch, 10)])
        assert fake.commits == []
        await thread.commit([CommitRequest("t", 0, epoch, 10)])
        assert fake.commits == [[("t", 0, 10)]]
        confirmed = await asyncio.wait_for(events.get(), 5)
        assert confirmed == Committed([CommitRequest("t", 0, epoch, 10)])
    finally:
        await thread.stop()


async def test_when_the_thread_dies_a_waiting_commit_fails_and_closed_completes() -> None:
    fake = FakeConsumer([("t", 0)])
    thread, _, epochs = await started(fake)
    fake.crash.set()
    with pytest.raises(RuntimeError, match="librdkafka went away"):
        await asyncio.wait_for(asyncio.wrap_future(thread.closed), 5)
    with pytest.raises(ConsumerDiedError):
        await asyncio.wait_for(thread.commit([CommitRequest("t", 0, epochs[("t", 0)], 1)]), 5)
    assert fake.commits == []


async def test_a_commit_refused_during_a_rebalance_is_sent_again_until_it_lands() -> None:
    fake = FakeConsumer([("t", 0)])
    fake.refuse_commits = 2
    thread, events, epochs = await started(fake)
    try:
        await thread.commit([CommitRequest("t", 0, epochs[("t", 0)], 10)])
        failures = [await asyncio.wait_for(events.get(), 5) for _ in range(2)]
        assert all(isinstance(event, CommitFailed) for event in failures)
        landed = await asyncio.wait_for(events.get(), 5)
        assert landed == Committed([CommitRequest("t", 0, epochs[("t", 0)], 10)])
        assert fake.commits == [[("t", 0, 10)]] * 3
    finally:
        await thread.stop()


async def test_records_already_fetched_are_handed_over_without_waiting_for_a_full_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # consume(500, timeout) on a slow stream held every record for the whole timeout: at
    # 1,000 records/s each one waited up to POLL_TIMEOUT_S before the pipeline saw it.
    monkeypatch.setattr(ConsumerThread, "POLL_TIMEOUT_S", 1.0)
    fake = FakeConsumer([("t", 0)])
    thread, events, _ = await started(fake)
    try:
        fake.fetched = [FakeMessage(offset) for offset in range(3)]
        asked = time.monotonic()
        event = await asyncio.wait_for(events.get(), 5)
        assert isinstance(event, Fetched)
        assert [record.offset() for record in event.records] == [0, 1, 2]
        assert time.monotonic() - asked < 0.5
    finally:
        await thread.stop()


async def test_a_commit_the_coordinator_cannot_answer_yet_does_not_stop_the_polling() -> None:
    # A synchronous commit blocked the thread while the broker was down (45 s, measured on
    # Apache Kafka): no records, no broker-down event, no rebalance served meanwhile.
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    try:
        fake.coordinator.clear()
        await asyncio.wait_for(thread.commit([CommitRequest("t", 0, epochs[("t", 0)], 10)]), 5)
        fake.fetched = [FakeMessage(0)]
        event = await asyncio.wait_for(events.get(), 2)
        assert isinstance(event, Fetched)
        event.admitted.set()
        # Asked again while the first is on its way: not sent twice.
        await thread.commit([CommitRequest("t", 0, epochs[("t", 0)], 10)])
        fake.coordinator.set()
        landed = await asyncio.wait_for(events.get(), 5)
        assert landed == Committed([CommitRequest("t", 0, epochs[("t", 0)], 10)])
        assert fake.commits == [[("t", 0, 10)]]
    finally:
        fake.coordinator.set()
        await thread.stop()


async def held_until_the_coordinator_answers(
    fake: FakeConsumer,
    events: asyncio.Queue[ConsumerEvent],
    waiting: asyncio.Future[None],
    commit: CommitRequest,
) -> None:
    """`waiting` does not end while the coordinator is away; back, it ends and `commit` lands."""
    await asyncio.sleep(0.3)
    assert not waiting.done()
    fake.coordinator.set()
    await asyncio.wait_for(waiting, 5)
    assert await asyncio.wait_for(events.get(), 1) == Committed([commit])


async def test_leaving_the_group_waits_for_the_answer_to_a_commit_on_its_way() -> None:
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    fake.coordinator.clear()
    commit = CommitRequest("t", 0, epochs[("t", 0)], 10)
    await thread.commit([commit])
    await held_until_the_coordinator_answers(
        fake, events, asyncio.ensure_future(thread.stop()), commit
    )


async def test_a_consumer_thread_is_alive_from_construction_until_it_ends() -> None:
    # Not started is not dead: /healthz failed a starting pod in the gap before the start.
    fake = FakeConsumer([("t", 0)])
    events: asyncio.Queue[ConsumerEvent] = asyncio.Queue()
    thread = ConsumerThread(
        {}, ["t"], events, asyncio.get_running_loop(), 1, consumer_factory=fake.configured
    )
    assert thread.alive
    thread.start()
    await asyncio.wait_for(events.get(), 5)
    assert thread.alive
    await thread.stop()
    assert not thread.alive


async def test_a_hand_over_commit_waits_for_kafka_s_answer() -> None:
    # The shutdown's last commit: sent without waiting, a rebalance refused it unseen and the
    # next owner delivered 38 records again (CI, join/leave scenario).
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    try:
        fake.coordinator.clear()
        commit = CommitRequest("t", 0, epochs[("t", 0)], 10)
        waited = asyncio.ensure_future(thread.commit([commit], wait=True))
        await held_until_the_coordinator_answers(fake, events, waited, commit)
    finally:
        fake.coordinator.set()
        await thread.stop()


async def test_leaving_waits_as_long_as_it_is_allowed_for_a_refused_commit_to_land(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refused while the group was between generations, a shutdown's commit lands only once the
    # rebalance ends, after every member's revocation: more than HANDOVER_COMMIT_S on a slow
    # day. Left to the revocation on close, it was refused again and the next owner delivered
    # again what this member had delivered since its last landed commit.
    monkeypatch.setattr(ConsumerThread, "HANDOVER_COMMIT_S", 0.3)
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    commit = CommitRequest("t", 0, epochs[("t", 0)], 10)
    fake.refuse_commits = 6  # retried every COMMIT_RETRY_S: refused for about a second
    await thread.commit([commit])
    await asyncio.wait_for(thread.stop(handover_s=5), 10)
    answers = [events.get_nowait() for _ in range(events.qsize())]
    assert answers[-1] == Committed([commit])
    assert fake.commits == [[("t", 0, 10)]] * 7


async def test_leaving_with_every_broker_down_waits_no_longer_than_before_for_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A commit lands only if a broker comes back: the shutdown deadline's rest (20 s by
    # default) held a pod that was told to stop, for nothing.
    monkeypatch.setattr(ConsumerThread, "HANDOVER_COMMIT_S", 0.3)
    fake = FakeConsumer([("t", 0)])
    thread, events, epochs = await started(fake)
    fake.coordinator.clear()
    fake.brokers_down.set()
    while await asyncio.wait_for(events.get(), 5) != BrokerState(False):
        pass
    await thread.commit([CommitRequest("t", 0, epochs[("t", 0)], 10)])
    started_at = time.monotonic()
    await asyncio.wait_for(thread.stop(handover_s=20), 25)
    assert time.monotonic() - started_at < 3
    fake.coordinator.set()
