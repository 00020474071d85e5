"""Key lanes and the ready queue, alone."""

from __future__ import annotations

import asyncio
import time

from bridge.kafka.offsets import PartitionOffsets
from bridge.pipeline.lanes import KeyLanes, ReadyQueue

from .fakes import record


def test_a_later_record_of_a_key_waits_for_the_earlier_one() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue()
    lanes = KeyLanes(ordered=True, ready=ready)
    first, second, other = (
        record(tracker, 0, b"k"),
        record(tracker, 1, b"k"),
        record(tracker, 2, b"j"),
    )
    for r in (first, second, other):
        lanes.add(r)
    assert len(ready) == 2  # first and other; second waits behind first
    lanes.release(first)
    assert len(ready) == 3


def test_without_ordering_every_record_is_ready_at_once() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue()
    lanes = KeyLanes(ordered=False, ready=ready)
    for offset in range(3):
        lanes.add(record(tracker, offset, b"k"))
    assert len(ready) == 3


async def test_take_never_keeps_the_oldest_record_past_the_linger() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue()
    ready.put(record(tracker, 0))
    started = time.monotonic()
    batch = await asyncio.wait_for(ready.take(max_events=10, linger_s=0.05), 1)
    waited = time.monotonic() - started
    assert [r.offset for r in batch] == [0]
    assert 0.04 <= waited < 0.5


async def test_a_full_batch_goes_without_lingering() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue()
    for offset in range(5):
        ready.put(record(tracker, offset))
    batch = await asyncio.wait_for(ready.take(max_events=3, linger_s=10), 0.5)
    assert [r.offset for r in batch] == [0, 1, 2]
    rest = await asyncio.wait_for(ready.take(max_events=3, linger_s=0), 0.5)
    assert [r.offset for r in rest] == [3, 4]
