"""Settlement, alone: a record is acknowledged only after its dead letter or outcome is written."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from bridge.config import VendorConfig
from bridge.delivery.sender import Failure, Sent
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.offsets import PartitionOffsets
from bridge.kafka.outcomes import OutcomeWriter
from bridge.metrics import Metrics
from bridge.pipeline.flow import FlowControl
from bridge.pipeline.lanes import KeyLanes, ReadyQueue
from bridge.pipeline.settlement import Settlement
from bridge.pipeline.tasks import Tasks
from bridge.records import Record

from .fakes import Switch, record


class HeldWrites(DeadLetterWriter):
    """A dead-letter writer whose writes finish only when the test says (or fail)."""

    def __init__(self) -> None:
        self.written: list[Record] = []
        self.gate = asyncio.Event()
        self.error: Exception | None = None

    async def write(
        self, vendor: str, record: Record, error_class: str, message: str, status: int | None
    ) -> None:
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.written.append(record)


class HeldOutcomes(OutcomeWriter):
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.outcomes: list[str] = []

    async def write(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        await self.gate.wait()
        self.outcomes.append(outcome)


def build(
    outcomes: OutcomeWriter | None = None,
) -> tuple[Settlement, HeldWrites, FlowControl, Tasks]:
    metrics = Metrics(CollectorRegistry())
    flow = FlowControl(VendorConfig(max_in_flight_records=100), Switch())
    lanes = KeyLanes(ordered=True, ready=ReadyQueue())
    writes = HeldWrites()
    tasks = Tasks()
    return Settlement("qubit", flow, lanes, writes, outcomes, tasks, metrics), writes, flow, tasks


async def test_a_delivered_batch_is_acknowledged_and_freed_at_once() -> None:
    settlement, _, flow, _ = build()
    tracker = PartitionOffsets("t", 0, 1)
    records = [record(tracker, offset) for offset in range(3)]
    flow.taken(3, 30, 10)
    settlement.sent(Sent(delivered=[(records, 200)]))
    assert tracker.position == 3
    assert flow.in_flight == 0


async def test_a_dead_letter_not_yet_acknowledged_by_kafka_holds_the_offset() -> None:
    settlement, writes, flow, tasks = build()
    tracker = PartitionOffsets("t", 0, 1)
    bad, good = record(tracker, 0), record(tracker, 1)
    flow.taken(2, 20, 10)
    settlement.sent(
        Sent(delivered=[([good], 200)], failed=[Failure(bad, "rejected", "HTTP 400", 400)])
    )
    await asyncio.sleep(0.01)
    assert tracker.position is None  # offset 0 is not done: nothing may be committed
    assert flow.in_flight == 1
    writes.gate.set()
    await asyncio.sleep(0.01)
    assert writes.written == [bad]
    assert tracker.position == 2
    await tasks.cancel()


async def test_a_dead_letter_kafka_refuses_for_good_fails_the_pipeline_and_acks_nothing() -> None:
    settlement, writes, _, tasks = build()
    tracker = PartitionOffsets("t", 0, 1)
    bad = record(tracker, 0)
    writes.error = RuntimeError("refused even trimmed")
    settlement.dead_letter(bad, "rejected", "HTTP 400", 400)
    writes.gate.set()
    with pytest.raises(RuntimeError, match="refused even trimmed"):
        await asyncio.wait_for(tasks.failure(), 1)
    assert tracker.position is None
    await tasks.cancel()


async def test_an_outcome_record_not_yet_written_holds_the_offset() -> None:
    outcomes = HeldOutcomes()
    settlement, _, _, tasks = build(outcomes)
    tracker = PartitionOffsets("t", 0, 1)
    delivered = record(tracker, 0)
    settlement.delivered([delivered], 200)
    await asyncio.sleep(0.01)
    assert tracker.position is None
    outcomes.gate.set()
    await asyncio.sleep(0.01)
    assert outcomes.outcomes == ["delivered"]
    assert tracker.position == 1
    await tasks.cancel()


async def test_a_record_is_settled_once_and_a_dropped_one_is_never_acknowledged() -> None:
    settlement, _, flow, _ = build()
    tracker = PartitionOffsets("t", 0, 1)
    first, second = record(tracker, 0), record(tracker, 1)
    flow.taken(2, 20, 10)
    settlement.delivered([first], 200)
    settlement.delivered([first], 200)
    settlement.dropped(second)
    settlement.dropped(second)
    assert flow.in_flight == 0
    assert tracker.position == 1
    assert tracker.unfinished == 0  # abandoned once: a hand-over waits for nothing
