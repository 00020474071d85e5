"""Dead-letter records: the original key, value and headers, plus why and where from.

Headers added (all strings, prefixed ``bridge.`` so they cannot clash with the original's):
``bridge.vendor``, ``bridge.error.class`` (decode, unmappable, mapper_error, rejected,
per_event, retries_exhausted), ``bridge.error.message`` (truncated), ``bridge.http.status``
(when there was a reply), ``bridge.attempts``, ``bridge.source.topic``, ``bridge.source.partition``,
``bridge.source.offset``, ``bridge.attempt.first`` and ``bridge.attempt.last`` (ISO-8601 UTC).

A dead-letter write is retried until Kafka takes it: the record's offset is committed only
after the write is acknowledged, so nothing is lost when the dead-letter topic is unavailable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.kafka.producer import AsyncProducer, Headers, ProduceError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    vendor: str
    error_class: str
    message: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    attempts: int = 0
    status: int | None = None
    first_attempt: float | None = None
    last_attempt: float | None = None


class DeadLetterWriter:
    def __init__(self, producer: AsyncProducer, topic: str, max_error_chars: int) -> None:
        self._producer = producer
        self._topic = topic
        self._max_error_chars = max_error_chars

    async def write(self, letter: DeadLetter) -> None:
        """Return once Kafka acknowledged the dead-letter record."""

        def failed(error: ProduceError) -> None:
            log.error(
                "dead-letter write failed, retrying: %s",
                error,
                extra={"vendor": letter.vendor, "event": "dead_letter_write_failed"},
            )

        await self._producer.produce_durably(
            self._topic, letter.key, letter.value, [*letter.headers, *self.headers(letter)], failed
        )

    def headers(self, letter: DeadLetter) -> list[tuple[str, bytes | str]]:
        headers: list[tuple[str, bytes | str]] = [
            ("bridge.vendor", letter.vendor),
            ("bridge.error.class", letter.error_class),
            ("bridge.error.message", letter.message[: self._max_error_chars]),
            ("bridge.attempts", str(letter.attempts)),
            ("bridge.source.topic", letter.topic),
            ("bridge.source.partition", str(letter.partition)),
            ("bridge.source.offset", str(letter.offset)),
        ]
        if letter.status is not None:
            headers.append(("bridge.http.status", str(letter.status)))
        if letter.first_attempt is not None:
            headers.append(("bridge.attempt.first", _iso(letter.first_attempt)))
        if letter.last_attempt is not None:
            headers.append(("bridge.attempt.last", _iso(letter.last_attempt)))
        return headers


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
