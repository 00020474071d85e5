"""Five vendors in one bridge process: each vendor's rate alone against its rate beside the
other four, the process's CPU per 1,000 events, and its memory over the run.

Every vendor of the registry runs against its sandbox stand-in (bridge/tools/sandbox, in a
process of its own, every stand-in answering after `LATENCY_MS`), with the settings
`sandbox_settings` gives and otherwise the defaults an operator starts from. The topics hold
a backlog of product views and orders (a quarter of the records); QuickLizard and eSputnik
take both, the other three orders only. Each vendor runs alone in a bridge process (`bridge
run --vendor V`) at the concurrency it gets together (`concurrency: auto` is a fixed 16 in a
shared process), and a vendor that takes one event per request once more with the default,
which `auto` makes adaptive when the vendor is alone; then all five together in one, each run
for `SECONDS` from its first finished record or until it finished its backlog. A vendor's rate
is its finished records (delivered or skipped) per second over its own run; the target is
together/solo >= 0.5.
The sandbox's own CPU over the run together is shown too, to tell whether it was the limit.

An event, for the CPU figure, is one record finished by one vendor: a view both QuickLizard
and eSputnik take is two.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.bridge_process import BridgeProcess, config_tree
from bench.common import PARTITIONS, SCHEMAS, wait_for_port
from bench.rss import cpu_seconds
from bench.table import Row
from bridge.config.vendor import FIXED_CONCURRENCY
from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import LocalBroker, free_port
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox_settings import sandbox_settings
from bridge.vendors import vendor_classes

LATENCY_MS = 20
SECONDS = 15.0
TARGET = 0.5
BUDGET_MB = 250
ORDERS_SHARE = 4
"""One record in this many is an order."""
VIEWS, ORDERS = "bench-fleet-views", "bench-fleet-orders"


def produce(broker: LocalBroker, topic: str, event_type: EventType, count: int) -> None:
    """`count` sample events of `event_type`, none with an email a vendor would refuse."""
    events = SampleEvents(seed=3, bad_email_share=0)
    sample = events.order if event_type is EventType.ORDER else events.product_view
    encoder = AvroEncoder(load_schema(SCHEMAS, event_type))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=encoder.encode(sample()))
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def start_sandbox(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    """The sandbox in a process of its own, every stand-in answering after `latency_ms`."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.tools.sandbox",
            "--port",
            str(port),
            "--keep",
            "0",
            "--fault",
            f"all:latency_ms={latency_ms}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, tries=200)
    return process, f"http://127.0.0.1:{port}"


def vendor_blocks(sandbox: str, workdir: Path, pinned: bool) -> dict[str, Any]:
    """Every vendor of the registry against its stand-in, otherwise with the defaults; with
    `pinned`, at the concurrency `auto` gives each of them in a shared process."""
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    pin = {"concurrency": FIXED_CONCURRENCY} if pinned else {}
    return {
        name: {"base_url": f"{sandbox}/{name}", "settings": settings.block(secrets), **pin}
        for name, settings in sandbox_settings().items()
    }


def measure(
    broker: LocalBroker,
    sandbox: str,
    workdir: Path,
    vendors: tuple[str, ...],
    backlog: dict[str, int],
    pinned: bool = False,
) -> BridgeProcess:
    """One bridge process for `vendors` (all when empty), watched until done."""
    tree = config_tree(broker, VIEWS, ORDERS, vendor_blocks(sandbox, workdir, pinned))
    with BridgeProcess(tree, workdir, vendors) as bridge:
        bridge.watch(backlog, SECONDS)
    return bridge


def fleet(broker: LocalBroker, workdir: Path, records: int) -> list[Row]:
    broker.create_topics({VIEWS: PARTITIONS, ORDERS: PARTITIONS})
    order_count = records // ORDERS_SHARE
    produce(broker, VIEWS, EventType.PRODUCT_VIEW, records - order_count)
    produce(broker, ORDERS, EventType.ORDER, order_count)
    backlog = {
        name: records if EventType.PRODUCT_VIEW in vendor.event_types else order_count
        for name, vendor in vendor_classes().items()
    }
    sandbox, base = start_sandbox(LATENCY_MS)
    try:
        # Alone at the concurrency each vendor has together, so that the ratio compares the
        # same settings; and, for a vendor that `auto` makes adaptive when alone, with it.
        solo = {name: measure(broker, base, workdir, (name,), backlog, True) for name in backlog}
        adaptive = {
            name: measure(broker, base, workdir, (name,), backlog)
            for name, vendor in vendor_classes().items()
            if not vendor.batches
        }
        started, sandbox_cpu = time.monotonic(), cpu_seconds(sandbox.pid)
        together = measure(broker, base, workdir, (), backlog)
        sandbox_cores = (cpu_seconds(sandbox.pid) - sandbox_cpu) / (time.monotonic() - started)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    scenario = f"{len(backlog)} vendors in one process, {LATENCY_MS} ms, {records:,} records"
    rows = []
    for name in backlog:
        alone, beside = solo[name].progress[name].rate(), together.progress[name].rate()
        rows.append(Row(scenario, f"{name} alone", alone, "records/s"))
        rows.append(
            Row(scenario, f"{name} with the others", beside, "records/s", beside / alone, TARGET)
        )
        if name in adaptive:
            auto = adaptive[name].progress[name].rate()
            rows.append(
                Row(scenario, f"{name} alone, auto (adaptive)", auto, "records/s", auto / alone)
            )
    cpu = together.cpu_per_1000()
    rows.append(Row(scenario, "bridge CPU per 1,000 events, together", cpu, "CPU-s"))
    # The stand-ins share a process: if they were the limit, this would be near a core.
    rows.append(Row(scenario, "sandbox CPU, together", sandbox_cores, "cores"))
    return rows + together.trace.rows(scenario, BUDGET_MB)


async def run(broker: LocalBroker, workdir: Path, records: int) -> list[Row]:
    return await asyncio.to_thread(fleet, broker, workdir, records)
