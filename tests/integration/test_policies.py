"""Skips, consent, dead-letter policy, per-vendor dead-letter topics, Confluent wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import Sandbox
from tests.integration.test_vendors import complete
from tests.support.kafka import (
    SCHEMAS,
    done,
    encoder,
    has_done,
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


def orders(count: int) -> list[dict[str, Any]]:
    samples = SampleEvents(seed=21)
    return [complete(samples.order(), n) for n in range(count)]


async def test_unmappable_records_are_skipped_by_reason_or_dead_lettered_by_policy(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic, dlq = unique("orders"), unique("dlq")
    broker.create_topics({topic: 1, dlq: 1, f"{dlq}.squeezely": 1, f"{dlq}.vtmarketing": 1})
    events = orders(10)
    events[2]["customer"]["email"] = None
    events[3]["marketing_consent"] = False
    events[4]["marketing_consent"] = None
    enc = encoder(EventType.ORDER)
    produce(broker, topic, [(0, e["order_id"].encode(), enc.encode(e)) for e in events])
    async with Sandbox() as sandbox:
        vendors = {
            "squeezely": vendor_block(
                "squeezely", sandbox.base_url("squeezely"), tmp_path, require_consent=True
            ),
            "vtmarketing": vendor_block(
                "vtmarketing",
                sandbox.base_url("vtmarketing"),
                tmp_path,
                on_unmappable="dead-letter",
            ),
        }
        config = make_config(
            broker,
            vendors,
            orders=topic,
            dead_letter={"mode": "per_vendor", "topic": dlq},
        )
        async with running_bridge(config) as registry:
            for name in vendors:
                await wait_for(has_done(registry, name, 10), 30, f"{name} done")
            skipped = {
                reason: metric(
                    registry,
                    "bridge_records_total",
                    vendor="squeezely",
                    outcome="skipped",
                    reason=reason,
                )
                for reason in ("no_consent", "missing_email")
            }
            vt_dead = metric(
                registry,
                "bridge_records_total",
                vendor="vtmarketing",
                outcome="dead_lettered",
                reason="missing_email",
            )
    # Consent is checked first: the records without it never reach the mapper.
    assert skipped == {"no_consent": 2, "missing_email": 1}
    assert vt_dead == 1
    letters = read_topic(broker, f"{dlq}.vtmarketing", 1)
    assert [headers_of(m)["bridge.error.class"] for m in letters] == [b"unmappable"]
    assert read_topic(broker, f"{dlq}.squeezely", 1, timeout_s=3) == []
    assert read_topic(broker, dlq, 1, timeout_s=2) == []


@pytest.fixture
async def schema_registry() -> AsyncIterator[tuple[str, dict[int, dict[str, Any]]]]:
    """A Confluent-compatible registry's read side on loopback: GET /schemas/ids/{id}."""
    schemas: dict[int, dict[str, Any]] = {}

    async def by_id(request: web.Request) -> web.Response:
        schema = schemas.get(int(request.match_info["id"]))
        if schema is None:
            return web.json_response({"error_code": 40403, "message": "not found"}, status=404)
        return web.json_response({"schema": orjson.dumps(schema).decode()})

    app = web.Application()
    app.router.add_get("/schemas/ids/{id}", by_id)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", schemas
    await runner.cleanup()


async def test_confluent_wire_format_with_an_evolved_writer_schema_decodes(
    broker: LocalBroker,
    tmp_path: Path,
    schema_registry: tuple[str, dict[int, dict[str, Any]]],
) -> None:
    url, schemas = schema_registry
    topic, dlq = unique("orders"), unique("dlq")
    broker.create_topics({topic: 1, dlq: 1})
    writer = load_schema(SCHEMAS, EventType.ORDER)
    writer["fields"] = [*reversed(writer["fields"]), {"name": "tier", "type": "int", "default": 0}]
    schemas[3] = writer
    evolved = AvroEncoder(writer, schema_id=3)
    events = orders(5)
    records = [(0, b"k", evolved.encode({**e, "tier": 2})) for e in events]
    records.insert(2, (0, b"k", AvroEncoder(writer, schema_id=99).encode({**events[0], "tier": 1})))
    produce(broker, topic, records)
    async with Sandbox() as sandbox:
        vendors = {"squeezely": vendor_block("squeezely", sandbox.base_url("squeezely"), tmp_path)}
        config = make_config(
            broker,
            vendors,
            orders={"name": topic, "format": "confluent"},
            dead_letter=dlq,
            kafka_registry=url,
        )
        async with running_bridge(config) as registry:
            await wait_for(lambda: done(registry, "squeezely") == 6, 30, "all six done")
            unknown = metric(
                registry,
                "bridge_decode_failures_total",
                vendor="squeezely",
                topic=topic,
                reason="unknown_schema_id",
            )
        received = [e["orderid"] for r in sandbox.received("squeezely") for e in r["accepted"]]
    assert sorted(received) == sorted(e["order_id"] for e in events)
    assert unknown == 1
    letters = read_topic(broker, dlq, 1)
    assert headers_of(letters[0])["bridge.source.offset"] == b"2"


async def test_a_mapper_bug_dead_letters_the_record_and_the_pipeline_goes_on(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.vendors.squeezely import Squeezely

    topic, dlq = unique("orders"), unique("dlq")
    broker.create_topics({topic: 1, dlq: 1})
    events = orders(6)
    cursed = events[3]["order_id"]
    original = Squeezely.map

    def buggy(self: Squeezely, event_type: EventType, event: Any) -> Any:
        if event["order_id"] == cursed:
            raise ValueError(f"cannot handle {event['customer']['email']}")
        return original(self, event_type, event)

    monkeypatch.setattr(Squeezely, "map", buggy)
    enc = encoder(EventType.ORDER)
    produce(broker, topic, [(0, e["order_id"].encode(), enc.encode(e)) for e in events])
    async with Sandbox() as sandbox:
        vendors = {"squeezely": vendor_block("squeezely", sandbox.base_url("squeezely"), tmp_path)}
        config = make_config(broker, vendors, orders=topic, dead_letter=dlq)
        async with running_bridge(config) as registry:
            await wait_for(lambda: done(registry, "squeezely") == 6, 30, "all six done")
        received = [e["orderid"] for r in sandbox.received("squeezely") for e in r["accepted"]]
    assert sorted(received) == sorted(e["order_id"] for e in events if e["order_id"] != cursed)
    (letter,) = read_topic(broker, dlq, 1)
    headers = headers_of(letter)
    assert headers["bridge.error.class"] == b"mapper_error"
    assert headers["bridge.error.message"] == b"mapper raised ValueError"
