"""`bridge status` and `bridge check-config --connect` against a real Apache Kafka.

Status needs a real group coordinator (members, committed offsets) and true end offsets, so it
runs on the Apache Kafka fixture, never on Tansu (whose ListOffsets "latest" is off by a batch).
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import cast

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from bridge.commands.connect import run_checks
from bridge.commands.status import collect, render, to_json
from bridge.config import validate_config
from bridge.kafka.offsets import commit_metadata
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import accepted_ids, views
from tests.support.apache_kafka import ApacheKafka, free_port
from tests.support.kafka import (
    committed,
    config_dict,
    produce,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration


def committed_or_none(broker: LocalBroker, group: str, topic: str) -> dict[int, int] | None:
    try:
        return committed(broker, group, topic, 2)
    except KafkaException:  # the coordinator is still loading the group
        return None


async def test_status_figures_agree_with_what_kafka_holds(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    broker = cast(LocalBroker, kafka)
    topic, dlq = unique("views"), unique("dlq")
    kafka.create_topics({topic: 2, dlq: 1})
    produce(broker, topic, views(40, 2, ""))
    produce(broker, topic, [(1, b"bad", b"\x00not avro")])  # one dead letter, class decode
    port = free_port()
    async with Sandbox() as sandbox:
        block = vendor_block("quicklizard", sandbox.base_url("quicklizard"), tmp_path)
        raw = config_dict(broker, {"quicklizard": block}, views=topic, dead_letter=dlq)
        raw["http"] = {"host": "127.0.0.1", "port": port}
        config = validate_config(raw)
        group = f"{config.kafka.group_prefix}.quicklizard"
        async with running_bridge(config):
            await wait_for(
                lambda: committed_or_none(broker, group, topic) == {0: 20, 1: 21},
                60,
                "everything delivered and committed",
                interval_s=0.5,
            )
            assert len(accepted_ids(sandbox, "quicklizard")) == 40
            running = await asyncio.to_thread(collect, config, None, f"http://127.0.0.1:{port}")
        [live] = running
        assert live.state == "stable"
        assert len(live.members) == 1
        assert sorted(live.members[0].partitions) == [f"{topic}[0]", f"{topic}[1]"]
        assert live.instance is not None
        assert (live.instance.circuit, live.instance.ready) == ("closed", True)
        assert live.instance.paused_partitions == 0
        assert live.dead_letters_last_hour == {"decode": 1}

    # Stopped: more records arrive, and one commit carries its time in the metadata.
    produce(broker, topic, [(0, None, b"x")] * 5)
    stamper = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    try:
        stamper.commit(
            offsets=[TopicPartition(topic, 1, 21, metadata=commit_metadata(time.time() - 30))],
            asynchronous=False,
        )
    finally:
        stamper.close()
    [stopped] = await asyncio.to_thread(collect, config)
    rows = {p.partition: p for p in stopped.partitions}
    assert (rows[0].committed, rows[0].end, rows[0].lag) == (20, 25, 5)
    assert (rows[1].committed, rows[1].end, rows[1].lag) == (21, 21, 0)
    assert stopped.lag == 5
    assert stopped.members == []
    assert stopped.state == "empty"
    # The bridge's own commits carry their time too: partition 0 was committed moments ago.
    assert rows[0].last_commit_age_s is not None
    assert rows[0].last_commit_age_s < 60
    assert rows[1].last_commit_age_s is not None
    assert 29 <= rows[1].last_commit_age_s < 90
    table = render([stopped])
    assert "quicklizard" in table
    assert "decode 1" in table
    assert "lag 5" in table
    assert '"lag": 5' in to_json([stopped])


async def test_connect_names_a_missing_topic_and_an_unreachable_vendor(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    broker = cast(LocalBroker, kafka)
    views_topic, missing, dlq = unique("views"), unique("orders-missing"), unique("dlq")
    kafka.create_topics({views_topic: 1, dlq: 1})
    closed = free_port()  # nothing listens there
    async with Sandbox() as sandbox:
        raw = config_dict(
            broker,
            {
                "quicklizard": vendor_block(
                    "quicklizard", f"http://127.0.0.1:{closed}/quicklizard", tmp_path
                ),
                "esputnik": vendor_block("esputnik", sandbox.base_url("esputnik"), tmp_path),
            },
            views=views_topic,
            orders=missing,
            dead_letter=dlq,
        )
        config = validate_config(raw)
        out = io.StringIO()
        ok = await asyncio.to_thread(run_checks, config, True, out)
        await asyncio.sleep(0.2)  # the sandbox sees the probe's connection close
    text = out.getvalue()
    assert not ok, text
    lines = text.splitlines()
    assert f"topic {missing} (order input): FAILED (missing)" in lines
    assert any(
        line.startswith(f"vendor quicklizard http://127.0.0.1:{closed}: FAILED") for line in lines
    ), text
    assert any(line.startswith("vendor esputnik ") and ": ok (" in line for line in lines), text
    assert any(line.startswith(f"topic {views_topic} (product_view input): ok") for line in lines)
    assert any(line.startswith(f"broker {kafka.bootstrap} (PLAINTEXT): ok") for line in lines)
    assert any(line.startswith(f"group {config.kafka.group_prefix}.esputnik: ok") for line in lines)
    assert any(line.startswith("schema order (") for line in lines)
    assert f"failed: topic {missing} (order input), vendor quicklizard" in text
    # Asking never created the missing topic.
    metadata = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "x"})
    try:
        assert missing not in metadata.list_topics(timeout=10).topics
    finally:
        metadata.close()
