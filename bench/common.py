"""What every benchmark shares: the broker's records, the bridge's config, the endpoint, and
the two references (consume+decode; a bare aiohttp client).

Every server listens on 127.0.0.1; the endpoint runs in its own process.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from bridge.app import run
from bridge.config import Config, validate_config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, AvroEncoder
from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker, free_port
from bridge.tools.sample import SampleEvents
from bridge.vendors import build_vendor

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
PARTITIONS = 4


def produce_views(broker: LocalBroker, topic: str, count: int, customers: bool = True) -> None:
    """`count` sample views; without `customers`, none carries a customer block (the sample's
    customers include malformed emails on purpose, which a validating stand-in refuses)."""
    events = SampleEvents(seed=1)
    encoder = AvroEncoder(load_schema(SCHEMAS, EventType.PRODUCT_VIEW))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(count):
        event = events.product_view()
        event["url"] = "https://shop.example.com/p/x"
        event["vendor_ids"] = {"esputnik": f"es-{i}"}
        if not customers:
            event["customer"] = None
        producer.produce(topic, key=f"k{i}".encode(), value=encoder.encode(event))
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def consume_and_decode(broker: LocalBroker, topic: str, count: int) -> float:
    """Records per second for consume + decode alone, same consumer settings."""
    decoder = AvroDecoder(load_schema(SCHEMAS, EventType.PRODUCT_VIEW), "avro")
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"bench-baseline-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "queued.max.messages.kbytes": 8192,
            **CONSUMER_PROPERTIES,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    started: float | None = None
    while seen < count:
        # As the bridge's consumer thread fetches: wait for one record, then take what else is
        # fetched. consume(500, timeout) would wait out the timeout for the last short batch
        # of each partition, and count that wait as decoding time.
        messages = consumer.consume(1, 0.5)
        if messages:
            messages += consumer.consume(499, 0)
        for message in messages:
            if started is None:
                started = time.perf_counter()
            decoder.decode(message.value())
            seen += 1
    assert started is not None
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def bridge_config(
    broker: LocalBroker, vendor: str, base: str, topic: str, extra: dict[str, Any], secrets: Path
) -> Config:
    key = secrets / "key"
    key.write_text("bench-key")
    settings = {
        "quicklizard": {"client_key": {"file": str(key)}},
        "esputnik": {"api_key": {"file": str(key)}},
    }[vendor]
    return validate_config(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap,
                "group_prefix": f"bench-{time.time_ns()}",
                "consumer_properties": dict(CONSUMER_PROPERTIES),
            },
            "topics": {"product_views": {"name": topic}, "orders": {"name": f"{topic}-orders"}},
            "vendors": {vendor: {"base_url": f"{base}/{vendor}", "settings": settings, **extra}},
            "http": {"host": "127.0.0.1", "port": 0},
            "log": {"level": "WARNING"},
        }
    )


POLL_S = 0.01
"""How often `bridge_rate` reads the bridge's counters: a run of 30,000 records at 60,000/s
lasts half a second, so each end of it is found to within 2% of that."""


async def bridge_rate(config: Config, vendor: str, count: int) -> tuple[float, float]:
    """Records per second once consumption started, and the process's CPU share meanwhile."""
    registry = CollectorRegistry()
    # Only the two counters read here are collected at each poll, not the whole registry.
    counters = registry.restricted_registry(
        ["bridge_records_total", "bridge_records_consumed_total"]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, registry=registry, stop=stop))
    started: float | None = None
    cpu_started = 0.0

    def counts() -> tuple[float, float]:
        """(consumed, delivered) so far.

        Every benchmark record is deliverable: one that is not (an endpoint whose reply the
        vendor module does not read as accepted, say) fails the run here, rather than leave
        it waiting forever for a count it cannot reach."""
        consumed = delivered = 0.0
        for metric in counters.collect():
            for sample in metric.samples:
                if sample.labels.get("vendor") != vendor or not sample.name.endswith("_total"):
                    continue
                if sample.name == "bridge_records_consumed_total":
                    consumed += sample.value
                elif sample.labels["outcome"] == "delivered":
                    delivered += sample.value
                elif sample.value:
                    raise RuntimeError(
                        f"{sample.value:.0f} benchmark records {sample.labels['outcome']} "
                        f"({sample.labels['reason']}) at {vendor}: the run cannot reach its count"
                    )
        return consumed, delivered

    try:
        while True:
            consumed, delivered = counts()
            if delivered >= count:
                break
            if started is None and consumed > 0:
                started = time.perf_counter()
                cpu_started = time.process_time()
            if task.done():
                task.result()
            await asyncio.sleep(POLL_S)
    except Exception:
        if not task.done():  # stop the bridge the run gave up on, then say why
            stop.set()
            await asyncio.wait({task}, timeout=30)
        raise
    assert started is not None
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stop.set()
    await task
    return count / elapsed, cpu / elapsed


async def bare_client_rate(config: Config, base: str, count: int, concurrency: int) -> float:
    """A bare aiohttp client posting the same eSputnik bodies with `concurrency` in flight."""
    vendor = build_vendor("esputnik", config.vendor_settings["esputnik"], f"{base}/esputnik")
    events = SampleEvents(seed=1)
    requests = []
    for i in range(count):
        event = events.product_view()
        event["vendor_ids"] = {"esputnik": f"es-{i}"}
        requests.append(vendor.build_request(vendor.map(EventType.PRODUCT_VIEW, event)))
    queue = iter(requests)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            for request in queue:
                async with session.post(
                    request.url, data=request.body, headers=request.headers
                ) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def wait_for_port(port: int, tries: int = 100) -> None:
    """Until a server listens on 127.0.0.1:`port`, at most `tries` times 50 ms."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def start_endpoint(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.endpoint", str(port), str(latency_ms)])
    wait_for_port(port)
    return process, f"http://127.0.0.1:{port}"
