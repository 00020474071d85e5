"""The consumer thread across rebalances, on Apache Kafka, with plain consumers as the other
members of its group.

- librdkafka keeps a partition's pause flag after the partition is taken away: a partition
  this member paused, lost or gave up, and is later given back, stays paused unless resumed by
  name. The thread only resumed what it held when it resumed, so such a partition was never
  fetched again (seen as a stall in the production-shape test where a frozen member resumed:
  it paused everything, lost its partitions, and got some of them back).
- A commit made while the group is between generations is refused until the rebalance ends,
  and the rebalance waits for every member's revocation. Leaving, the thread waited 5 s for
  it to land, then the revocation on close sent it again, still mid-rebalance, and it was
  dropped: the next owner delivered again what the member had finished since its last commit
  (the production-shape join/leave test's duplicates, on a slow day).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, TopicPartition

from bridge.kafka.consumer import ConsumerThread
from bridge.kafka.consumer_events import (
    Assigned,
    CommitRequest,
    Committed,
    ConsumerEvent,
    Fetched,
    Lost,
    Revoked,
)
from tests.support.apache_kafka import ApacheKafka
from tests.support.kafka import committed, produce, unique, wait_for

pytestmark = pytest.mark.integration

GROUP_PROPERTIES = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
REVOKING_S = 9.0
"""A revocation longer than the 5 s the thread used to wait before leaving."""


def five_each(kafka: ApacheKafka, topic: str) -> None:
    produce(kafka, topic, [(p, None, f"v{n}".encode()) for p in (0, 1) for n in range(5)])


class Member(threading.Thread):
    """Another member of the group, polling until told to leave; its revocations take
    `revoking_s` (a member waiting for its requests in flight)."""

    def __init__(self, kafka: ApacheKafka, group: str, topic: str, revoking_s: float = 0) -> None:
        super().__init__(daemon=True)
        self._properties = {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": False,
            **GROUP_PROPERTIES,
        }
        self._topic = topic
        self._revoking_s = revoking_s
        self.holds = threading.Event()
        self._leave = threading.Event()

    def run(self) -> None:
        consumer = Consumer(self._properties)
        consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        while not self._leave.is_set():
            consumer.poll(0.1)
        consumer.close()

    def leave(self) -> None:
        """Leave the group (if it joined) and wait until it has."""
        self._leave.set()
        if self.is_alive():
            self.join(30)

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.holds.set()

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            time.sleep(self._revoking_s)


class LoopSide:
    """What the pipeline does with the thread's events, reduced to what these tests watch: the
    offsets read, the partitions held and their epochs, and the commits not yet confirmed,
    which a revocation commits as the pipeline's would."""

    def __init__(self, events: asyncio.Queue[ConsumerEvent]) -> None:
        self._events = events
        self.fetched: dict[int, set[int]] = collections.defaultdict(set)
        self.epochs: dict[int, int] = {}
        self.unconfirmed: dict[int, CommitRequest] = {}
        self.revocations = 0

    async def run(self) -> None:
        while True:
            match await self._events.get():
                case Fetched(records, admitted):
                    for record in records:
                        partition, offset = record.partition(), record.offset()
                        assert partition is not None
                        assert offset is not None
                        self.fetched[partition].add(offset)
                    admitted.set()
                case Assigned(partitions):
                    self.epochs.update({p: epoch for (_, p), epoch in partitions.items()})
                case Revoked(partitions, done_now, reply):
                    gone = {p for _, p in partitions}
                    done_now.set_result([c for p, c in self.unconfirmed.items() if p in gone])
                    reply.set_result([])
                    self._forget(gone)
                    self.revocations += 1
                case Lost(partitions):
                    self._forget({p for _, p in partitions})
                case Committed(commits):
                    for commit in commits:
                        self.unconfirmed.pop(commit.partition, None)

    def _forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.epochs.pop(partition, None)
            self.unconfirmed.pop(partition, None)


@dataclass(frozen=True)
class Group:
    topic: str
    name: str
    consumer: ConsumerThread
    side: LoopSide


@contextlib.asynccontextmanager
async def a_consumer_thread(kafka: ApacheKafka, partitions: int) -> AsyncIterator[Group]:
    """A started consumer thread alone in a new group on a new topic, its events answered."""
    topic, name = unique("rebalance"), unique("group")
    kafka.create_topics({topic: partitions})
    events: asyncio.Queue[ConsumerEvent] = asyncio.Queue()
    side = LoopSide(events)
    answering = asyncio.create_task(side.run())
    consumer = ConsumerThread(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": name,
            "auto.offset.reset": "earliest",
            **GROUP_PROPERTIES,
        },
        [topic],
        events,
        asyncio.get_running_loop(),
        revoke_timeout_s=1,
    )
    consumer.start()
    try:
        yield Group(topic, name, consumer, side)
    finally:
        await consumer.stop(abandon=True)
        answering.cancel()


async def test_a_partition_given_up_while_paused_is_fetched_when_it_comes_back(
    kafka: ApacheKafka,
) -> None:
    # Nothing is committed here: a partition that comes back is read from its start again.
    async with a_consumer_thread(kafka, 2) as group:
        side, consumer = group.side, group.consumer
        member = Member(kafka, group.name, group.topic)
        try:
            five_each(kafka, group.topic)
            first, both = set(range(5)), set(range(10))
            await wait_for(lambda: side.fetched == {0: first, 1: first}, 30, "both read")
            consumer.set_fetching(False)  # both partitions paused (a full pipeline, an outage)
            member.start()
            await wait_for(member.holds.is_set, 30, "the second member to take a partition")
            assert len(side.epochs) == 1
            consumer.set_fetching(True)  # resumes the one partition it still holds
            await asyncio.to_thread(member.leave)
            await wait_for(lambda: len(side.epochs) == 2, 30, "the given-up partition back")
            five_each(kafka, group.topic)
            await wait_for(
                lambda: side.fetched == {0: both, 1: both}, 30, "the given-back partition read"
            )
        finally:
            await asyncio.to_thread(member.leave)


async def test_a_commit_refused_mid_rebalance_lands_before_the_member_leaves(
    kafka: ApacheKafka,
) -> None:
    async with a_consumer_thread(kafka, 6) as group:
        side, consumer = group.side, group.consumer
        slow = Member(kafka, group.name, group.topic, revoking_s=REVOKING_S)
        joining = Member(kafka, group.name, group.topic)
        try:
            await wait_for(lambda: len(side.epochs) == 6, 30, "all six partitions")
            slow.start()
            await wait_for(lambda: slow.holds.is_set() and len(side.epochs) == 3, 30, "3 each")
            revoked = side.revocations
            joining.start()  # each of the two gives one partition up; the slow one takes time
            await wait_for(lambda: side.revocations > revoked, 30, "a revocation")
            # Between generations now, until the slow member's revocation ends: refused.
            partition, epoch = next(iter(side.epochs.items()))
            commit = CommitRequest(group.topic, partition, epoch, 1)
            side.unconfirmed[partition] = commit
            await consumer.commit([commit])
            await consumer.stop(handover_s=REVOKING_S + 10)  # as the pipeline gives it
            assert committed(kafka, group.name, group.topic, 6)[partition] == 1
        finally:
            await asyncio.to_thread(slow.leave)
            await asyncio.to_thread(joining.leave)
