"""No email, phone number, API key or auth header ever reaches the log, whatever happens."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pytest
import yaml

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import Sandbox
from tests.integration.test_failures import start_bridge
from tests.integration.test_vendors import complete
from tests.support.kafka import (
    SANDBOX_SETTINGS,
    config_dict,
    encoder,
    produce,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration

EMAIL = "leak.canary.4711@example.com"
PHONE = "+31 6 4711 4711"


async def test_a_run_full_of_failures_logs_no_personal_data_or_secret(
    broker: LocalBroker, tmp_path: Path
) -> None:
    orders_topic, views_topic, dlq = unique("orders"), unique("views"), unique("dlq")
    broker.create_topics({orders_topic: 1, views_topic: 1, dlq: 1})
    samples = SampleEvents(seed=1)
    orders = []
    for n in range(40):
        order = complete(samples.order(), n)
        order["customer"]["email"] = EMAIL if n % 2 else "broken@@address"
        order["customer"]["phone"] = PHONE
        orders.append(order)
    enc = encoder(EventType.ORDER)
    produce(broker, orders_topic, [(0, o["order_id"].encode(), enc.encode(o)) for o in orders])
    produce(broker, views_topic, [(0, b"x", EMAIL.encode())])  # undecodable, and an email
    async with Sandbox() as sandbox:
        sandbox.set_faults("vtmarketing", status_override=401)  # refused credentials
        sandbox.set_faults("squeezely", error_rate=0.3)
        vendors = {
            name: vendor_block(
                name,
                sandbox.base_url(name),
                tmp_path,
                retry={
                    "initial_backoff_s": 0.05,
                    "max_backoff_s": 0.2,
                    "max_attempts": 2,
                    "credentials_probe_s": 0.3,
                },
            )
            for name in ("vtmarketing", "squeezely", "esputnik")
        }
        raw = config_dict(
            broker,
            vendors,
            orders=orders_topic,
            views=views_topic,
            dead_letter=dlq,
            log={"format": "json", "level": "DEBUG"},
            # VTmarketing's records never finish (its key is refused): a short drain at the end.
            shutdown_deadline_s=2,
        )
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(raw))
        log_path = tmp_path / "bridge.log"
        process = start_bridge(path, log_path)
        try:
            await wait_for(
                lambda: (
                    sandbox.stats()["esputnik"]["requests"] >= 40
                    and sandbox.stats()["vtmarketing"]["requests"] >= 3
                ),
                60,
                "traffic to every vendor",
            )
            await asyncio.sleep(1)
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)
        finally:
            if process.poll() is None:
                process.kill()

    text = log_path.read_text()
    lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = {line.get("event") for line in lines}
    # The run did go wrong in the ways that tempt a log line to carry data.
    assert {"credentials_refused", "dead_lettered"} <= events, events
    forbidden = [
        EMAIL,
        "broken@@address",
        PHONE,
        PHONE.replace(" ", ""),
        "Authorization",
        "X-AUTH-APIKEY",
    ]
    forbidden += [v for s in SANDBOX_SETTINGS.values() for k, v in s.items() if "key" in k]
    leaks = [word for word in forbidden if word in text]
    assert not leaks, f"found in the log: {leaks}"
