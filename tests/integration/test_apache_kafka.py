"""The Apache Kafka fixture itself: a group commits and reads back, a restart keeps the data."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from tests.support.apache_kafka import ApacheKafka
from tests.support.kafka import value_of

pytestmark = pytest.mark.integration

GROUP_PROPERTIES = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for n in range(count):
        producer.produce(topic, value=f"v{n}".encode(), key=f"k{n}".encode(), partition=n % 2)
        producer.poll(0)
    assert producer.flush(15) == 0


def consume(consumer: Consumer, expected: int, timeout_s: float = 30) -> list[Message]:
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < expected and time.monotonic() < deadline:
        found.extend(m for m in consumer.consume(100, 0.2) if m.error() is None)
    return found


def group_consumer(bootstrap: str, group: str, **extra: object) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **GROUP_PROPERTIES,
            **extra,
        }
    )


def test_a_group_commits_and_a_new_member_resumes_from_the_commit(kafka: ApacheKafka) -> None:
    topic, group = unique("fixture"), unique("group")
    kafka.create_topics({topic: 2})
    produce(kafka.bootstrap, topic, 20, 2)

    first = group_consumer(kafka.bootstrap, group)
    try:
        first.subscribe([topic])
        assert len(consume(first, 20)) == 20
        first.commit(asynchronous=False)
    finally:
        first.close()
    produce(kafka.bootstrap, topic, 6, 2)

    second = group_consumer(kafka.bootstrap, group)
    try:
        second.subscribe([topic])
        values = sorted(value_of(m) for m in consume(second, 6))
        committed = second.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    finally:
        second.close()
    assert values == sorted(f"v{n}".encode() for n in range(6))
    assert sorted(tp.offset for tp in committed) == [10, 10]


def test_a_restart_on_the_same_data_keeps_records_and_commits(tmp_path: Path) -> None:
    topic, group = unique("restart"), unique("group")
    with ApacheKafka(workdir=tmp_path) as kafka:
        kafka.create_topics({topic: 2})
        produce(kafka.bootstrap, topic, 30, 2)
        member = group_consumer(kafka.bootstrap, group)
        try:
            member.subscribe([topic])
            assert len(consume(member, 30)) == 30
            member.commit(asynchronous=False)
        finally:
            member.close()
        port = kafka.port

        kafka.stop()
        kafka.start()

        assert kafka.port == port
        reader = group_consumer(kafka.bootstrap, group)
        try:
            marks = [
                reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in (0, 1)
            ]
            committed = reader.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        finally:
            reader.close()
    assert [high for _low, high in marks] == [15, 15]
    assert [tp.offset for tp in committed] == [15, 15]
