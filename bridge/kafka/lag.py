"""Consumer lag per partition: high watermark minus the group's committed offset.

Called on the consumer thread only. The high watermark is the one cached from fetch responses,
right on every broker (a ListOffsets request is not: Tansu answers the last batch's base
offset + 1). A partition's committed offset is looked up once per assignment, here rather than
in the assign callback: a slow coordinator must cost a lag figure, never the thread (an
exception inside a rebalance callback would end it); after that, our own commits keep it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.kafka.consumer_events import TopicPartition

LOOKUP_TIMEOUT_S = 5.0
_NOTHING_COMMITTED = -1


class Lag:
    def __init__(self, report: Callable[[str, int, int], None]) -> None:
        self._report = report
        self._committed: dict[TopicPartition, int] = {}

    def committed(self, partition: TopicPartition, offset: int) -> None:
        self._committed[partition] = offset

    def forget(self, partition: TopicPartition) -> None:
        self._committed.pop(partition, None)

    def report(self, consumer: Any, owned: Iterable[TopicPartition]) -> None:
        owned = list(owned)
        self._look_up(consumer, owned)
        for topic, partition in owned:
            try:
                low, high = consumer.get_watermark_offsets(
                    KafkaTopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            committed = self._committed.get((topic, partition))
            if high is None or high < 0 or committed is None:
                continue
            if committed == _NOTHING_COMMITTED:  # the group starts from the earliest offset
                committed = max(low or 0, 0)
            self._report(topic, partition, max(0, high - committed))

    def _look_up(self, consumer: Any, owned: list[TopicPartition]) -> None:
        unknown = [KafkaTopicPartition(t, p) for t, p in owned if (t, p) not in self._committed]
        if not unknown:
            return
        try:
            found = consumer.committed(unknown, timeout=LOOKUP_TIMEOUT_S)
        except KafkaException:
            return
        for tp in found:
            key = (tp.topic, tp.partition)
            if key in owned:
                self._committed[key] = tp.offset if tp.offset >= 0 else _NOTHING_COMMITTED
