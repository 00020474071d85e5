"""The dead-letter writer with a fake producer: permanent refusals trim, then stop the pipeline."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from bridge.kafka.deadletter import TRIMMED_VALUE_BYTES, DeadLetterRefusedError, DeadLetterWriter
from bridge.kafka.offsets import PartitionOffsets
from bridge.kafka.producer import AsyncProducer, Headers, ProduceError
from bridge.records import Record
from bridge.redaction import clear_secrets, register_secret


class FakeProducer(AsyncProducer):
    """Refuses values larger than `limit` (as a topic's max.message.bytes would), or all."""

    def __init__(self, limit: int | None = None, refuse_all: bool = False) -> None:
        self._limit = limit
        self._refuse_all = refuse_all
        self.written: list[tuple[bytes | None, dict[str, bytes | str]]] = []

    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        if self._refuse_all:
            raise ProduceError(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
        if self._limit is not None and len(value or b"") > self._limit:
            raise ProduceError(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.written.append((value, dict(headers)))


def letter_record(value: bytes) -> Record:
    return Record(
        tracker=PartitionOffsets("orders", 3, 1),
        topic="orders",
        partition=3,
        offset=42,
        key=b"O-1",
        value=value,
        headers=[("trace", b"abc")],
        size=len(value),
    )


async def test_a_letter_too_large_for_kafka_is_written_trimmed_and_marked() -> None:
    producer = FakeProducer(limit=4096)
    kinds: list[str] = []
    writer = DeadLetterWriter(producer, "dlq", 500, on_refused=kinds.append)
    await writer.write("qubit", letter_record(b"v" * 100_000), "rejected", "HTTP 400", 400)
    ((value, headers),) = producer.written
    assert value == b"v" * TRIMMED_VALUE_BYTES
    assert headers["bridge.truncated"] == "100000"
    assert headers["bridge.source.offset"] == "42"
    assert headers["trace"] == b"abc"
    assert kinds == ["permanent"]


async def test_a_letter_refused_even_trimmed_raises_instead_of_returning() -> None:
    writer = DeadLetterWriter(FakeProducer(refuse_all=True), "dlq", 500)
    with pytest.raises(DeadLetterRefusedError, match=r"orders\[3\]@42"):
        await writer.write("qubit", letter_record(b"v"), "rejected", "HTTP 400", 400)


async def test_the_reply_excerpt_in_the_headers_is_redacted_like_a_log_line() -> None:
    register_secret("sq-secret-key-123")
    try:
        producer = FakeProducer()
        writer = DeadLetterWriter(producer, "dlq", 500)
        message = 'HTTP 400: {"email": "ann@example.com", "key": "sq-secret-key-123"}'
        await writer.write("squeezely", letter_record(b"v"), "rejected", message, 400)
        ((_, headers),) = producer.written
        text = str(headers["bridge.error.message"])
        assert "ann@example.com" not in text
        assert "sq-secret-key-123" not in text
        assert "HTTP 400" in text
    finally:
        clear_secrets()


def test_produce_errors_are_classified_once() -> None:
    assert ProduceError(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)).permanent
    assert ProduceError(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)).permanent
    assert not ProduceError(KafkaError(KafkaError._MSG_TIMED_OUT)).permanent
    assert not ProduceError(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)).permanent
