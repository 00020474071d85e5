"""Added latency: how long after its produce time a record reaches the vendor, through the
bridge and through a plain consumer, in one run.

Records are produced at a steady rate (1,000/s, and half the bridge's saturating rate, probed
first in the same run the way the batching scenario measures it) by a producer in its own
process, each carrying its produce time as its QuickLizard visitor id; `bench.latency_endpoint`
(0 ms, QuickLizard shape) notes for each event it accepts the time since then. Two consumer
groups take the records: the bridge (QuickLizard, concurrency 8, batches of 500, the default
linger), and, in a process of its own, a plain confluent-kafka consumer with the bridge's
consumer settings that posts whatever it has the moment it has it (poll for one record, take
what else is fetched already, map, post, repeat). At 1,000/s both take the same topic at once,
so that the machine's noise (these cores are shared) falls on both alike; at half the
saturating rate they take a topic each, one after the other, since both at once with the
producer would need more than the two cores. Records produced in the first second are left
out (fetch sessions settling). While records flow, both consumers run on one half of the CPUs
and the broker, the producer and the endpoint on the other (`bench.cpus` says why).

Targets: the bridge's p50 within the plain consumer's p50 + linger + 10 ms, its p99 within the
plain p99 + linger + 50 ms. A row's ratio is that allowance over the bridge's figure: at least
1 meets the target.

    python -m bench.latency BOOTSTRAP TOPIC RATE SECONDS   (the producer, run by the scenario)
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import statistics
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from bench.common import (
    PARTITIONS,
    SCHEMAS,
    bridge_config,
    bridge_rate,
    produce_views,
    start_endpoint,
)
from bench.cpus import consumers_apart, pin
from bench.table import Row
from bridge.app import run
from bridge.config import Config
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, AvroEncoder
from bridge.tools.localbroker import LocalBroker, free_port
from bridge.tools.sample import SampleEvents
from bridge.vendors import build_vendor

VENDOR = "quicklizard"
PLAIN, BRIDGE = "plain", "bridge"
"""The senders, as the endpoint tells them apart (the first part of the path)."""
EXTRA = {"concurrency": 8, "batch": {"max_events": 500}}
"""The batching scenario's settings; the linger is the default."""
WARM_UP_S = 1.0
DRAIN_S = 60.0
"""How long the last records may take to arrive before the run is called failed."""


async def latency(broker: LocalBroker, secrets: Path, records: int, seconds: float) -> list[Row]:
    saturating = await _saturating_rate(broker, secrets, records)
    port = free_port()
    endpoint = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.latency_endpoint", str(port)
    )
    base = f"http://127.0.0.1:{port}"
    rows = [Row("added latency", "saturating rate (probe)", saturating, "records/s")]
    assert broker.pid is not None
    try:
        await _wait_for(base)
        with consumers_apart([broker.pid, endpoint.pid]) as feeders:
            for rate, together in ((1000, True), (int(saturating / 2), False)):
                config = _config(broker, secrets, base)
                if together:
                    plain, bridge = await _deliver(
                        config, base, rate, seconds, feeders, PLAIN, BRIDGE
                    )
                else:
                    [plain] = await _deliver(config, base, rate, seconds, feeders, PLAIN)
                    config = _config(broker, secrets, base)
                    [bridge] = await _deliver(config, base, rate, seconds, feeders, BRIDGE)
                linger = config.vendors[VENDOR].batch.linger_ms
                rows.extend(_rows(rate, seconds, together, linger, plain, bridge))
    finally:
        endpoint.terminate()
        await endpoint.wait()
    return rows


def _config(broker: LocalBroker, secrets: Path, base: str) -> Config:
    """The bridge's config for a fresh topic."""
    topic = f"bench-latency-{time.time_ns()}"
    broker.create_topics({topic: PARTITIONS, f"{topic}-orders": 1})
    return bridge_config(broker, VENDOR, f"{base}/{BRIDGE}", topic, EXTRA, secrets)


def _rows(
    rate: int,
    seconds: float,
    together: bool,
    linger: float,
    plain: list[float],
    bridge: list[float],
) -> list[Row]:
    how = "at once" if together else "one after the other"
    scenario = (
        f"added latency, {rate:,}/s for {seconds:g} s, {how}, 0 ms vendor, linger {linger:g} ms"
    )
    rows = []
    for name, q, slack in (("p50", 50, 10), ("p99", 99, 50)):
        reference, value = _percentile(plain, q), _percentile(bridge, q)
        allowance = reference + linger + slack
        rows.append(Row(scenario, f"plain consumer {name} (reference)", reference, "ms"))
        rows.append(Row(scenario, f"bridge {name}", value, "ms", allowance / value, 1.0))
    return rows


def _percentile(latencies: list[float], q: int) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[q - 1]


async def _saturating_rate(broker: LocalBroker, secrets: Path, records: int) -> float:
    topic = f"bench-latency-probe-{time.time_ns()}"
    broker.create_topics({topic: PARTITIONS, f"{topic}-orders": 1})
    produce_views(broker, topic, records)
    endpoint, base = start_endpoint(0)
    try:
        config = bridge_config(broker, VENDOR, base, topic, EXTRA, secrets)
        rate, _ = await bridge_rate(config, VENDOR, records)
    finally:
        endpoint.terminate()
    return rate


