"""Dead-letter records: the original key, value and headers, plus why and where from.

Headers added (all strings, prefixed ``bridge.`` so they cannot clash with the original's):
``bridge.vendor``, ``bridge.error.class`` (decode, mapping — a record of a mapped topic the
mapping cannot handle, see docs/mapping.md —, unmappable, mapper_error, rejected, per_event,
retries_exhausted), ``bridge.error.message`` (truncated, and redacted like a log
line: a vendor's reply may echo keys, e-mails or phone numbers), ``bridge.http.status`` (when
there was a reply), ``bridge.attempts``, ``bridge.source.topic``, ``bridge.source.partition``,
``bridge.source.offset``, ``bridge.attempt.first`` and ``bridge.attempt.last`` (ISO-8601 UTC),
and ``bridge.truncated`` (the original value's size) on a trimmed letter.

A dead-letter write is retried until Kafka takes it: the record's offset is committed only
after the write is acknowledged, so nothing is lost while the dead-letter topic is unavailable.
A letter Kafka can never take as it is (too large for the producer, the broker or the topic)
is written again trimmed: the value cut to `TRIMMED_VALUE_BYTES`, the original headers kept.
If even that is refused (a missing ACL, say), `DeadLetterRefusedError` stops the pipeline: it
must not commit past a record that is neither delivered nor dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.kafka.producer import AsyncProducer, ProduceError
from bridge.records import Record
from bridge.redaction import REDACTOR

log = logging.getLogger(__name__)

TRIMMED_VALUE_BYTES = 1024


class DeadLetterRefusedError(Exception):
    """Kafka refused even the trimmed dead letter: the pipeline cannot go on safely."""


class DeadLetterWriter:
    def __init__(
        self,
        producer: AsyncProducer,
        topic: str,
        max_error_chars: int,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._max_error_chars = max_error_chars
        self._on_refused = on_refused or (lambda kind: None)

    async def write(
        self, vendor: str, record: Record, error_class: str, message: str, status: int | None
    ) -> None:
        """Return once Kafka acknowledged the dead-letter record."""
        headers = self.headers(vendor, record, error_class, message, status)

        def failed(error: ProduceError) -> None:
            self._on_refused("permanent" if error.permanent else "transient")
            log.error(
                "dead-letter write failed%s: %s",
                "" if error.permanent else ", retrying",
                error,
                extra={"vendor": vendor, "event": "dead_letter_write_failed"},
            )

        try:
            await self._producer.produce_durably(
                self._topic, record.key, record.value, [*record.headers, *headers], failed
            )
            return
        except ProduceError:
            pass  # permanent: the letter as it is can never pass; try it trimmed
        value = record.value or b""
        trimmed = [*headers, ("bridge.truncated", str(len(value)))]
        try:
            await self._producer.produce_durably(
                self._topic,
                record.key,
                value[:TRIMMED_VALUE_BYTES],
                [*record.headers, *trimmed],
                failed,
            )
        except ProduceError as exc:
            self._on_refused("fatal")
            raise DeadLetterRefusedError(
                f"Kafka refused the dead letter for {record.topic}[{record.partition}]@"
                f"{record.offset} even trimmed: {exc}"
            ) from None

    def headers(
        self, vendor: str, record: Record, error_class: str, message: str, status: int | None
    ) -> list[tuple[str, bytes | str]]:
        excerpt = REDACTOR.redact(message[: self._max_error_chars])
        headers: list[tuple[str, bytes | str]] = [
            ("bridge.vendor", vendor),
            ("bridge.error.class", error_class),
            ("bridge.error.message", excerpt),
            ("bridge.attempts", str(record.attempts)),
            ("bridge.source.topic", record.topic),
            ("bridge.source.partition", str(record.partition)),
            ("bridge.source.offset", str(record.offset)),
        ]
        if status is not None:
            headers.append(("bridge.http.status", str(status)))
        if record.first_attempt is not None:
            headers.append(("bridge.attempt.first", _iso(record.first_attempt)))
        if record.last_attempt is not None:
            headers.append(("bridge.attempt.last", _iso(record.last_attempt)))
        return headers


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
