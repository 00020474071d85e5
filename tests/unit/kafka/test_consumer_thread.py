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
    """Assigns `partitions` on the first consume(); records commits; can be made to crash."""

    def __init__(self, partitions: list[tuple[str, int]]) -> None:
        self._to_assign = [KafkaTopicPartition(t, p) for t, p in partitions]
        self.commits: list[list[tuple[str, int, int]]] = []
        self.crash = threading.Event()
        self.refuse_commits = 0
        self.fetched: list[FakeMessage] = []
        self._on_assign: Callback | None = None

    def subscribe(self, topics: list[str], on_assign: Callback, **_: Any) -> None:
        self._on_assign = on_assign

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        if self.crash.is_set():
            raise RuntimeError("librdkafka went away")
        if self._to_assign and self._on_assign is not None:
            assigned, self._to_assign = self._to_assign, []
            self._on_assign(self, assigned)
        # As librdkafka does: return once num_messages are at hand, or when the timeout passed.
        deadline = time.monotonic() + timeout
        while len(self.fetched) < num_messages and time.monotonic() < deadline:
            time.sleep(0.005)
        taken, self.fetched = self.fetched[:num_messages], self.fetched[num_messages:]
        return taken

    def commit(self, offsets: list[KafkaTopicPartition], asynchronous: bool) -> list[Any]:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        if self.refuse_commits:
            self.refuse_commits -= 1
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))
        return list(offsets)

    def assignment(self) -> list[Any]:
        return []

    def committed(self, partitions: list[Any], timeout: float) -> list[Any]:
        return [KafkaTopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]

    def get_watermark_offsets(self, tp: Any, cached: bool) -> tuple[int, int]:
        return 0, 0

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
        # The fake has the part of the consumer the thread uses; typed as the real one here.
        consumer_factory=lambda properties: cast(Consumer, fake),
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
