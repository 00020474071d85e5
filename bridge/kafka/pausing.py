"""Whether a consumer's partitions are paused, kept in step with librdkafka's own flags.

Two parties pause fetching: the event loop (in-flight limits, an open circuit, a drain:
`set_fetching`, the one call from another thread) and the consumer thread itself (`hold`,
serving the group while the loop is busy, or while leaving). The consumer thread applies the
flags to the whole assignment whenever the wanted state changes.

librdkafka keeps a partition's pause flag after the partition is taken away, so a partition
paused, then lost or given up, and given back later would stay paused, never fetched again,
while the thread takes it for fetching. `assigned` therefore sets each newly assigned
partition's state by name, whichever it is.
"""

from __future__ import annotations

import threading

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition


class Pausing:
    def __init__(self) -> None:
        self._fetching = threading.Event()
        self._fetching.set()
        self._paused = False

    def set_fetching(self, enabled: bool) -> None:
        """The loop's wish: fetch (True) or pause (False)."""
        (self._fetching.set if enabled else self._fetching.clear)()

    def hold(self, consumer: Consumer, held: bool) -> None:
        """The thread's own wish (held: pause), then the assignment paused or resumed if the
        wanted state changed."""
        wanted = held or not self._fetching.is_set()
        if wanted == self._paused:
            return
        assignment = consumer.assignment()
        if assignment:
            (consumer.pause if wanted else consumer.resume)(assignment)
        self._paused = wanted

    def assigned(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        """Newly assigned partitions take the current state, by name."""
        if partitions:
            (consumer.pause if self._paused else consumer.resume)(partitions)
