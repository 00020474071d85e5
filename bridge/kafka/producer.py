"""An asyncio face on confluent_kafka's Producer, for dead letters and outcome records.

`produce()` returns an awaitable that completes when Kafka acknowledged the write (acks=all),
so a record is marked done only after its dead-letter copy is durable. Delivery reports are
served by a thread of its own calling `poll()`; the event loop never blocks on librdkafka.

Refusals are classified once, here: librdkafka retries what may pass later by itself, so a
refusal that reaches us is transient only when it is about reaching the cluster (a timeout, a
broker down, a leader moving); a record too large for the producer, the broker or the topic,
a record the broker calls invalid, or a write the ACLs forbid is `permanent`: sending the same
bytes again can never succeed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from bridge.kafka.clientlog import client_logger

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | str]]
QUEUE_FULL_WAIT_S = 0.05
RETRY_DELAY_S = 1.0


_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError._INVALID_ARG,
    }
)


class ProduceError(Exception):
    """Kafka did not take the write; `permanent` when the same record can never pass."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.permanent = error.code() in _PERMANENT


class AsyncProducer:
    def __init__(self, properties: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._producer = Producer(
            {"acks": "all", "linger.ms": 5, **properties, "logger": client_logger()}
        )
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
                raise ProduceError(exc.args[0]) from None
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
        outcomes): giving up would lose them, so a transient refusal is retried, never dropped;
        a permanent one is raised, for the caller to decide (it can never pass as it is).
        """
        while True:
            try:
                await self.produce(topic, key, value, headers)
                return
            except ProduceError as exc:
                on_failure(exc)
                if exc.permanent:
                    raise
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
        future.set_exception(ProduceError(error))
