"""Consumer lag per partition: the partition's end offset minus the group's committed offset.

Called on the consumer thread only. The end offset is the larger of two figures:
- the high watermark cached from fetch responses: current while a partition is fetched, but
  frozen while it is not (paused by back-pressure or an open circuit, or not yet fetched since
  it came back), so alone it hides the backlog that grows while a vendor is down;
- the end offset the broker gives (ListOffsets, for every owned partition in one request, every
  `BROKER_EVERY_S`): current on Apache Kafka, one batch short on Tansu (it answers the last
  batch's base offset + 1), which the cached figure makes good while records flow.
A partition's committed offset is looked up once per assignment, here rather than in the
assign callback: a slow coordinator must cost a lag figure, never the thread (an exception
inside a rebalance callback would end it); after that, our own commits keep it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import OFFSET_END, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from bridge.kafka.consumer_events import TopicPartition

LOOKUP_TIMEOUT_S = 5.0
# Asked on the consumer thread, which waits for the answer: seldom, and briefly.
BROKER_EVERY_S = 5.0
BROKER_TIMEOUT_S = 1.0
_NOTHING_COMMITTED = -1


class Lag:
    def __init__(self, report: Callable[[str, int, int], None]) -> None:
        self._report = report
        self._committed: dict[TopicPartition, int] = {}
        self._broker_end: dict[TopicPartition, int] = {}
        self._asked_at = float("-inf")

    def committed(self, partition: TopicPartition, offset: int) -> None:
        self._committed[partition] = offset

    def forget(self, partition: TopicPartition) -> None:
        self._committed.pop(partition, None)
        self._broker_end.pop(partition, None)

    def report(self, consumer: Any, owned: Iterable[TopicPartition], broker_up: bool) -> None:
        owned = list(owned)
        self._look_up(consumer, owned)
        if broker_up:
            self._ask_broker(consumer, owned)
        for topic, partition in owned:
            try:
                low, high = consumer.get_watermark_offsets(
                    KafkaTopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            high = max(
                high if high is not None else -1, self._broker_end.get((topic, partition), -1)
            )
            committed = self._committed.get((topic, partition))
            if high < 0 or committed is None:
                continue
            if committed == _NOTHING_COMMITTED:  # the group starts from the earliest offset
                committed = max(low or 0, 0)
            self._report(topic, partition, max(0, high - committed))

    def _ask_broker(self, consumer: Any, owned: list[TopicPartition]) -> None:
        now = time.monotonic()
        if not owned or now - self._asked_at < BROKER_EVERY_S:
            return
        self._asked_at = now
        # A timestamp of OFFSET_END (-1) asks ListOffsets for the latest offset.
        asked = [KafkaTopicPartition(t, p, OFFSET_END) for t, p in owned]
        try:
            found = consumer.offsets_for_times(asked, timeout=BROKER_TIMEOUT_S)
        except KafkaException:
            return
        for tp in found:
            key = (tp.topic, tp.partition)
            if tp.error is None and tp.offset >= 0 and key in owned:
                self._broker_end[key] = tp.offset

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