async def _deliver(
    config: Config, base: str, rate: int, seconds: float, feeders: set[int], *senders: str
) -> list[list[float]]:
    """The latencies of each sender (`PLAIN`, `BRIDGE`), all taking the config's topic at once;
    the producer runs on the `feeders` CPUs."""
    topic = config.topics.product_views[0].name
    spawn = multiprocessing.get_context("spawn")  # not a fork of a process running threads
    assigned, stop_plain = spawn.Event(), spawn.Event()
    plain = spawn.Process(
        target=plain_consumer,
        args=(config, f"{base}/{PLAIN}", topic, assigned, stop_plain),
        name="plain-consumer",
        daemon=True,
    )
    if PLAIN in senders:
        plain.start()
    else:
        assigned.set()
    registry = CollectorRegistry()
    stop_bridge = asyncio.Event()
    bridge = asyncio.create_task(
        run(config, registry=registry, stop=stop_bridge)
        if BRIDGE in senders
        else stop_bridge.wait()
    )
    try:
        ready = {"vendor": VENDOR}
        while not assigned.is_set() or (
            BRIDGE in senders and registry.get_sample_value("bridge_pipeline_ready", ready) != 1
        ):
            if bridge.done():
                bridge.result()
            if PLAIN in senders and not plain.is_alive():
                raise RuntimeError("the plain consumer ended before it was assigned")
            await asyncio.sleep(0.05)
        bootstrap = config.kafka.bootstrap_servers
        started, count = await _produce(bootstrap, topic, rate, seconds, feeders)
        return await asyncio.gather(*(_collect(base, sender, started, count) for sender in senders))
    finally:
        stop_plain.set()
        stop_bridge.set()
        await bridge
        if PLAIN in senders:
            await asyncio.to_thread(plain.join, 30)


def plain_consumer(config: Config, base: str, topic: str, assigned: Event, stop: Event) -> None:
    """Poll, post what was fetched at once, repeat: the least a consumer can add."""
    decoder = AvroDecoder(load_schema(SCHEMAS, EventType.PRODUCT_VIEW), "avro")
    vendor = build_vendor(VENDOR, config.vendor_settings[VENDOR], f"{base}/{VENDOR}")
    max_events = config.vendors[VENDOR].batch.max_events
    consumer = Consumer(
        {
            **config.kafka.consumer_config(VENDOR),
            "group.id": f"bench-plain-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    consumer.subscribe([topic], on_assign=lambda *_: assigned.set())
    connection = http.client.HTTPConnection(urlsplit(base).netloc)
    try:
        while not stop.is_set():
            first = consumer.poll(0.1)
            if first is None:
                continue
            messages = [first, *consumer.consume(max_events - 1, 0)]
            items = [
                item
                for message in messages
                if message.error() is None
                for item in vendor.map(EventType.PRODUCT_VIEW, decoder.decode(message.value()))
            ]
            request = vendor.build_request(items)
            connection.request("POST", urlsplit(request.url).path, request.body, request.headers)
            connection.getresponse().read()
    finally:
        connection.close()
        consumer.close()


async def _produce(
    bootstrap: str, topic: str, rate: int, seconds: float, cpus: set[int]
) -> tuple[float, int]:
    """Runs the producer (below) in its own process on `cpus`: its start (wall clock) and
    count."""
    producer = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.latency", bootstrap, topic, str(rate), str(seconds)),
        stdout=asyncio.subprocess.PIPE,
    )
    pin(producer.pid, cpus)
    out, _ = await producer.communicate()
    if producer.returncode:
        raise RuntimeError(f"the latency producer failed ({producer.returncode})")
    started, count = out.split()
    return float(started), int(count)


async def _collect(base: str, sender: str, started: float, count: int) -> list[float]:
    """The latencies of what `sender` delivered, once all `count` records arrived."""
    seen: list[list[float]] = []
    deadline = time.monotonic() + DRAIN_S
    async with aiohttp.ClientSession() as session:
        while len(seen) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sender}: {len(seen)} of {count} records arrived in time")
            await asyncio.sleep(0.2)
            async with session.get(f"{base}/_latencies/{sender}") as reply:
                seen.extend(await reply.json())
    return [ms for produced, ms in seen if produced >= started + WARM_UP_S]


async def _wait_for(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"{base}/_latencies/plain") as reply:
                    await reply.read()
                return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the latency endpoint did not start")


def produce_steadily(bootstrap: str, topic: str, rate: float, seconds: float) -> tuple[float, int]:
    """`rate` records a second for `seconds`, each with its produce time as its QuickLizard
    visitor id; the start (wall clock) and the count."""
    # Encoded once with a stand-in for the time, which has the same length (Avro writes a
    # string's length before it) and is then replaced: the producer stays cheap at any rate.
    stand_in = f"{time.time():.6f}".encode().replace(b"0", b"9")
    encoder = AvroEncoder(load_schema(SCHEMAS, EventType.PRODUCT_VIEW))
    sample = SampleEvents(seed=1)
    values = []
    for _ in range(1000):
        event = sample.product_view()
        event["url"] = "https://shop.example.com/p/x"
        event["vendor_ids"] = {VENDOR: stand_in.decode()}
        before, after = encoder.encode(event).split(stand_in)
        values.append((before, after))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    total = int(rate * seconds)
    started, clock = time.time(), time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - clock) * rate) + 1)
        while sent < due:
            before, after = values[sent % len(values)]
            value = b"%s%.6f%s" % (before, time.time(), after)
            producer.produce(topic, key=b"k%d" % sent, value=value)
            sent += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(30)
    return started, sent


if __name__ == "__main__":
    bootstrap_, topic_, rate_, seconds_ = sys.argv[1:5]
    start_, count_ = produce_steadily(bootstrap_, topic_, float(rate_), float(seconds_))
    print(start_, count_)
