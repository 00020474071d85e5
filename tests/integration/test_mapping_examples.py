"""The three worked examples of docs/mapping.md, end to end: a real broker, the sandbox.

Each example is a fixture folder (tests/fixtures/mapping/<example>/): the `topics:` block as the
doc shows it, the source schemas and one source record. The doc must show the block verbatim.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
import yaml
from confluent_kafka import Producer

from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.support.kafka import (
    ProducedHeaders,
    config_dict,
    done,
    headers_of,
    metric,
    read_topic,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)
from tests.support.registry import registry_server

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mapping"
DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def topics(example: str) -> dict[str, Any]:
    """The example's `topics:` block, its schema files made absolute."""
    block: dict[str, Any] = yaml.safe_load((FIXTURES / example / "topics.yaml").read_text())
    for sources in block.values():
        for source in sources:
            for key in ("avro_schema", "json_schema"):
                if key in source:
                    source[key] = str(FIXTURES / example / source[key])
    return block


def fixture_json(example: str, name: str) -> Any:
    return orjson.loads((FIXTURES / example / name).read_bytes())


def produce(
    broker: LocalBroker,
    topic: str,
    records: list[tuple[bytes | None, bytes, ProducedHeaders]],
) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for key, value, headers in records:
        producer.produce(topic, value=value, key=key, headers=headers)
    assert producer.flush(15) == 0


def config(broker: LocalBroker, vendors: dict[str, Any], dlq: str, **blocks: Any) -> dict[str, Any]:
    raw = config_dict(broker, vendors, dead_letter=dlq)
    raw["topics"] = {"orders": {"name": unique("unused-orders")}, **blocks}
    raw["topics"].setdefault("product_views", {"name": unique("unused-views")})
    return raw


@pytest.mark.parametrize("example", sorted(p.name for p in FIXTURES.iterdir()))
def test_the_doc_shows_each_example_verbatim(example: str) -> None:
    assert (FIXTURES / example / "topics.yaml").read_text() in DOC.read_text()


async def test_shopify_order_webhook_as_json_delivers(broker: LocalBroker, tmp_path: Path) -> None:
    from bridge.config import validate_config

    example = "shopify_order_json"
    block = topics(example)
    dlq = unique("dlq")
    topic = block["orders"][0]["name"]
    broker.create_topics({topic: 1, dlq: 1})
    webhook = fixture_json(example, "record.json")
    unconvertible = {**webhook, "id": 2, "total_price": "fifty"}
    off_schema = {key: value for key, value in webhook.items() if key != "line_items"}
    produce(
        broker,
        topic,
        [(b"1", orjson.dumps(r), []) for r in (webhook, unconvertible, off_schema)],
    )
    async with Sandbox() as sandbox:
        vendors = {"squeezely": vendor_block("squeezely", sandbox.base_url("squeezely"), tmp_path)}
        cfg = validate_config(config(broker, vendors, dlq, orders=block["orders"]))
        async with running_bridge(cfg) as registry:
            await wait_for(lambda: done(registry, "squeezely") == 3, 30, "three records done")
        received = [e for r in sandbox.received("squeezely") for e in r["accepted"]]
    (order,) = received
    assert order["orderid"] == "820982911946154508"
    assert order["email"] == "jon.snow@example.com"
    assert [(p["id"], p["quantity"], p["price"]) for p in order["products"]] == [
        ("632910392", 2, 19.95),
        ("632910393", 1, 20.0),
    ]
    letters = {
        headers_of(m)["bridge.error.class"]: headers_of(m) for m in read_topic(broker, dlq, 2)
    }
    mapping = letters[b"mapping"]
    assert mapping["bridge.error.message"] == (
        b"unconvertible: total <- path total_price: cannot convert: ValueError"
    )
    assert mapping["bridge.source.offset"] == b"1"
    assert letters[b"decode"]["bridge.error.message"].startswith(b"json_schema_mismatch: $")


