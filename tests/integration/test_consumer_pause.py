"""The consumer thread's pause state across a rebalance, on Apache Kafka.

librdkafka keeps a partition's pause flag after the partition is taken away: a partition this
member paused, lost or gave up, and is later given back, stays paused unless resumed by name.
The thread only resumes what it holds when it resumes, so such a partition was never fetched
again and its records never delivered (seen as a stall in the production-shape test where a
frozen member resumed: it paused everything, lost its partitions, and got some of them back).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from bridge.kafka.consumer import ConsumerThread
from bridge.kafka.consumer_events import Assigned, ConsumerEvent, Fetched, Lost, Revoked
from tests.support.apache_kafka import ApacheKafka

pytestmark = pytest.mark.integration

GROUP_PROPERTIES = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(count):
        producer.produce(topic, value=f"v{n}".encode(), partition=partition)
    assert producer.flush(15) == 0


class Member(threading.Thread):
    """A second member of the group, polling until told to leave."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        super().__init__(daemon=True)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "partition.assignment.strategy": "cooperative-sticky",
                "enable.auto.commit": False,
                **GROUP_PROPERTIES,
            }
        )
        self._topic = topic
        self.holds = threading.Event()
        self.leave = threading.Event()

    def run(self) -> None:
        self._consumer.subscribe([self._topic], on_assign=self._on_assign)
        while not self.leave.is_set():
            self._consumer.poll(0.1)
        self._consumer.close()

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.holds.set()


async def until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_a_partition_given_up_while_paused_is_fetched_when_it_comes_back(
    kafka: ApacheKafka,
) -> None:
    topic, group = f"pause-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    kafka.create_topics({topic: 2})
    events: asyncio.Queue[ConsumerEvent] = asyncio.Queue()
    fetched: dict[int, set[int]] = {0: set(), 1: set()}  # offsets read, per partition
    held: set[int] = set()
    consumer = ConsumerThread(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            **GROUP_PROPERTIES,
        },
        [topic],
        events,
        asyncio.get_running_loop(),
        revoke_timeout_s=1,
    )

    async def answer() -> None:
        # The loop's side: note what arrives, finish a revocation at once with nothing done
        # (nothing is committed: a partition that comes back is read from its start again).
        while True:
            match await events.get():
                case Fetched(records, admitted):
                    for record in records:
                        partition, offset = record.partition(), record.offset()
                        assert partition is not None
                        assert offset is not None
                        fetched[partition].add(offset)
                    admitted.set()
                case Assigned(partitions):
                    held.update(partition for _, partition in partitions)
                case Revoked(partitions, done_now, reply):
                    held.difference_update(partition for _, partition in partitions)
                    for future in (done_now, reply):
                        future.set_result([])
                case Lost(partitions):
                    held.difference_update(partition for _, partition in partitions)

    answering = asyncio.create_task(answer())
    member = Member(kafka.bootstrap, group, topic)
    consumer.start()
    try:
        produce(kafka.bootstrap, topic, 0, 5)
        produce(kafka.bootstrap, topic, 1, 5)
        first, both = set(range(5)), set(range(10))
        assert await until(lambda: fetched == {0: first, 1: first}, 30), fetched
        consumer.set_fetching(False)  # both partitions paused (a full pipeline, an outage)
        member.start()
        assert await until(member.holds.is_set, 30), "the second member took no partition"
        assert len(held) == 1
        consumer.set_fetching(True)  # resumes the one partition it still holds
        member.leave.set()
        await asyncio.to_thread(member.join, 15)
        assert await until(lambda: held == {0, 1}, 30), "the given-up partition did not come back"
        produce(kafka.bootstrap, topic, 0, 5)
        produce(kafka.bootstrap, topic, 1, 5)
        await until(lambda: fetched == {0: both, 1: both}, 30)
        assert fetched == {0: both, 1: both}
    finally:
        member.leave.set()
        await consumer.stop(abandon=True)
        answering.cancel()
