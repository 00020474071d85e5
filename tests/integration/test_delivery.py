"""The engine end to end: real broker, real vendor sandbox on loopback, in-process bridge."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import Sandbox
from tests.support.kafka import (
    committed,
    encoder,
    headers_of,
    make_config,
    metric,
    produce,
    read_topic,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration


def views(count: int, partitions: int, prefix: str) -> list[tuple[int, bytes, bytes]]:
    """Product views whose product_id names their partition and offset: p<partition>-<offset>."""
    events = SampleEvents(seed=3)
    enc = encoder(EventType.PRODUCT_VIEW)
    out = []
    for i in range(count):
        partition = i % partitions
        event = events.product_view()
        event["product_id"] = f"{prefix}p{partition}-{i // partitions}"
        event["url"] = f"https://shop.example.com/p/{event['product_id']}"
        # As with Kafka's default partitioner, a key lives in one partition (25 keys each).
        key = f"p{partition}-k{(i // partitions) % 25}"
        out.append((partition, key.encode(), enc.encode(event)))
    return out


def accepted_ids(sandbox: Sandbox, vendor: str) -> list[str]:
    return [
        item["product_id"] for request in sandbox.received(vendor) for item in request["accepted"]
    ]


async def test_poison_records_go_to_dead_letter_and_do_not_stall_the_partition(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic, dlq = unique("views"), unique("dlq")
    broker.create_topics({topic: 1, dlq: 1})
    good = views(30, 1, "")
    poison = [(0, b"bad", b"\x00\x01not avro at all"), (0, b"bad", b"")]
    # Poison in the middle: the partition must keep flowing past it.
    produce(broker, topic, [*good[:10], poison[0], *good[10:20], poison[1], *good[20:]])
    async with Sandbox() as sandbox:
        config = make_config(
            broker,
            {"quicklizard": vendor_block("quicklizard", sandbox.base_url("quicklizard"), tmp_path)},
            views=topic,
            dead_letter=dlq,
        )
        async with running_bridge(config, ["quicklizard"]) as registry:
            await wait_for(
                lambda: len(accepted_ids(sandbox, "quicklizard")) >= 30, 30, "30 deliveries"
            )
            await wait_for(
                lambda: (
                    committed(broker, f"{config.kafka.group_prefix}.quicklizard", topic, 1)[0] == 32
                ),
                15,
                "commit past the poison records",
            )
            assert (
                metric(
                    registry,
                    "bridge_decode_failures_total",
                    vendor="quicklizard",
                    topic=topic,
                    reason="malformed_avro",
                )
                == 1
            )
            assert (
                metric(
                    registry,
                    "bridge_decode_failures_total",
                    vendor="quicklizard",
                    topic=topic,
                    reason="empty_value",
                )
                == 1
            )
    assert sorted(accepted_ids(sandbox, "quicklizard")) == sorted(f"p0-{i}" for i in range(30))
    letters = read_topic(broker, dlq, 2)
    assert len(letters) == 2
    headers = [headers_of(m) for m in letters]
    assert {h["bridge.error.class"] for h in headers} == {b"decode"}
    assert {h["bridge.source.offset"] for h in headers} == {b"10", b"21"}
    assert all(h["bridge.vendor"] == b"quicklizard" for h in headers)
    assert letters[0].value() == b"\x00\x01not avro at all"
    assert letters[0].key() == b"bad"


async def test_auto_concurrency_is_adaptive_for_a_one_event_vendor_alone_and_fixed_beside_another(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic = unique("views")
    broker.create_topics({topic: 1})
    async with Sandbox() as sandbox:
        vendors = {
            name: vendor_block(name, sandbox.base_url(name), tmp_path)
            for name in ("esputnik", "quicklizard")
        }
        config = make_config(broker, vendors, views=topic)
        # No record comes, so an adaptive limit stays where it starts: 1.
        for names, limit in ((["esputnik"], 1), (["esputnik", "quicklizard"], 16)):
            async with running_bridge(config, names) as registry:

                def told() -> float:
                    return metric(registry, "bridge_concurrency_limit", vendor="esputnik")

                await wait_for(lambda: told() > 0, 20, f"eSputnik's limit beside {names}")
                assert told() == limit, names
