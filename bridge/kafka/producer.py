"""An asyncio face on confluent_kafka's Producer, for dead letters and outcome records.

`produce()` returns an awaitable that completes when Kafka acknowledged the write (acks=all),
so a record is marked done only after its dead-letter copy is durable. Delivery reports are
served by a thread of its own calling `poll()`; the event loop never blocks on librdkafka.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str]]
QUEUE_FULL_WAIT_S = 0.05
RETRY_DELAY_S = 1.0


class ProduceError(Exception):
    """Kafka did not take the write."""


class AsyncProducer:
    def __init__(self, properties: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._producer = Producer({"acks": "all", "linger.ms": 5, **properties})
        self._loop = loop
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="producer", daemon=True)
        self._thread.start()

    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """Return once Kafka acknowledged the record; raise ProduceError if it refused it."""
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            self._loop.call_soon_threadsafe(_settle, future, error)

        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers), on_delivery=delivered
                )
                break
            except BufferError:
                # The local queue is full: the delivery thread drains it; wait without blocking.
                await asyncio.sleep(QUEUE_FULL_WAIT_S)
            except KafkaException as exc:
                raise ProduceError(str(exc.args[0])) from None
        await future

    async def produce_durably(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        on_failure: Callable[[ProduceError], None],
    ) -> None:
        """`produce` until Kafka takes the record, calling `on_failure` for each refusal.

        For records whose offset must not be committed before they are written (dead letters,
        outcomes): giving up would lose them, so a refusal is retried, never dropped.
        """
        while True:
            try:
                await self.produce(topic, key, value, headers)
                return
            except ProduceError as exc:
                on_failure(exc)
                await asyncio.sleep(RETRY_DELAY_S)

    async def close(self, timeout_s: float = 10) -> None:
        """Flush what is queued, then stop the delivery thread (idempotent)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        await asyncio.to_thread(self._thread.join)
        remaining = await asyncio.to_thread(self._producer.flush, timeout_s)
        if remaining:
            log.error("%d produced records were not acknowledged at close", remaining)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(ProduceError(error.str()))
