"""Settlement: how a record with an outcome becomes done, in this order.

1. Its outcome is counted (metrics; a sampled log line for skips).
2. A dead-lettered record's copy is written to the dead-letter topic, and, when the outcome log
   is on, its outcome record is written; both must be acknowledged by Kafka first.
3. Its offset is acknowledged to its partition's tracker (nothing, if the partition was
   revoked meanwhile: the tracker is fenced).
4. Its place is freed: the next record of its key becomes ready, and flow control counts it
   out (which may resume fetching).

Writes run as background tasks (`Tasks`); one that fails for good fails the pipeline. A record
is settled once: a second outcome for it is ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from bridge.delivery.sender import Sent
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.outcomes import OutcomeWriter
from bridge.metrics import Metrics, observe_many
from bridge.pipeline.flow import FlowControl
from bridge.pipeline.lanes import KeyLanes
from bridge.pipeline.tasks import Tasks
from bridge.records import Record

log = logging.getLogger(__name__)

SAMPLE_EVERY = 1000
"""Skips are logged for the first record of a reason, then for every 1,000th."""


class Settlement:
    def __init__(
        self,
        vendor: str,
        flow: FlowControl,
        lanes: KeyLanes,
        dead_letters: DeadLetterWriter,
        outcomes: OutcomeWriter | None,
        tasks: Tasks,
        metrics: Metrics,
    ) -> None:
        self._vendor = vendor
        self._flow = flow
        self._lanes = lanes
        self._dead_letters = dead_letters
        self._outcomes = outcomes
        self._tasks = tasks
        self._metrics = metrics
        self._m_delivered = metrics.records.labels(vendor, "delivered", "")
        self._m_e2e = metrics.end_to_end.labels(vendor)
        self._m_warnings = metrics.vendor_warnings.labels(vendor)
        self._skips: dict[str, int] = {}

    def sent(self, sent: Sent) -> None:
        """Settle every record of a batch the sender is done with."""
        for record, warnings in sent.warnings:
            self._warned(record, warnings)
        for records, status in sent.delivered:
            self.delivered(records, status)
        for failure in sent.failed:
            self.dead_letter(failure.record, failure.error_class, failure.message, failure.status)
        for record in sent.dropped:
            self.dropped(record)

    def delivered(self, records: Sequence[Record], status: int) -> None:
        records = _claim(records)
        self._m_delivered.inc(len(records))
        now_ms = time.time() * 1000
        observe_many(
            self._m_e2e,
            [
                max(0.0, now_ms - occurred_ms) / 1000
                for record in records
                if record.event is not None
                and isinstance(occurred_ms := record.event.get("occurred_at"), int)
            ],
        )
        if self._outcomes is None:
            self._release(records, ack=True)  # the hot path: one pass, one flow update
            return
        for record in records:
            self._write_outcome(record, "delivered", None, status)

    def skipped(self, record: Record, reason: str) -> None:
        if not _claim([record]):
            return
        self._metrics.records.labels(self._vendor, "skipped", reason).inc()
        seen = self._skips.get(reason, 0)
        self._skips[reason] = seen + 1
        if seen % SAMPLE_EVERY == 0:
            log.info(
                "record skipped: %s (%d so far)",
                reason,
                seen + 1,
                extra={**_where(self._vendor, record), "event": "skipped"},
            )
        self._write_outcome(record, "skipped", reason, None)

    def dead_letter(
        self,
        record: Record,
        error_class: str,
        message: str,
        status: int | None,
        reason: str | None = None,
    ) -> None:
        if not _claim([record]):
            return
        self._tasks.spawn(
            self._write_dead_letter(record, error_class, message, status, reason or error_class),
            f"{self._vendor}-dead-letter",
        )

    def dropped(self, record: Record) -> None:
        """Not sent, and left to the partition's next owner: forget it without acknowledging
        it (its partition was revoked, or is being handed over)."""
        records = _claim([record])
        for claimed in records:  # once: a second abandon would leave a hand-over waiting
            claimed.tracker.abandon()
        self._release(records, ack=False)

    async def _write_dead_letter(
        self, record: Record, error_class: str, message: str, status: int | None, reason: str
    ) -> None:
        await self._dead_letters.write(self._vendor, record, error_class, message, status)
        self._metrics.dead_letters.labels(self._vendor, reason).inc()
        self._metrics.records.labels(self._vendor, "dead_lettered", reason).inc()
        log.warning(
            "record dead-lettered (%s)",
            error_class,
            extra={
                **_where(self._vendor, record),
                "event": "dead_lettered",
                "error_class": error_class,
                "status": status,
            },
        )
        self._write_outcome(record, "dead_lettered", reason, status)

    def _warned(self, record: Record, warnings: Sequence[str]) -> None:
        self._m_warnings.inc(len(warnings))
        log.info(
            "vendor accepted the event with %d warnings: %s",
            len(warnings),
            "; ".join(warnings)[:300],
            extra={**_where(self._vendor, record), "event": "vendor_warning"},
        )

    def _write_outcome(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        if self._outcomes is None:
            self._release([record], ack=True)
        else:
            self._tasks.spawn(
                self._outcome_then_release(record, outcome, reason, status),
                f"{self._vendor}-outcome",
            )

    async def _outcome_then_release(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        assert self._outcomes is not None
        await self._outcomes.write(record, outcome, reason, status)
        self._release([record], ack=True)

    def _release(self, records: Sequence[Record], ack: bool) -> None:
        size = 0
        release = self._lanes.release
        for record in records:
            if ack:
                record.tracker.ack(record.offset)
            release(record)
            size += record.size
        if records:
            self._flow.released(len(records), size)


def _claim(records: Sequence[Record]) -> list[Record]:
    """The records that had no outcome yet, now marked as having one."""
    fresh = [record for record in records if not record.done]
    for record in fresh:
        record.done = True
    return fresh


def _where(vendor: str, record: Record) -> dict[str, object]:
    return {
        "vendor": vendor,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }
