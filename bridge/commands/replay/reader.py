"""Reading a vendor's dead-letter topic, with the replay group's progress.

Progress: the consumer group ``<group_prefix>.replay.<vendor>`` on the dead-letter topic. Its
offset is committed after each batch is settled (every letter before it: replayed, refused
again, skipped, or passed over as not selected), so an interrupted replay resumes where it
stopped. A run reads up to the end offsets it found at its start: the letters it writes itself
(refused again) come after that and wait for the next run, so a replay never loops.

Before sending, a run reads the same range once for markers and ``bridge.replay.of`` headers:
a letter already replayed or superseded is never sent again, even when the commit after it was
lost (a crash between the marker and the commit). ``--from-beginning`` reads from the start of
the topic instead of the group's offset: letters an earlier run passed over (not selected then)
become selectable, and letters already replayed or superseded are still recognised by their
markers and never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, TopicPartition

from bridge.commands.replay.letters import Letter
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.kafka.offsets import commit_metadata

READ_BATCH = 500


READ_TIMEOUT_S = 0.5


def replay_group(config: Config, vendor: str) -> str:
    return f"{config.kafka.group_prefix}.replay.{vendor}"


class DeadLetterReader:
    """Reads one vendor's dead-letter topic from the group's offsets (or the start) to the end
    offsets found when it opened; commits the group's offsets."""

    def __init__(self, config: Config, vendor: str, from_beginning: bool) -> None:
        self.topic = config.dead_letter.topic_for(vendor)
        self.group = replay_group(config, vendor)
        self._consumer = Consumer(
            {
                **config.kafka.client_properties(),
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
            }
        )
        metadata = self._consumer.list_topics(self.topic, timeout=15).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            self._consumer.close()
            raise ConfigError(f"dead-letter topic {self.topic}: not found")
        partitions = sorted(metadata.partitions)
        self.ends: dict[int, int] = {}
        self.starts: dict[int, int] = {}
        committed = (
            {}
            if from_beginning
            else {
                tp.partition: tp.offset
                for tp in self._consumer.committed(
                    [TopicPartition(self.topic, p) for p in partitions], timeout=15
                )
            }
        )
        for partition in partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=15
            )
            self.ends[partition] = high
            start = committed.get(partition, -1)
            self.starts[partition] = max(low, start) if start >= 0 else low

    @property
    def total(self) -> int:
        return sum(max(0, self.ends[p] - self.starts[p]) for p in self.ends)

    async def read(self) -> Any:
        """Every record from the starts to the ends, in offset order per partition."""
        wanted = {p for p in self.ends if self.starts[p] < self.ends[p]}
        if not wanted:
            return
        self._consumer.assign([TopicPartition(self.topic, p, self.starts[p]) for p in wanted])
        try:
            while wanted:
                messages = await asyncio.to_thread(
                    self._consumer.consume, READ_BATCH, READ_TIMEOUT_S
                )
                for message in messages:
                    if message.error() is not None:
                        continue
                    partition = cast(int, message.partition())
                    offset = cast(int, message.offset())
                    if partition not in wanted or offset >= self.ends[partition]:
                        continue
                    yield Letter.from_message(message)
                    if offset + 1 >= self.ends[partition]:
                        wanted.discard(partition)
                for partition in list(wanted):
                    # A partition whose last records were deleted (retention) ends early.
                    position = self._consumer.position([TopicPartition(self.topic, partition)])
                    low, _ = self._consumer.get_watermark_offsets(
                        TopicPartition(self.topic, partition), cached=True
                    )
                    if position[0].offset >= self.ends[partition] or low >= self.ends[partition]:
                        wanted.discard(partition)
        finally:
            with contextlib.suppress(KafkaException, RuntimeError):
                self._consumer.unassign()

    async def commit(self, positions: dict[int, int]) -> None:
        if not positions:
            return
        metadata = commit_metadata()
        offsets = [
            TopicPartition(self.topic, partition, offset, metadata=metadata)
            for partition, offset in positions.items()
        ]
        await asyncio.to_thread(self._consumer.commit, offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()


async def settled_letters(reader: DeadLetterReader, vendor: str) -> set[str]:
    """The letters of `vendor` (``partition:offset``) that markers or replacements settle."""
    settled: set[str] = set()
    async for letter in reader.read():
        if letter.vendor == vendor:
            ref = letter.settles()
            if ref:
                settled.add(ref)
    return settled
