"""The lag gauge while a vendor is down, on Apache Kafka.

An open circuit pauses the vendor's partitions, and a paused partition is not fetched, so the
high watermark cached from fetch responses stops where it was: the gauge read by the alerts
and by KEDA stayed flat through an outage while the backlog grew behind it. The broker's own
end offset is now asked for as well (`bridge/kafka/lag.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import views
from tests.integration.test_failures import FAST_RETRY
from tests.support.apache_kafka import ApacheKafka
from tests.support.kafka import (
    make_config,
    metric,
    produce,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_the_lag_counts_what_arrives_while_a_vendor_is_down(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    topic = unique("views")
    kafka.create_topics({topic: 1})
    async with Sandbox() as sandbox:
        sandbox.set_faults("quicklizard", outage=True)
        block = vendor_block(
            "quicklizard",
            sandbox.base_url("quicklizard"),
            tmp_path,
            retry=FAST_RETRY,
            # Open for the whole test: a half-open circuit resumes the partition for its probe.
            circuit={"failure_threshold": 3, "open_s": 120},
        )
        config = make_config(kafka, {"quicklizard": block}, views=topic, shutdown_deadline_s=2)
        labels = {"vendor": "quicklizard", "topic": topic, "partition": "0"}
        produce(kafka, topic, views(100, 1, "before-"))
        async with running_bridge(config) as registry:

            def lag() -> float:
                return metric(registry, "bridge_consumer_lag_records", **labels)

            await wait_for(
                lambda: metric(registry, "bridge_paused_partitions", vendor="quicklizard") == 1,
                30,
                "the open circuit to pause the partition",
            )
            await wait_for(lambda: lag() == 100, 10, "the lag to count the first records")
            produce(kafka, topic, views(400, 1, "during-"))
            await wait_for(lambda: lag() == 500, 15, "the lag to count what came during the outage")
            assert metric(registry, "bridge_paused_partitions", vendor="quicklizard") == 1
