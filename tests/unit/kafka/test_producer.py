"""The async producer with real librdkafka and no broker: a write returns only when acknowledged."""

from __future__ import annotations

import asyncio

import pytest

from bridge.kafka.producer import AsyncProducer
from bridge.tools.localbroker import free_port


async def test_a_write_nobody_acknowledges_never_returns() -> None:
    # A port nothing listens on: librdkafka queues the record and waits for a broker.
    producer = AsyncProducer(
        {"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 60_000},
        asyncio.get_running_loop(),
    )
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(producer.produce("dlq", b"k", b"v", []), 1.5)
    finally:
        await producer.close(0.1)
