"""The partitions a pipeline owns, each with the offset tracker of its current assignment.

A commit stores, per partition, the offset after its highest contiguous done record
(`bridge.kafka.offsets`). Commits carry the assignment epoch, and a partition that is revoked
or lost is fenced at once: a late acknowledgement or an old commit can never move its offset.
Kafka's confirmation of a commit is recorded only for the assignment it was made for.
"""

from __future__ import annotations

import contextlib
import time

from bridge.kafka.consumer_events import CommitRequest, TopicPartition
from bridge.kafka.offsets import PartitionOffsets
from bridge.metrics import Metrics


class Partitions:
    def __init__(self, vendor: str, metrics: Metrics) -> None:
        self._vendor = vendor
        self._metrics = metrics
        self._trackers: dict[TopicPartition, PartitionOffsets] = {}

    def __len__(self) -> int:
        return len(self._trackers)

    def get(self, topic: str, partition: int) -> PartitionOffsets | None:
        return self._trackers.get((topic, partition))

    def assign(self, partitions: dict[TopicPartition, int]) -> None:
        for (topic, partition), epoch in partitions.items():
            self._trackers[(topic, partition)] = PartitionOffsets(topic, partition, epoch)

    def owned(self, partitions: list[TopicPartition]) -> list[PartitionOffsets]:
        return [t for tp in partitions if (t := self._trackers.get(tp)) is not None]

    def give_up(self, partitions: list[TopicPartition]) -> None:
        """Revoked or lost: fence their trackers and drop their gauges (the new owner's now)."""
        for tp in partitions:
            tracker = self._trackers.pop(tp, None)
            if tracker is not None:
                tracker.fenced = True
            labels = (self._vendor, tp[0], str(tp[1]))
            for gauge in (
                self._metrics.oldest_unacked_age,
                self._metrics.consumer_lag,
                self._metrics.committed_offset,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)

    def commits(self, trackers: list[PartitionOffsets] | None = None) -> list[CommitRequest]:
        """What to commit now: each partition whose done prefix moved past its last commit."""
        return [
            CommitRequest(t.topic, t.partition, t.epoch, offset)
            for t in (self._trackers.values() if trackers is None else trackers)
            if (offset := t.to_commit()) is not None
        ]

    def confirmed(self, commits: list[CommitRequest]) -> None:
        """Kafka stored these commits; only those of a current assignment count."""
        for commit in commits:
            tracker = self._trackers.get((commit.topic, commit.partition))
            if tracker is None or tracker.epoch != commit.epoch:
                continue  # lost or reassigned since: the gauge is no longer ours to set
            tracker.committed = max(tracker.committed or 0, commit.offset)
            self._metrics.committed_offset.labels(
                self._vendor, commit.topic, str(commit.partition)
            ).set(commit.offset)

    def leave(self, trackers: list[PartitionOffsets] | None = None) -> None:
        """Hand these partitions (all, by default) over: from now on only a record that closes
        a gap is sent; the rest is left to the next owner."""
        for tracker in self._trackers.values() if trackers is None else trackers:
            tracker.leaving = True

    def unfinished(self, trackers: list[PartitionOffsets]) -> bool:
        return any(t.unfinished for t in trackers)

    def publish_ages(self) -> None:
        now = time.monotonic()
        for (topic, partition), tracker in self._trackers.items():
            since = tracker.oldest_pending_since()
            self._metrics.oldest_unacked_age.labels(self._vendor, topic, str(partition)).set(
                0 if since is None else now - since
            )
