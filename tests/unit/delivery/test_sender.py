"""The sender alone, with a fake client: what it sends of a partition being handed over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from prometheus_client import CollectorRegistry

from bridge.config import VendorConfig
from bridge.delivery.adaptive import AdaptiveConcurrency
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit, CircuitState
from bridge.delivery.sender import Sender
from bridge.errors import TransientDeliveryError
from bridge.kafka.offsets import PartitionOffsets
from bridge.metrics import Metrics
from bridge.records import Record
from bridge.vendors.base import ACCEPTED, HttpRequest, ItemResult, Vendor
from tests.unit.pipeline.fakes import record


class OneBodyPerItem:
    """The part of a vendor the sender uses: a request whose body lists the items' ids."""

    name = "acme"

    def build_request(self, items: list[dict[str, Any]]) -> HttpRequest:
        body = ",".join(str(item["id"]) for item in items).encode()
        return HttpRequest("POST", "https://acme.example/events", {}, body)


class AcceptAll:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def send(
        self, request: HttpRequest, items: list[dict[str, Any]]
    ) -> tuple[int, list[ItemResult]]:
        self.bodies.append(request.body)
        return 200, [ACCEPTED] * len(items)


class BusyOnce:
    """Answers the first request 503, then accepts; runs `between` after the refusal."""

    def __init__(self, between: Callable[[], None]) -> None:
        self.bodies: list[bytes] = []
        self._between = between

    async def send(
        self, request: HttpRequest, items: list[dict[str, Any]]
    ) -> tuple[int, list[ItemResult]]:
        self.bodies.append(request.body)
        if len(self.bodies) == 1:
            self._between()
            raise TransientDeliveryError("busy", status=503)
        return 200, [ACCEPTED] * len(items)


def sender_with(
    client: BusyOnce | AcceptAll,
    concurrency: AdaptiveConcurrency | None = None,
    circuit: Circuit | None = None,
) -> Sender:
    return Sender(
        cast(Vendor[Any], OneBodyPerItem()),
        VendorConfig.model_validate({"retry": {"initial_backoff_s": 0.01}}),
        cast(VendorClient, client),
        circuit or Circuit(5, 1, lambda state: None),
        Metrics(CollectorRegistry()),
        concurrency,
    )


def batch_of(tracker: PartitionOffsets, offsets: list[int]) -> list[Record]:
    records = {offset: record(tracker, offset) for offset in range(max(offsets) + 1)}
    for r in records.values():
        r.items = [{"id": r.offset}]
    return [records[offset] for offset in offsets]


async def test_a_batch_retried_across_a_hand_over_is_sent_again_whole() -> None:
    # Each of its records was sent once and may have reached the vendor: finishing them lets
    # the hand-over's commit cover them, rather than leave them to the next owner.
    tracker = PartitionOffsets("t", 0, 1)
    batch = batch_of(tracker, [0, 1, 2])
    client = BusyOnce(lambda: setattr(tracker, "leaving", True))
    sent = await sender_with(client).send(batch)
    assert client.bodies == [b"0,1,2", b"0,1,2"]
    assert [records for records, _ in sent.delivered] == [batch]


async def test_a_batch_not_yet_sent_when_the_hand_over_begins_sends_only_what_closes_a_gap() -> (
    None
):
    tracker = PartitionOffsets("t", 0, 1)
    first, third, fourth = batch_of(tracker, [0, 2, 3])
    tracker.sending(1)  # another batch holds offset 1, on its way
    tracker.leaving = True
    client = AcceptAll()
    sent = await sender_with(client).send([first, third, fourth])
    assert client.bodies == [b"0"]
    assert [records for records, _ in sent.delivered] == [[first]]
    assert sent.dropped == [third, fourth]


async def test_a_batch_held_by_the_adaptive_limit_when_the_hand_over_begins_is_not_sent() -> None:
    # Records waiting for a place under the limit (or out a Retry-After) are not on their way:
    # the hand-over does not wait for them, so sent afterwards they would pass its commit.
    tracker = PartitionOffsets("t", 0, 1)
    batch = batch_of(tracker, [0, 1, 2])
    concurrency = AdaptiveConcurrency(max_concurrency=4)
    await concurrency.acquire()  # another request holds the only place
    client = AcceptAll()
    sending = asyncio.create_task(sender_with(client, concurrency).send(batch))
    await asyncio.sleep(0.01)
    assert not sending.done()
    tracker.leaving = True
    concurrency.abandon()
    sent = await sending
    assert client.bodies == []
    assert sent.dropped == batch
    assert concurrency.in_flight == 0


async def half_open() -> Circuit:
    circuit = Circuit(5, 1, lambda state: None)
    circuit.trip(0)
    await asyncio.sleep(0.01)  # its timer moves it to half-open
    assert circuit.state is CircuitState.HALF_OPEN
    return circuit


async def test_a_probe_whose_records_were_taken_away_lets_the_next_request_probe() -> None:
    # A frozen member resumes with its circuit half-open and its partitions lost: the probe's
    # records are dropped unsent. Had the probe stayed out, nothing of this vendor would ever
    # be sent again (every request waits for the probe's answer), and its partitions stall.
    lost, live = PartitionOffsets("t", 0, 1), PartitionOffsets("t", 1, 2)
    lost.fenced = True
    client = AcceptAll()
    sender = sender_with(client, circuit=await half_open())
    dropped = await asyncio.wait_for(sender.send(batch_of(lost, [0, 1])), 1)
    assert [r.offset for r in dropped.dropped] == [0, 1]
    sent = await asyncio.wait_for(sender.send(batch_of(live, [0])), 1)
    assert client.bodies == [b"0"]
    assert [[r.offset for r in records] for records, _ in sent.delivered] == [[0]]


async def test_a_probe_that_drops_part_of_its_batch_sends_the_rest() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    first, third = batch_of(tracker, [0, 2])
    tracker.sending(1)
    tracker.leaving = True  # 2 is above what was sent: only 0 closes a gap
    client = AcceptAll()
    circuit = await half_open()
    sender = sender_with(client, circuit=circuit)
    sent = await asyncio.wait_for(sender.send([first, third]), 1)
    assert client.bodies == [b"0"]
    assert sent.dropped == [third]
    assert circuit.state is CircuitState.CLOSED
