"""Opt-in soak (`make soak`): memory stays flat over a million-record backlog.

The bridge runs as its own process against a slow vendor, so the backlog stays in Kafka; its
resident memory is sampled while it works through the first part of the backlog. Flat means:
the growth between the first and the last third of the samples is small, whatever the size of
the backlog. BRIDGE_SOAK_RECORDS sets the backlog (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import yaml

from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import views
from tests.integration.test_failures import start_bridge
from tests.support.kafka import config_dict, produce, unique, vendor_block, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.soak]

RECORDS = int(os.environ.get("BRIDGE_SOAK_RECORDS", "1000000"))
SAMPLES = 30


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_memory_stays_flat_over_a_large_backlog(broker: LocalBroker, tmp_path: Path) -> None:
    topic = unique("views")
    broker.create_topics({topic: 4})
    batch = views(10_000, 4, "")
    for _ in range(RECORDS // len(batch)):
        produce(broker, topic, batch)
    async with Sandbox(keep=100) as sandbox:
        sandbox.set_faults("quicklizard", latency_ms=100)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=4,
            batch={"max_events": 50},
        )
        raw = config_dict(broker, {"quicklizard": block}, views=topic)
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(raw))
        process = start_bridge(path, tmp_path / "bridge.log")
        try:
            await wait_for(lambda: sandbox.stats()["quicklizard"]["accepted"] > 0, 60, "delivery")
            samples = []
            for _ in range(SAMPLES):
                samples.append(rss_mib(process.pid))
                await asyncio.sleep(1)
            delivered = sandbox.stats()["quicklizard"]["accepted"]
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
    third = SAMPLES // 3
    early, late = max(samples[:third]), max(samples[-third:])
    print(f"\nsoak: backlog {RECORDS}, delivered {delivered} while sampling, RSS MiB {samples}")
    assert delivered < RECORDS  # the backlog was still there at the end of the sampling
    assert late - early < 20, f"RSS grew from {early:.0f} to {late:.0f} MiB"
    assert late < 300
