"""Benchmark: a retailer's own records through a realistic mapping, against the bridge's own.

    python -m bench.mapping [--records N]

The batching vendor at zero latency (QuickLizard shape, as `bench` scenario 1), run twice over
the same product views: once written in the bridge's schema, once in a clickstream's own Avro
schema with the ids in headers and mapped (docs/mapping.md, example 3). Target: the mapped
rate is at least 0.8 of the other. `run(records)` returns both rates, for the `make bench`
table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer

from bench.__main__ import PARTITIONS, bridge_config, bridge_rate, produce_views, start_endpoint
from bridge.config import TopicsSettings
from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents

EXAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mapping"
EXAMPLE = EXAMPLE / "clickstream_headers"
TARGET = 0.8


def clickstream(event: dict[str, Any]) -> dict[str, Any]:
    """A sample product view as the clickstream writes it."""
    return {
        "ts": event["occurred_at"] / 1000,
        "product": {
            "id": event["product_id"],
            "title": event["name"],
            "category": event["category"],
            "price": f"{event['price']:.2f}",
            "currency": event["currency"],
            "stock": "true" if event["in_stock"] else "false",
        },
        "page": {"url": "https://shop.example.com/p/x", "locale": "nl-NL"},
    }


def produce_clickstream(broker: LocalBroker, topic: str, count: int) -> None:
    events = SampleEvents(seed=1)
    schema = yaml.safe_load((EXAMPLE / "ProductViewed.avsc").read_text())
    encoder = AvroEncoder(schema)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(count):
        value = encoder.encode(clickstream(events.product_view()))
        # Annotated as produce's stub wants it: a list is invariant, so list[tuple[str, bytes]]
        # would not fit its list[tuple[str, str | bytes | None]].
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-visitor-id", f"vis-{i}".encode()),
            ("x-esputnik-contact", b"es-1"),
        ]
        producer.produce(topic, key=f"k{i}".encode(), value=value, headers=headers)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def mapped_topics(topic: str) -> TopicsSettings:
    block = yaml.safe_load((EXAMPLE / "topics.yaml").read_text())
    (source,) = block["product_views"]
    source.update(name=topic, avro_schema=str(EXAMPLE / source["avro_schema"]))
    return TopicsSettings.model_validate({"orders": {"name": f"{topic}-orders"}, **block})


async def run(records: int) -> tuple[float, float]:
    """(records/s in the bridge's own schema, records/s mapped), one after the other."""
    extra = {"concurrency": 8, "batch": {"max_events": 500}}
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        own, mapped = "bench-own-views", "bench-clickstream"
        broker.create_topics({own: PARTITIONS, mapped: PARTITIONS})
        produce_views(broker, own, records)
        produce_clickstream(broker, mapped, records)
        endpoint, base = start_endpoint(0)
        try:
            config = bridge_config(broker, "quicklizard", base, own, extra, Path(tmp))
            own_rate, _ = await bridge_rate(config, "quicklizard", records)
            config = bridge_config(broker, "quicklizard", base, mapped, extra, Path(tmp))
            config = config.model_copy(update={"topics": mapped_topics(mapped)})
            mapped_rate, _ = await bridge_rate(config, "quicklizard", records)
        finally:
            endpoint.terminate()
    return own_rate, mapped_rate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mapping")
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    own_rate, mapped_rate = asyncio.run(run(args.records))
    print(f"mapping: batching vendor, zero latency, {args.records} product views")
    print(f"   bridge's own schema  {own_rate:10.0f} records/s")
    print(f"   clickstream, mapped  {mapped_rate:10.0f} records/s")
    print(f"   ratio                {mapped_rate / own_rate:10.2f}   (target >= {TARGET})")


if __name__ == "__main__":
    main()
