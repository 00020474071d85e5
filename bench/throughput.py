"""Throughput: the bridge against its references, side by side in one run.

- Batching vendor at zero latency (QuickLizard shape): the bridge's delivery rate against the
  rate at which the same records can merely be consumed and Avro-decoded; CPU-seconds per
  1,000 events. Target >= 0.75.
- One request per event at 50 ms, concurrency 64 (eSputnik shape): the bridge against a bare
  aiohttp client posting the same bodies with 64 in flight (target >= 0.95), and a naive loop
  (consume, decode, map, post, one at a time) to show what the concurrency buys.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
from confluent_kafka import Consumer

from bench.common import (
    PARTITIONS,
    SCHEMAS,
    bare_client_rate,
    bridge_config,
    bridge_rate,
    consume_and_decode,
    produce_views,
    start_endpoint,
)
from bench.table import Row
from bridge.config import Config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder
from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker
from bridge.vendors import build_vendor


async def batching(broker: LocalBroker, secrets: Path, records: int) -> list[Row]:
    topic = "bench-views"
    broker.create_topics({topic: PARTITIONS, f"{topic}-orders": 1})
    produce_views(broker, topic, records)
    baseline = consume_and_decode(broker, topic, records)
    endpoint, base = start_endpoint(0)
    try:
        extra = {"concurrency": 8, "batch": {"max_events": 500}}
        config = bridge_config(broker, "quicklizard", base, topic, extra, secrets)
        rate, cpu_share = await bridge_rate(config, "quicklizard", records)
    finally:
        endpoint.terminate()
    scenario = f"batching vendor, 0 ms, {records:,} records"
    return [
        Row(scenario, "consume+decode (reference)", baseline, "records/s"),
        Row(scenario, "bridge", rate, "records/s", rate / baseline, 0.75),
        Row(scenario, "bridge CPU per 1,000 events", cpu_share / rate * 1000, "CPU-s"),
    ]


async def naive_rate(
    broker: LocalBroker, config: Config, topic: str, base: str, count: int
) -> float:
    """Consume, decode, map and post one record at a time: what no concurrency gives."""
    decoder = AvroDecoder(load_schema(SCHEMAS, EventType.PRODUCT_VIEW), "avro")
    vendor = build_vendor("esputnik", config.vendor_settings["esputnik"], f"{base}/esputnik")
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"bench-naive-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            **CONSUMER_PROPERTIES,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    started: float | None = None
    async with aiohttp.ClientSession() as session:
        while seen < count:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            started = started or time.perf_counter()
            event = decoder.decode(message.value())
            request = vendor.build_request(vendor.map(EventType.PRODUCT_VIEW, event))
            async with session.post(request.url, data=request.body, headers=request.headers) as r:
                await r.read()
            seen += 1
    consumer.close()
    assert started is not None
    return count / (time.perf_counter() - started)


async def one_per_event(broker: LocalBroker, secrets: Path, requests: int) -> list[Row]:
    topic = "bench-views-single"
    broker.create_topics({topic: PARTITIONS, f"{topic}-orders": 1})
    produce_views(broker, topic, requests)
    endpoint, base = start_endpoint(50)
    try:
        config = bridge_config(broker, "esputnik", base, topic, {"concurrency": 64}, secrets)
        bare = await bare_client_rate(config, base, requests, 64)
        rate, cpu_share = await bridge_rate(config, "esputnik", requests)
        naive = await naive_rate(broker, config, topic, base, min(requests, 100))
    finally:
        endpoint.terminate()
    scenario = f"one request per event, 50 ms, concurrency 64, {requests:,} records"
    return [
        Row(scenario, "bare aiohttp (reference)", bare, "requests/s"),
        Row(scenario, "bridge", rate, "records/s", rate / bare, 0.95),
        Row(scenario, "naive loop (baseline)", naive, "records/s", naive / bare),
        Row(scenario, "bridge CPU per 1,000 events", cpu_share / rate * 1000, "CPU-s"),
    ]
