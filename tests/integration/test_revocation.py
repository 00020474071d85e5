"""A revocation while records are in flight at a slow vendor, on Apache Kafka's real coordinator.

The committed offset must never pass the prefix of records that are done (delivered, or refused
and dead-lettered): a revoked partition's records that are still in flight when the wait runs
out are left to the next owner, never committed as if they were done.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from bridge.tools.localbroker import CONSUMER_PROPERTIES
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import views
from tests.support.apache_kafka import ApacheKafka
from tests.support.kafka import (
    committed,
    make_config,
    produce,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2


def done_prefix(sandbox: Sandbox, partition: int) -> int:
    """Offsets 0..n-1 of `partition` that the vendor accepted or refused (so are done)."""
    done = {
        item["product_id"]
        for request in sandbox.received("quicklizard")
        for item in (*request["accepted"], *request["rejected"])
    }
    prefix = 0
    while f"p{partition}-{prefix}" in done:
        prefix += 1
    return prefix


class Intruder(threading.Thread):
    """A plain member of the bridge's group: its joining revokes a partition from the bridge."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        super().__init__(daemon=True)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "partition.assignment.strategy": "cooperative-sticky",
                **CONSUMER_PROPERTIES,
            }
        )
        self._topic = topic
        self.assigned = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        self._consumer.subscribe(
            [self._topic], on_assign=lambda consumer, partitions: self._on_assign(partitions)
        )
        while not self.stop.is_set():
            self._consumer.poll(0.1)  # reads, never commits
        self._consumer.close()

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.assigned.set()


async def test_a_revocation_never_commits_past_the_done_prefix(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    topic = unique("views")
    kafka.create_topics({topic: PARTITIONS})
    produce(kafka, topic, views(400, PARTITIONS, ""))
    async with Sandbox() as sandbox:
        # Slower than the revocation wait: records are still in flight when it runs out.
        sandbox.set_faults("quicklizard", latency_ms=1500)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            concurrency=8,
            batch={"max_events": 5, "linger_ms": 0},
        )
        config = make_config(
            kafka,
            {"quicklizard": block},
            views=topic,
            revoke_timeout_s=0.3,
            commit_interval_s=0.1,
            shutdown_deadline_s=2,
        )
        group = f"{config.kafka.group_prefix}.quicklizard"
        violations: list[str] = []
        samples = 0
        async with running_bridge(config):
            await wait_for(lambda: done_prefix(sandbox, 0) >= 5, 30, "deliveries started")
            intruder = Intruder(kafka.bootstrap, group, topic)
            intruder.start()
            try:
                loop = asyncio.get_running_loop()
                until = loop.time() + 8
                while loop.time() < until:
                    offsets = await asyncio.to_thread(
                        committed,
                        kafka,
                        group,
                        topic,
                        PARTITIONS,
                    )
                    samples += 1
                    for partition, offset in offsets.items():
                        prefix = done_prefix(sandbox, partition)  # read after the commit
                        if offset > prefix:
                            violations.append(f"p{partition}: committed {offset} > done {prefix}")
                    await asyncio.sleep(0.1)
                assert intruder.assigned.is_set(), "the intruder never took a partition"
            finally:
                intruder.stop.set()
                await asyncio.to_thread(intruder.join, 15)
    assert samples > 20
    assert violations == []
