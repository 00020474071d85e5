"""Reading a vendor's figures from Kafka.

Sources, all read-only (nothing joins a group or commits):
- committed offsets: `AdminClient.list_consumer_group_offsets`;
- end offsets: `AdminClient.list_offsets` (latest), lag = end - committed (the whole partition
  when nothing is committed: a new group starts at the earliest offset);
- time of the last commit: Kafka's offset fetch returns no commit time, so it is read from the
  commit's metadata when the committer wrote ``bridge.committed_at=<epoch ms>`` there (`bridge
  replay` does); otherwise it is shown as unknown;
- members: `AdminClient.describe_consumer_groups`;
- dead letters: the dead-letter topic from `offsets_for_times(now - 1h)` to its end, counted by
  ``bridge.vendor`` and ``bridge.error.class`` (replay markers are not letters).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from typing import cast

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from bridge.commands.replay.letters import Letter
from bridge.commands.status.report import Member, PartitionStatus
from bridge.config import Config
from bridge.kafka.offsets import committed_at

TIMEOUT_S = 15.0


DEAD_LETTER_WINDOW_S = 3600.0


_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]


_EARLIEST = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


def topic_partitions(
    admin: AdminClient, topics: list[str]
) -> tuple[list[TopicPartition], list[str]]:
    """The partitions of the topics (a ``^pattern`` stands for every topic it matches), and
    the topics (or patterns) the broker has nothing for."""
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    found: list[TopicPartition] = []
    missing = []
    for name in topics:
        if name.startswith("^"):
            pattern = re.compile(name)
            matched = sorted(t for t in metadata.topics if pattern.match(t))
        else:
            matched = [name]
        present = [t for t in matched if t in metadata.topics and metadata.topics[t].error is None]
        if not present:
            missing.append(name)
        for topic in present:
            found.extend(
                TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)
            )
    return found, missing


def partition_statuses(
    admin: AdminClient, group: str, partitions: list[TopicPartition], now: float
) -> list[PartitionStatus]:
    if not partitions:
        return []
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    answer = admin.list_consumer_group_offsets(request, request_timeout=TIMEOUT_S)
    offsets = answer[group].result(timeout=TIMEOUT_S)
    committed = {(tp.topic, tp.partition): tp for tp in offsets.topic_partitions}
    ends_futures = admin.list_offsets({tp: _LATEST for tp in partitions}, request_timeout=TIMEOUT_S)
    ends = {
        (tp.topic, tp.partition): future.result(timeout=TIMEOUT_S).offset
        for tp, future in ends_futures.items()
    }
    starts_futures = admin.list_offsets(
        {tp: _EARLIEST for tp in partitions}, request_timeout=TIMEOUT_S
    )
    starts = {
        (tp.topic, tp.partition): future.result(timeout=TIMEOUT_S).offset
        for tp, future in starts_futures.items()
    }
    rows = []
    for tp in partitions:
        key = (tp.topic, tp.partition)
        mine = committed.get(key)
        offset = mine.offset if mine is not None and mine.offset >= 0 else None
        end = ends[key]
        lag = end - (offset if offset is not None else starts[key])
        when = committed_at(mine.metadata if mine is not None else None)
        rows.append(
            PartitionStatus(
                topic=tp.topic,
                partition=tp.partition,
                committed=offset,
                end=end,
                lag=max(0, lag),
                last_commit_age_s=None if when is None else max(0.0, now - when),
            )
        )
    return rows


def describe_groups(admin: AdminClient, groups: list[str]) -> dict[str, tuple[str, list[Member]]]:
    described: dict[str, tuple[str, list[Member]]] = {}
    for group, future in admin.describe_consumer_groups(groups, request_timeout=TIMEOUT_S).items():
        try:
            description = future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            described[group] = (f"error: {exc.args[0].str()}", [])
            continue
        members = [
            Member(
                client_id=member.client_id,
                host=member.host,
                partitions=sorted(
                    f"{tp.topic}[{tp.partition}]"
                    for tp in (member.assignment.topic_partitions if member.assignment else [])
                ),
            )
            for member in description.members
        ]
        state = getattr(description.state, "name", str(description.state)).lower()
        # Kafka calls a group that does not exist "dead": it is created when a member joins.
        described[group] = ("not created yet" if state == "dead" else state, members)
    return described


def recent_dead_letters(config: Config, vendors: list[str], now: float) -> dict[str, Counter[str]]:
    """Dead letters written in the last hour, by vendor and error class."""
    topics = sorted({config.dead_letter.topic_for(name) for name in vendors})
    counts: dict[str, Counter[str]] = {}
    consumer = Consumer(
        {
            **config.kafka.client_properties(),
            "group.id": f"bridge-status-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
            if meta is None or meta.error is not None:
                continue  # no dead-letter topic yet: no dead letters
            since = int((now - DEAD_LETTER_WINDOW_S) * 1000)
            wanted = [TopicPartition(topic, p, since) for p in sorted(meta.partitions)]
            starts = consumer.offsets_for_times(wanted, timeout=TIMEOUT_S)
            ends = {
                p.partition: consumer.get_watermark_offsets(p, timeout=TIMEOUT_S)[1] for p in wanted
            }
            assign = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
            if not assign:
                continue
            consumer.assign(assign)
            remaining = {tp.partition for tp in assign}
            deadline = time.monotonic() + 60
            while remaining and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        continue
                    partition, offset = cast(int, message.partition()), cast(int, message.offset())
                    if offset + 1 >= ends[partition]:
                        remaining.discard(partition)
                    if offset >= ends[partition]:
                        continue
                    letter = Letter.from_message(message)
                    if letter.is_letter and letter.vendor in vendors:
                        counts.setdefault(letter.vendor, Counter())[letter.error_class] += 1
            consumer.unassign()
    finally:
        consumer.close()
    return counts
