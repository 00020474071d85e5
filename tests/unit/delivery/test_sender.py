"""The sender alone, with a fake client: what a batch retried across a hand-over sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from prometheus_client import CollectorRegistry

from bridge.config import VendorConfig
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit
from bridge.delivery.sender import Sender
from bridge.errors import TransientDeliveryError
from bridge.kafka.offsets import PartitionOffsets
from bridge.metrics import Metrics
from bridge.vendors.base import ACCEPTED, HttpRequest, ItemResult, Vendor
from tests.unit.pipeline.fakes import record


class OneBodyPerItem:
    """The part of a vendor the sender uses: a request whose body lists the items' ids."""

    name = "acme"

    def build_request(self, items: list[dict[str, Any]]) -> HttpRequest:
        body = ",".join(str(item["id"]) for item in items).encode()
        return HttpRequest("POST", "https://acme.example/events", {}, body)


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


async def test_a_batch_retried_across_a_hand_over_sends_only_what_the_commit_needs() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    first, second, third = (record(tracker, offset) for offset in (0, 1, 2))
    for r in (first, second, third):
        r.items = [{"id": r.offset}]
    after_the_batch = record(tracker, 3)

    def hand_over() -> None:
        # While the batch waits for its retry, a later record is done and the partition starts
        # leaving: offsets 0-2 are below the done 3, so all of them are still needed.
        tracker.ack(after_the_batch.offset)
        tracker.leaving = True

    client = BusyOnce(hand_over)
    config = VendorConfig.model_validate({"retry": {"initial_backoff_s": 0.01}})
    sender = Sender(
        cast(Vendor[Any], OneBodyPerItem()),
        config,
        cast(VendorClient, client),
        Circuit(5, 1, lambda state: None),
        Metrics(CollectorRegistry()),
    )
    sent = await sender.send([first, second, third])
    assert client.bodies == [b"0,1,2", b"0,1,2"]
    assert [records for records, _ in sent.delivered] == [[first, second, third]]


async def test_records_the_hand_over_does_not_need_are_not_sent_again() -> None:
    tracker = PartitionOffsets("t", 0, 1)
    first, done_elsewhere, third, fourth = (record(tracker, offset) for offset in range(4))
    batch = [first, third, fourth]
    for r in batch:
        r.items = [{"id": r.offset}]

    def hand_over() -> None:
        # Another batch delivered offset 1; only 0 is below it and closes the gap.
        tracker.ack(done_elsewhere.offset)
        tracker.leaving = True

    client = BusyOnce(hand_over)
    config = VendorConfig.model_validate({"retry": {"initial_backoff_s": 0.01}})
    sender = Sender(
        cast(Vendor[Any], OneBodyPerItem()),
        config,
        cast(VendorClient, client),
        Circuit(5, 1, lambda state: None),
        Metrics(CollectorRegistry()),
    )
    sent = await sender.send(batch)
    assert client.bodies == [b"0,2,3", b"0"]
    assert [records for records, _ in sent.delivered] == [[first]]
    assert sent.dropped == [third, fourth]
