"""Memory: one pipeline over a backlog it cannot drain quickly, run for a bounded time.

The topic holds `BACKLOG` product views (`FULL_BACKLOG` with ``--full``); the vendor takes one
request per event and answers after 50 ms (eSputnik shape, `bench.endpoint`), with a modest
concurrency, so the backlog stays in Kafka while the bridge works through it. The bridge runs
in a process of its own (`bench.bridge_process`) for `SECONDS` (`FULL_SECONDS`) from its first
delivered record. Target: peak RSS < 120 MB, and flat after warm-up (`bench.rss`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.bridge_process import BridgeProcess, config_tree
from bench.common import PARTITIONS, produce_views, start_endpoint
from bench.table import Row
from bridge.tools.localbroker import LocalBroker

BACKLOG, FULL_BACKLOG = 100_000, 1_000_000
SECONDS, FULL_SECONDS = 60.0, 180.0
LATENCY_MS = 50
CONCURRENCY = 16
BUDGET_MB = 120


def memory(broker: LocalBroker, workdir: Path, full: bool) -> list[Row]:
    backlog, seconds = (FULL_BACKLOG, FULL_SECONDS) if full else (BACKLOG, SECONDS)
    topic = f"bench-memory-{backlog}"
    broker.create_topics({topic: PARTITIONS, f"{topic}-orders": 1})
    produce_views(broker, topic, backlog)
    key = workdir / "memory-key"
    key.write_text("bench-key")
    endpoint, base = start_endpoint(LATENCY_MS)
    try:
        vendor = {
            "base_url": f"{base}/esputnik",
            "settings": {"api_key": {"file": str(key)}},
            "concurrency": CONCURRENCY,
        }
        tree = config_tree(broker, topic, f"{topic}-orders", {"esputnik": vendor})
        with BridgeProcess(tree, workdir) as bridge:
            bridge.watch({"esputnik": backlog}, seconds)
    finally:
        endpoint.terminate()
    progress = bridge.progress["esputnik"]
    scenario = (
        f"memory: {backlog:,}-record backlog, one request per event, {LATENCY_MS} ms, "
        f"concurrency {CONCURRENCY}"
    )
    return [
        Row(scenario, "bridge", progress.rate(), "records/s"),
        Row(
            scenario,
            "backlog left in Kafka at the end",
            backlog - progress.points[-1][1],
            "records",
        ),
        *bridge.trace.rows(scenario, BUDGET_MB),
    ]


async def run(broker: LocalBroker, workdir: Path, full: bool) -> list[Row]:
    return await asyncio.to_thread(memory, broker, workdir, full)
