"""The outcome topic and `bridge trace`: did order X reach each vendor, and if not, why?"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from bridge.cli import main
from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.integration.test_policies import orders
from tests.support.kafka import (
    config_dict,
    encoder,
    has_done,
    make_config,
    produce,
    read_topic,
    running_bridge,
    unique,
    value_of,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_every_outcome_is_written_and_trace_tells_one_orders_story(
    broker: LocalBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, dlq, outcomes = unique("orders"), unique("dlq"), unique("outcomes")
    broker.create_topics({topic: 2, dlq: 1, outcomes: 3})
    events = orders(12)
    events[4]["customer"]["email"] = None  # skipped by Squeezely, dead-lettered by policy at VT
    events[6]["customer"]["email"] = "broken-address"  # refused by both
    enc = encoder(EventType.ORDER)
    produce(
        broker,
        topic,
        [(n % 2, e["order_id"].encode(), enc.encode(e)) for n, e in enumerate(events)],
    )
    async with Sandbox() as sandbox:
        vendors = {
            "squeezely": vendor_block("squeezely", sandbox.base_url("squeezely"), tmp_path),
            "vtmarketing": vendor_block(
                "vtmarketing",
                sandbox.base_url("vtmarketing"),
                tmp_path,
                on_unmappable="dead-letter",
            ),
        }
        raw = config_dict(
            broker,
            vendors,
            orders=topic,
            dead_letter=dlq,
            outcomes={"enabled": True, "topic": outcomes},
        )
        config = make_config(
            broker,
            vendors,
            orders=topic,
            dead_letter=dlq,
            outcomes={"enabled": True, "topic": outcomes},
        )
        async with running_bridge(config) as registry:
            for name in vendors:
                await wait_for(has_done(registry, name, 12), 30, f"{name} done")

    records = read_topic(broker, outcomes, 24)
    assert len(records) == 24
    values = [orjson.loads(value_of(m)) for m in records]
    for message, value in zip(records, values, strict=True):
        assert message.key() == value["order_id"].encode()
        assert "@" not in value_of(message).decode()  # no email ever lands in the outcome log
    by_order = {(v["order_id"], v["vendor"]): v for v in values}
    assert by_order[(events[4]["order_id"], "squeezely")]["outcome"] == "skipped"
    assert by_order[(events[4]["order_id"], "squeezely")]["reason"] == "missing_email"
    assert by_order[(events[4]["order_id"], "vtmarketing")]["outcome"] == "dead_lettered"
    refused = by_order[(events[6]["order_id"], "vtmarketing")]
    assert (refused["outcome"], refused["reason"], refused["http_status"]) == (
        "dead_lettered",
        "rejected",
        400,
    )
    assert by_order[(events[0]["order_id"], "squeezely")]["outcome"] == "delivered"

    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    assert main(["trace", events[6]["order_id"], "--config", str(path), "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert f"{events[6]['order_id']}: 2 outcomes" in out
    assert {"squeezely", "vtmarketing", "rejected"} <= set(out.split())
    assert main(["trace", "O-does-not-exist", "--config", str(path), "--timeout", "10"]) == 1
    assert "no outcome recorded" in capsys.readouterr().out
