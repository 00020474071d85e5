"""Ordering by key, bounded in-flight work, graceful shutdown and the health endpoints."""

from __future__ import annotations

import asyncio
import signal
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker, free_port
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import accepted_ids, views
from tests.integration.test_failures import FAST_RETRY, start_bridge
from tests.support.kafka import (
    committed,
    config_dict,
    encoder,
    make_config,
    metric,
    produce,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_same_key_records_reach_the_vendor_in_offset_order_despite_retries(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic = unique("views")
    broker.create_topics({topic: 1})
    events, enc = SampleEvents(seed=5), encoder(EventType.PRODUCT_VIEW)
    records = []
    for seq in range(40):
        for key in range(5):
            event = events.product_view()
            event["product_id"] = f"k{key}-{seq}"
            event["url"] = "https://shop.example.com/p/x"
            records.append((0, f"key-{key}".encode(), enc.encode(event)))
    produce(broker, topic, records)
    async with Sandbox(seed=3) as sandbox:
        sandbox.set_faults("quicklizard", error_rate=0.3, latency_ms=5)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=8,
            batch={"max_events": 3, "linger_ms": 0},
            retry=FAST_RETRY,
            circuit={"failure_threshold": 50, "open_s": 0.2},
        )
        config = make_config(broker, {"quicklizard": block}, views=topic)
        async with running_bridge(config):
            await wait_for(
                lambda: len(set(accepted_ids(sandbox, "quicklizard"))) == 200, 60, "all 200"
            )
        retried = sandbox.stats()["quicklizard"]["by_status"].get("503", 0)
    assert retried > 10, "the test needs retries to mean anything"
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for product_id in accepted_ids(sandbox, "quicklizard"):
        if product_id not in seen:
            seen.add(product_id)
            product_key, number = product_id.split("-")
            first_seen[product_key].append(int(number))
    for product_key, sequence in first_seen.items():
        assert sequence == sorted(sequence), f"{product_key} overtaken: {sequence}"


async def test_in_flight_records_stay_bounded_while_the_vendor_is_slow(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic = unique("views")
    broker.create_topics({topic: 2})
    produce(broker, topic, views(4_000, 2, ""))
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", latency_ms=200)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=2,
            max_in_flight_records=100,
            batch={"max_events": 10, "linger_ms": 0},
        )
        config = make_config(broker, {"quicklizard": block}, views=topic, shutdown_deadline_s=1)
        peak = 0.0
        async with running_bridge(config) as registry:
            await wait_for(
                lambda: (
                    metric(
                        registry, "bridge_records_consumed_total", vendor="quicklizard", topic=topic
                    )
                    > 0
                ),
                20,
                "consumption to start",
            )
            for _ in range(30):
                await asyncio.sleep(0.1)
                consumed = metric(
                    registry, "bridge_records_consumed_total", vendor="quicklizard", topic=topic
                )
                delivered = metric(
                    registry,
                    "bridge_records_total",
                    vendor="quicklizard",
                    outcome="delivered",
                    reason="",
                )
                peak = max(peak, consumed - delivered)
            paused = metric(registry, "bridge_paused_partitions", vendor="quicklizard")
    # The limit holds exactly: each fetch takes at most the room left under it.
    assert 0 < peak <= 100, peak
    assert paused > 0


async def test_sigterm_drains_commits_and_exits_cleanly_with_health_endpoints(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic = unique("views")
    broker.create_topics({topic: 1})
    produce(broker, topic, views(300, 1, ""))
    port = free_port()
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", latency_ms=100)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=2,
            batch={"max_events": 5, "linger_ms": 0},
        )
        raw = config_dict(broker, {"quicklizard": block}, views=topic, shutdown_deadline_s=10)
        raw["http"]["port"] = port
        group = f"{raw['kafka']['group_prefix']}.quicklizard"
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(raw))
        process = start_bridge(path, tmp_path / "bridge.log")
        try:
            await wait_for(lambda: probe(port, "/healthz") == 200, 20, "/healthz to answer 200")
            await wait_for(lambda: probe(port, "/readyz") == 200, 20, "/readyz after joining")
            await wait_for(
                lambda: len(accepted_ids(sandbox, "quicklizard")) >= 50, 30, "deliveries"
            )
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 20)
        finally:
            if process.poll() is None:
                process.kill()
        assert code == 0
        delivered = set(accepted_ids(sandbox, "quicklizard"))
    position = committed(broker, group, topic, 1)[0]
    # Everything below the committed offset reached the vendor; the drain committed the rest
    # of what was done, so the committed offset is not behind the deliveries.
    assert position >= 50
    assert {f"p0-{i}" for i in range(position)} <= delivered
    assert len(delivered) <= position + 10  # only a last in-flight request may be past it
    assert "drain_incomplete" not in (tmp_path / "bridge.log").read_text()


def probe(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0
