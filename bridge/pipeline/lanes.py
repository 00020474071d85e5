"""Key lanes and the ready queue: which record may go to the vendor next.

With ``ordering: key``, a record whose Kafka key has an earlier record still in flight waits in
that key's lane; when the earlier one is done, the next of its lane becomes ready. So a later
event never overtakes an earlier one's retries. Records without a key, or with
``ordering: none``, are ready at once.

`ReadyQueue.take` gives a worker its next batch: up to `max_events` ready records, waiting at
most `linger_s` after the oldest ready record arrived for a fuller batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from bridge.records import Record


class ReadyQueue:
    def __init__(self) -> None:
        self._records: deque[Record] = deque()
        self._since = 0.0
        self._has_records = asyncio.Event()

    def __len__(self) -> int:
        return len(self._records)

    def put(self, record: Record) -> None:
        if not self._records:
            self._since = time.monotonic()
        self._records.append(record)
        self._has_records.set()

    async def take(self, max_events: int, linger_s: float) -> list[Record]:
        """The next batch (never empty)."""
        while True:
            while not self._records:
                self._has_records.clear()
                await self._has_records.wait()
            if linger_s and len(self._records) < max_events:
                # Wait for a fuller batch, but never keep the oldest record past the linger.
                wait = linger_s - (time.monotonic() - self._since)
                if wait > 0:
                    await asyncio.sleep(wait)
            records = self._records
            # What is left arrived before now: it keeps the older start, and goes sooner.
            batch = [records.popleft() for _ in range(min(max_events, len(records)))]
            if batch:
                return batch


class KeyLanes:
    def __init__(self, ordered: bool, ready: ReadyQueue) -> None:
        self._ordered = ordered
        self._ready = ready
        self._lanes: dict[bytes, deque[Record]] = {}

    def add(self, record: Record) -> None:
        """Make `record` ready, or queue it behind the earlier record of its key."""
        key = record.key
        if self._ordered and key is not None:
            lane = self._lanes.get(key)
            if lane is not None:
                lane.append(record)
                return
            self._lanes[key] = deque()
        self._ready.put(record)

    def release(self, record: Record) -> None:
        """`record` is done with: the next record of its key becomes ready."""
        key = record.key
        if not self._ordered or key is None:
            return
        lane = self._lanes.get(key)
        if lane is None:
            return
        if lane:
            self._ready.put(lane.popleft())
        else:
            del self._lanes[key]
