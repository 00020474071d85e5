"""Offset tracking for one assigned partition: acknowledge out of order, commit only contiguous.

Records of a partition are consumed in offset order but finish in any order (concurrency,
retries, batching). The committable position is the offset after the longest run of done
records from the start: the first record that is not done is a gap, and nothing past a gap is
committed, so a crash redelivers every record that was not finished (design reference:
Confluent Parallel Consumer's offset map, faust's consumer docstring).

Each assignment of a partition gets a new tracker carrying the assignment epoch. When the
partition is revoked the tracker is fenced: a late acknowledgement for a record of an earlier
assignment then changes nothing, and a commit carries the epoch so the consumer thread can
refuse one for an assignment that has ended.

A partition that is `leaving` (being revoked, or the pipeline shutting down) sends only what
lets its commit move: records at or below the highest offset already sent or done, which close
the gaps under it. Every other record not yet sent is abandoned, left to the next owner, which
delivers it once: nothing above it can have reached the vendor, so no record past the
hand-over's commit was delivered. A hand-over waits for the requests already on their way,
not for a backlog.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

COMMIT_METADATA_PREFIX = "bridge.committed_at="
"""Each commit's metadata is ``bridge.committed_at=<epoch ms>``: `bridge status` reads it as the
time of the partition's last commit (Kafka's offset fetch returns no time of its own)."""


def commit_metadata(now_s: float | None = None) -> str:
    return f"{COMMIT_METADATA_PREFIX}{int((time.time() if now_s is None else now_s) * 1000)}"


def committed_at(metadata: str | None) -> float | None:
    """The commit time (epoch seconds) a `commit_metadata` string holds, else None."""
    if not metadata or not metadata.startswith(COMMIT_METADATA_PREFIX):
        return None
    try:
        return int(metadata[len(COMMIT_METADATA_PREFIX) :]) / 1000
    except ValueError:
        return None


@dataclass(eq=False, slots=True)
class PartitionOffsets:
    topic: str
    partition: int
    epoch: int
    fenced: bool = False
    # (offset, consumed_at) in consumption order; the left end is the oldest unfinished record.
    _pending: deque[tuple[int, float]] = field(default_factory=deque)
    _done: set[int] = field(default_factory=set)
    _reached: int = -1
    """The highest offset sent (once at least) or done."""
    _abandoned: int = 0
    _position: int | None = None
    leaving: bool = False
    committed: int | None = None
    """The last position Kafka confirmed for this assignment."""

    def add(self, offset: int, consumed_at: float) -> None:
        """Record that `offset` was consumed; offsets must arrive in increasing order."""
        if self._pending and offset <= self._pending[-1][0]:
            raise ValueError(f"offset {offset} not after {self._pending[-1][0]}")
        if self._position is not None and offset < self._position:
            raise ValueError(f"offset {offset} below committed position {self._position}")
        self._pending.append((offset, consumed_at))

    def ack(self, offset: int) -> bool:
        """Mark `offset` done. Returns False when fenced (the ack must change nothing)."""
        if self.fenced:
            return False
        self._done.add(offset)
        if offset > self._reached:
            self._reached = offset
        pending, done = self._pending, self._done
        while pending and pending[0][0] in done:
            first, _ = pending.popleft()
            done.discard(first)
            self._position = first + 1
        return True

    def sending(self, offset: int) -> None:
        """`offset` goes to the vendor now (a first attempt or a retry)."""
        if offset > self._reached:
            self._reached = offset

    def wanted(self, offset: int) -> bool:
        """Whether a record should be sent (again): not when fenced, and while leaving, only
        at or below the highest offset sent or done (it closes a gap under what may have
        reached the vendor already)."""
        return not self.fenced and (not self.leaving or offset <= self._reached)

    def abandon(self) -> None:
        """A record not sent and never to be acknowledged here: it stays a gap for the commit,
        and the hand-over no longer waits for it."""
        self._abandoned += 1

    @property
    def unfinished(self) -> int:
        """Records neither done nor abandoned: what a hand-over still waits for."""
        return len(self._pending) - len(self._done) - self._abandoned

    @property
    def position(self) -> int | None:
        """Offset after the highest contiguous done record: what a commit would store."""
        return self._position

    def to_commit(self) -> int | None:
        """The position if it moved past what Kafka last confirmed, else None."""
        if self.fenced or self._position is None:
            return None
        if self.committed is not None and self._position <= self.committed:
            return None
        return self._position

    def oldest_pending_since(self) -> float | None:
        """When the oldest unfinished record was consumed; None when every record is done."""
        return self._pending[0][1] if self._pending else None
