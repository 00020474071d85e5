"""Key lanes and the ready queue: which record may go to the vendor next.

With ``ordering: key``, a record whose Kafka key has an earlier record still in flight waits in
that key's lane; when the earlier one is done, the next of its lane becomes ready. So a later
event never overtakes an earlier one's retries. Records without a key, or with
``ordering: none``, are ready at once.

`ReadyQueue.take` gives a worker its next batch: up to `max_events` ready records, as soon as
that many are ready, else once the oldest ready record has waited `linger_s` for a fuller batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from bridge.records import Record


class ReadyQueue:
    def __init__(self, max_events: int = 1, linger_s: float = 0) -> None:
        self._max_events = max_events
        self._linger_s = linger_s
        self._records: deque[Record] = deque()
        self._since = 0.0
        self._has_records = asyncio.Event()
        self._full = asyncio.Event()

    def __len__(self) -> int:
        return len(self._records)

    def put(self, record: Record) -> None:
        records = self._records
        if not records:
            self._since = time.monotonic()
        records.append(record)
        self._has_records.set()
        if len(records) >= self._max_events:
            self._full.set()

    async def take(self) -> list[Record]:
        """The next batch (never empty)."""
        records = self._records
        while True:
            while not records:
                self._has_records.clear()
                await self._has_records.wait()
            wait = self._since + self._linger_s - time.monotonic()
            if wait <= 0 or len(records) >= self._max_events:
                # What is left arrived before now: it keeps the older start, and goes sooner.
                return [records.popleft() for _ in range(min(self._max_events, len(records)))]
            # Wait for a fuller batch, but never keep the oldest record past the linger, nor a
            # full batch at all. Then look again: another worker may have taken what woke us.
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._full.wait()


class KeyLanes:
    def __init__(self, ordered: bool, ready: ReadyQueue) -> None:
        self._ordered = ordered
        self._ready = ready
        self._lanes: dict[bytes, deque[Record] | None] = {}
        """Keys with a record in flight, and the records waiting behind it: None until a second
        record of the key comes (most keys never have one, and an empty deque is 600 bytes)."""

    def add(self, record: Record) -> None:
        """Make `record` ready, or queue it behind the earlier record of its key."""
        key = record.key
        if self._ordered and key is not None:
            if key in self._lanes:
                lane = self._lanes[key]
                if lane is None:
                    lane = self._lanes[key] = deque()
                lane.append(record)
                return
            self._lanes[key] = None
        self._ready.put(record)

    def release(self, record: Record) -> None:
        """`record` is done with: the next record of its key becomes ready."""
        key = record.key
        if not self._ordered or key is None:
            return
        if key not in self._lanes:
            return
        lane = self._lanes[key]
        if lane:
            self._ready.put(lane.popleft())
        else:
            del self._lanes[key]
