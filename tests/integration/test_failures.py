"""The delivery guarantee under failure: kill -9, rebalance, vendor outage, refused credentials."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import accepted_ids, views
from tests.support.kafka import (
    committed,
    config_dict,
    done,
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

FAST_RETRY = {"initial_backoff_s": 0.05, "max_backoff_s": 1.0}


def start_bridge(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def all_delivered_and_committed(
    sandbox: Sandbox, broker: LocalBroker, group: str, topic: str, partitions: int, total: int
) -> None:
    """Every record reached QuickLizard and the group committed up to the end offsets.

    The end offsets are the produced counts (Tansu's ListOffsets answer for "latest" is not
    the end offset, so it is not asked).
    """
    await wait_for(
        lambda: len(set(accepted_ids(sandbox, "quicklizard"))) == total,
        120,
        "every record delivered",
    )
    end = {p: total // partitions for p in range(partitions)}
    await wait_for(
        lambda: committed(broker, group, topic, partitions) == end,
        30,
        "committed offsets at the end offsets",
        interval_s=0.5,
    )


async def test_kill_9_mid_stream_loses_nothing_and_duplicates_only_uncommitted_records(
    broker: LocalBroker, tmp_path: Path
) -> None:
    partitions, total = 4, 10_000
    topic, dlq = unique("views"), unique("dlq")
    broker.create_topics({topic: partitions, dlq: 1})
    produce(broker, topic, views(total, partitions, ""))
    async with Sandbox(seed=11) as sandbox:
        sandbox.set_faults("quicklizard", error_rate=0.2, latency_ms=40)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=8,
            batch={"max_events": 20, "linger_ms": 5},
            retry=FAST_RETRY,
            circuit={"failure_threshold": 10, "open_s": 0.5},
        )
        raw = config_dict(
            broker, {"quicklizard": block}, views=topic, dead_letter=dlq, log={"format": "text"}
        )
        group = f"{raw['kafka']['group_prefix']}.quicklizard"
        config_path = tmp_path / "bridge.yaml"
        config_path.write_text(yaml.safe_dump(raw))
        log_path = tmp_path / "bridge.log"

        started = asyncio.get_running_loop().time()
        first = start_bridge(config_path, log_path)
        try:
            await wait_for(
                lambda: len(accepted_ids(sandbox, "quicklizard")) >= total // 3,
                90,
                "a third of the records delivered before the kill",
            )
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        at_kill = committed(broker, group, topic, partitions)
        delivered_before_restart = len(accepted_ids(sandbox, "quicklizard"))
        assert delivered_before_restart < total, "the kill must land mid-stream"

        second = start_bridge(config_path, log_path)
        try:
            await all_delivered_and_committed(sandbox, broker, group, topic, partitions, total)
            elapsed = asyncio.get_running_loop().time() - started
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(40) == 0

    ids = accepted_ids(sandbox, "quicklizard")
    counts = Counter(ids)
    assert set(counts) == {f"p{p}-{i}" for p in range(partitions) for i in range(total // 4)}
    duplicates = [key for key, n in counts.items() if n > 1]
    for key in duplicates:
        partition, offset = key[1:].split("-")
        # Only records at or past the committed offset at the kill may come twice.
        assert int(offset) >= at_kill[int(partition)], (key, at_kill)
    stats = sandbox.stats()["quicklizard"]
    print(
        f"\ncrash test: {total} records, {len(duplicates)} duplicates, "
        f"{stats['by_status'].get('503', 0)} injected 503s, "
        f"{total / elapsed:.0f} records/s overall including the restart; "
        f"committed at kill: {at_kill}"
    )
    assert read_topic(broker, dlq, 1, timeout_s=3) == []


async def test_second_instance_joining_mid_stream_loses_nothing(
    broker: LocalBroker, tmp_path: Path
) -> None:
    partitions, total = 6, 3_000
    topic = unique("views")
    broker.create_topics({topic: partitions})
    records = views(total, partitions, "")
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", latency_ms=20)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=4,
            batch={"max_events": 10, "linger_ms": 5},
        )
        config = make_config(broker, {"quicklizard": block}, views=topic, revoke_timeout_s=5)
        group = f"{config.kafka.group_prefix}.quicklizard"
        produce(broker, topic, records[: total // 2])
        async with running_bridge(config) as first:
            await wait_for(
                lambda: (
                    metric(
                        first,
                        "bridge_records_total",
                        vendor="quicklizard",
                        outcome="delivered",
                        reason="",
                    )
                    >= 300
                ),
                30,
                "the first instance delivering",
            )
            async with running_bridge(config) as second:
                # Keep records coming while the group rebalances, so both instances see some.
                rest = records[total // 2 :]
                step = len(rest) // 10
                for start in range(0, len(rest), step):
                    produce(broker, topic, rest[start : start + step])
                    await asyncio.sleep(0.5)
                await all_delivered_and_committed(sandbox, broker, group, topic, partitions, total)
                by_second = metric(
                    second,
                    "bridge_records_total",
                    vendor="quicklizard",
                    outcome="delivered",
                    reason="",
                )
    assert by_second > 0, "the second instance should have taken partitions over"
    assert set(accepted_ids(sandbox, "quicklizard")) == {
        f"p{p}-{i}" for p in range(partitions) for i in range(total // partitions)
    }


async def test_one_vendor_down_does_not_hold_back_another(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic = unique("views")
    broker.create_topics({topic: 2})
    records = views(1_000, 2, "")
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", outage=True)
        vendors = {
            "quicklizard": vendor_block(
                "quicklizard",
                sandbox.base_url("quicklizard"),
                tmp_path,
                retry=FAST_RETRY,
                circuit={"failure_threshold": 3, "open_s": 0.5},
            ),
            "esputnik": vendor_block(
                "esputnik", sandbox.base_url("esputnik"), tmp_path, concurrency=32
            ),
        }
        config = make_config(broker, vendors, views=topic)
        produce(broker, topic, records)
        async with running_bridge(config) as registry:
            await wait_for(
                lambda: done(registry, "esputnik") == 1_000,
                60,
                "eSputnik delivering everything while QuickLizard is down",
            )
            assert sandbox.stats()["esputnik"]["accepted"] > 500
            assert len(accepted_ids(sandbox, "quicklizard")) == 0
            assert (
                metric(registry, "bridge_circuit_state", vendor="quicklizard", state="closed") == 0
            )
            assert metric(registry, "bridge_paused_partitions", vendor="esputnik") == 0
            sandbox.set_faults("quicklizard", outage=False)
            await wait_for(
                lambda: len(set(accepted_ids(sandbox, "quicklizard"))) == 1_000,
                60,
                "QuickLizard catching up after its outage",
            )
            assert (
                metric(registry, "bridge_circuit_state", vendor="quicklizard", state="closed") == 1
            )


async def test_refused_credentials_pause_the_pipeline_without_dead_letters(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topic, dlq = unique("views"), unique("dlq")
    broker.create_topics({topic: 1, dlq: 1})
    produce(broker, topic, views(200, 1, ""))
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", status_override=401)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            retry={"credentials_probe_s": 0.5},
        )
        config = make_config(broker, {"quicklizard": block}, views=topic, dead_letter=dlq)
        group = f"{config.kafka.group_prefix}.quicklizard"
        async with running_bridge(config) as registry:
            await wait_for(
                lambda: metric(registry, "bridge_credentials_refused", vendor="quicklizard") == 1,
                20,
                "the refusal to be reported",
            )
            await asyncio.sleep(1.5)  # several probes go out meanwhile
            assert metric(registry, "bridge_pipeline_ready", vendor="quicklizard") == 0
            assert committed(broker, group, topic, 1)[0] < 0  # nothing committed
            assert sandbox.stats()["quicklizard"]["by_status"].get("401", 0) >= 2
            sandbox.set_faults("quicklizard", status_override=None)
            await wait_for(
                lambda: len(set(accepted_ids(sandbox, "quicklizard"))) == 200,
                30,
                "delivery once the key works again",
            )
            await wait_for(
                lambda: metric(registry, "bridge_pipeline_ready", vendor="quicklizard") == 1,
                10,
                "ready again",
            )
    assert read_topic(broker, dlq, 1, timeout_s=3) == []
