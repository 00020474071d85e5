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
    ready = ReadyQueue(max_events=10, linger_s=0.05)
    ready.put(record(tracker, 0))
    started = time.monotonic()
    batch = await asyncio.wait_for(ready.take(), 1)
    waited = time.monotonic() - started
    assert [r.offset for r in batch] == [0]
    assert 0.04 <= waited < 0.5


async def test_a_full_batch_goes_without_lingering() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue(max_events=3, linger_s=10)
    for offset in range(5):
        ready.put(record(tracker, offset))
    batch = await asyncio.wait_for(ready.take(), 0.5)
    assert [r.offset for r in batch] == [0, 1, 2]
    assert len(ready) == 2


async def test_a_batch_that_fills_while_lingering_goes_at_once() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue(max_events=3, linger_s=10)
    ready.put(record(tracker, 0))
    taking = asyncio.create_task(ready.take())
    await asyncio.sleep(0.01)
    assert not taking.done()  # lingering for a fuller batch
    ready.put(record(tracker, 1))
    ready.put(record(tracker, 2))
    batch = await asyncio.wait_for(taking, 0.5)
    assert [r.offset for r in batch] == [0, 1, 2]


async def test_a_worker_woken_by_a_batch_another_took_lingers_on() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    ready = ReadyQueue(max_events=2, linger_s=0.2)
    ready.put(record(tracker, 0))
    oldest_arrived = time.monotonic()
    takers = [asyncio.create_task(ready.take()) for _ in range(2)]
    await asyncio.sleep(0.01)
    ready.put(record(tracker, 1))
    ready.put(record(tracker, 2))  # wakes both: one takes the full batch
    done, lingering = await asyncio.wait(takers, return_when=asyncio.FIRST_COMPLETED)
    assert [r.offset for r in done.pop().result()] == [0, 1]
    rest = await asyncio.wait_for(lingering.pop(), 1)
    assert [r.offset for r in rest] == [2]
    # Not alone at once: record 2 took over the oldest record's start, and waited out its linger.
    assert time.monotonic() - oldest_arrived >= 0.19
