"""The delivery outcome log: one small record per event per vendor when the event is done.

It answers "did order X reach Squeezely, and if not, why?" with `kcat`, ksqlDB, a stream job
or `bridge trace X`. Off by default (`outcomes.enabled`).

Value (JSON): vendor, event_type, event_id, order_id or product_id, outcome (delivered,
skipped, dead_lettered), reason, http_status, attempts, latency_ms (event time to outcome),
bridge_version, at (ISO-8601). Key: the order id, else the event id, so one order's outcomes
share a partition and stay in order. No personal data: no email, phone or name.

The pipeline acknowledges a record's offset only after its outcome record is acknowledged by
Kafka, so a committed offset always has its outcome written (at least once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge import __version__
from bridge.kafka.producer import AsyncProducer, ProduceError
from bridge.records import Record

log = logging.getLogger(__name__)


class OutcomeWriter:
    """Writes one vendor's outcome records; `write` returns once Kafka acknowledged it."""

    def __init__(
        self,
        producer: AsyncProducer,
        topic: str,
        vendor: str,
        on_failure: Callable[[], None],
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._vendor = vendor
        self._on_failure = on_failure

    async def write(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        key, value = outcome_value(
            self._vendor,
            record.event_type,
            record.event,
            outcome,
            reason,
            status,
            record.attempts,
            time.time(),
        )

        def failed(error: ProduceError) -> None:
            self._on_failure()
            log.error(
                "outcome write failed%s: %s",
                "" if error.permanent else ", retrying",
                error,
                extra={"vendor": self._vendor, "event": "outcome_write_failed"},
            )

        # A permanent refusal propagates: the record must not count as done without it.
        await self._producer.produce_durably(self._topic, key, value, (), failed)


def outcome_value(
    vendor: str,
    event_type: str | None,
    event: dict[str, Any] | None,
    outcome: str,
    reason: str | None,
    status: int | None,
    attempts: int,
    now: float,
) -> tuple[bytes | None, bytes]:
    """The outcome record's key and value."""
    event = event or {}
    occurred = event.get("occurred_at")
    value: dict[str, Any] = {
        "vendor": vendor,
        "event_type": event_type,
        "event_id": event.get("event_id"),
        "outcome": outcome,
        "reason": reason,
        "http_status": status,
        "attempts": attempts,
        "latency_ms": int(now * 1000 - occurred) if isinstance(occurred, int) else None,
        "bridge_version": __version__,
        "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
    }
    for field in ("order_id", "product_id"):
        if event.get(field) is not None:
            value[field] = event[field]
    key = event.get("order_id") or event.get("event_id")
    return (key.encode() if isinstance(key, str) else None), orjson.dumps(value)