def avro_bytes(schema: Any, record: dict[str, Any], schema_id: int) -> bytes:
    stream = io.BytesIO()
    stream.write(b"\0" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(stream, schema, record)
    return stream.getvalue()


async def test_avro_order_through_a_registry_with_basic_auth_and_a_reference_delivers(
    broker: LocalBroker, tmp_path: Path
) -> None:
    from bridge.config import validate_config

    example = "avro_order_registry"
    block = topics(example)
    dlq = unique("dlq")
    broker.create_topics({"shop.orders.nl": 1, "shop.orders.de": 1, dlq: 1})
    billing = fixture_json(example, "Billing.avsc")
    v1 = fixture_json(example, "ShopOrder.avsc")
    # Schema evolution: v2 adds a field with a default; both versions keep decoding.
    v2 = {**v1, "fields": [*v1["fields"], {"name": "salesChannel", "type": "string",
                                           "default": "web"}]}  # fmt: skip
    record = fixture_json(example, "record.json")
    (tmp_path / "registry-password").write_text("s3cret-registry")
    async with registry_server("bridge", "s3cret-registry") as server:
        server.register("shop-billing", billing)
        reference = [{"name": "com.shop.Billing", "subject": "shop-billing", "version": 1}]
        id_v1 = server.register("shop.orders.nl-value", v1, reference)
        id_v2 = server.register("shop.orders.de-value", v2, reference)
        named: dict[str, Any] = {}
        fastavro.parse_schema(billing, named_schemas=named)
        writer_v1 = fastavro.parse_schema(v1, named_schemas=dict(named))
        writer_v2 = fastavro.parse_schema(v2, named_schemas=dict(named))
        de = {**record, "orderNumber": "DE-1", "salesChannel": "app"}
        produce(broker, "shop.orders.nl", [(b"1", avro_bytes(writer_v1, record, id_v1),
                                            [("event-id", b"ev-nl")])])  # fmt: skip
        produce(broker, "shop.orders.de", [(b"2", avro_bytes(writer_v2, de, id_v2),
                                            [("event-id", b"ev-de")])])  # fmt: skip
        async with Sandbox() as sandbox:
            vendors = {
                "squeezely": vendor_block("squeezely", sandbox.base_url("squeezely"), tmp_path)
            }
            raw = config(broker, vendors, dlq, orders=block["orders"])
            raw["kafka"]["schema_registry_url"] = server.url
            raw["kafka"]["schema_registry_username"] = "bridge"
            raw["kafka"]["schema_registry_password"] = {"file": str(tmp_path / "registry-password")}
            cfg = validate_config(raw)
            async with running_bridge(cfg) as registry:
                await wait_for(lambda: done(registry, "squeezely") == 2, 30, "both orders done")
                delivered = metric(
                    registry,
                    "bridge_records_total",
                    vendor="squeezely",
                    outcome="delivered",
                    reason="",
                )
            received = {
                e["orderid"]: e for r in sandbox.received("squeezely") for e in r["accepted"]
            }
    assert delivered == 2
    assert server.refused == 0
    assert server.served >= 3  # two ids and the reference
    nl = received["NL-2024-000123"]
    assert nl["email"] == "anna@example.nl"
    assert [(p["id"], p["price"]) for p in nl["products"]] == [("SKU-1", 29.95), ("SKU-2", 15.0)]
    assert set(received) == {"NL-2024-000123", "DE-1"}


async def test_clickstream_with_ids_in_headers_delivers(
    broker: LocalBroker, tmp_path: Path
) -> None:
    from bridge.config import validate_config

    example = "clickstream_headers"
    block = topics(example)
    dlq = unique("dlq")
    topic = block["product_views"][0]["name"]
    broker.create_topics({topic: 1, dlq: 1})
    fixture = fixture_json(example, "record.json")
    encoder = AvroEncoder(fixture_json(example, "ProductViewed.avsc"))
    headers = [(name, value.encode()) for name, value in fixture["headers"].items()]
    without_price = {**fixture["value"], "product": {**fixture["value"]["product"], "price": ""}}
    produce(
        broker,
        topic,
        [
            (fixture["key"].encode(), encoder.encode(fixture["value"]), headers),
            (b"pv-2", encoder.encode(without_price), headers),
        ],
    )
    async with Sandbox() as sandbox:
        vendors = {
            "quicklizard": vendor_block("quicklizard", sandbox.base_url("quicklizard"), tmp_path)
        }
        cfg = validate_config(config(broker, vendors, dlq, product_views=block["product_views"]))
        async with running_bridge(cfg) as registry:
            await wait_for(lambda: done(registry, "quicklizard") == 2, 30, "both views done")
        received = sandbox.received("quicklizard")
    events = [event for request in received for event in request["body"]]
    (view,) = events
    assert view["product_id"] == "SKU-1"
    assert view["price"] == 19.95
    assert view["vid"] == "vis-31337"
    assert view["permalink"] == "https://shop.example.com/p/sku-1"
    (letter,) = read_topic(broker, dlq, 1)
    headers_out = headers_of(letter)
    assert headers_out["bridge.error.class"] == b"mapping"
    assert headers_out["bridge.error.message"] == (
        b"unconvertible: price <- path product.price: cannot convert: ValueError"
    )
    assert headers_out["x-visitor-id"] == b"vis-31337"  # the original headers are kept
