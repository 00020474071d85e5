"""Sending one batch of records to a vendor until each record has an outcome.

A batch ends in exactly one of these ways per record:
- delivered: a 2xx whose body accepted the record's items;
- dead-lettered ``per_event``: the 2xx body refused one of the record's items;
- dead-lettered ``rejected``: the vendor refused a request holding only this record (a refused
  batch is split in halves and each half sent again, down to single records, so one bad event
  never takes good ones down with it);
- dead-lettered ``retries_exhausted``: only when a retry limit is configured;
- dropped: every record of the batch belongs to a partition this pipeline no longer owns (the
  new owner delivers them again from the committed offset).

Transient failures are retried with backoff behind the circuit; refused credentials open the
circuit for the probe interval and are retried forever, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.config import VendorConfig
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Backoff, Circuit, RateLimiter
from bridge.errors import CredentialsError, RejectedDeliveryError, TransientDeliveryError
from bridge.events import EventType
from bridge.kafka.offsets import PartitionOffsets
from bridge.metrics import Metrics
from bridge.vendors.base import ACCEPTED, Item, ItemResult, Vendor

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Record:
    """One consumed Kafka record on its way through a vendor pipeline."""

    tracker: PartitionOffsets
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    size: int
    event_type: EventType | None = None
    event: dict[str, Any] | None = None
    items: list[Item] = field(default_factory=list)
    attempts: int = 0
    first_attempt: float | None = None
    last_attempt: float | None = None
    done: bool = False


class Outcomes(Protocol):
    """Where the sender reports what became of each record."""

    def delivered(self, records: Sequence[Record], status: int) -> None: ...

    def warned(self, record: Record, warnings: Sequence[str]) -> None:
        """The vendor accepted `record` with warnings (reported before `delivered`)."""

    def dead_letter(
        self, record: Record, error_class: str, message: str, status: int | None
    ) -> None: ...

    def dropped(self, record: Record) -> None: ...

    def credentials_refused(self, error: CredentialsError | None) -> None:
        """Called with the error when refused, with None when a request succeeds again."""


class Sender:
    def __init__(
        self,
        vendor: Vendor[Any],
        config: VendorConfig,
        client: VendorClient,
        circuit: Circuit,
        outcomes: Outcomes,
        metrics: Metrics,
    ) -> None:
        self._vendor = vendor
        self._config = config
        self._client = client
        self._circuit = circuit
        self._outcomes = outcomes
        self._backoff = Backoff(config.retry)
        self._limiter = (
            RateLimiter(config.rate_limit_rps, config.rate_limit_burst)
            if config.rate_limit_rps
            else None
        )
        name = vendor.name
        self._batch_size = metrics.batch_size.labels(name)
        self._retries = {
            cls: metrics.retries.labels(name, cls) for cls in ("transient", "credentials")
        }
        self._rate_wait = metrics.rate_limit_wait.labels(name)
        self._refused = False

    async def send(self, batch: list[Record]) -> None:
        items = [item for record in batch for item in record.items]
        request = self._vendor.build_request(items)
        if len(batch) > 1 and len(request.body) > self._config.batch.max_bytes:
            await self._split(batch)
            return
        attempt = 0
        while True:
            if all(record.tracker.fenced for record in batch):
                for record in batch:
                    self._outcomes.dropped(record)
                return
            await self._circuit.admit()
            if self._limiter is not None:
                waited = await self._limiter.acquire()
                if waited:
                    self._rate_wait.inc(waited)
            attempt += 1
            self._stamp(batch)
            self._batch_size.observe(len(batch))
            try:
                status, results = await self._client.send(request, items)
            except RejectedDeliveryError as exc:
                self._circuit.success()
                if len(batch) > 1:
                    await self._split(batch)
                else:
                    self._outcomes.dead_letter(batch[0], "rejected", str(exc), exc.status)
                return
            except CredentialsError as exc:
                self._retries["credentials"].inc()
                if not self._refused:
                    self._refused = True
                    self._outcomes.credentials_refused(exc)
                self._circuit.trip(self._config.retry.credentials_probe_s)
                continue
            except TransientDeliveryError as exc:
                self._circuit.failure()
                if self._exhausted(batch, attempt):
                    for record in batch:
                        self._outcomes.dead_letter(
                            record, "retries_exhausted", str(exc), exc.status
                        )
                    return
                self._retries["transient"].inc()
                await asyncio.sleep(self._backoff.delay(attempt, exc.retry_after))
                continue
            self._circuit.success()
            if self._refused:
                self._refused = False
                self._outcomes.credentials_refused(None)
            self._settle(batch, status, results)
            return

    async def _split(self, batch: list[Record]) -> None:
        middle = len(batch) // 2
        await self.send(batch[:middle])
        await self.send(batch[middle:])

    def _settle(self, batch: list[Record], status: int, results: list[ItemResult]) -> None:
        if all(result is ACCEPTED for result in results):
            self._outcomes.delivered(batch, status)  # the common case, without per-item work
            return
        delivered = []
        position = 0
        for record in batch:
            mine = results[position : position + len(record.items)]
            position += len(record.items)
            failed = [result for result in mine if not result.ok]
            if failed:
                message = "; ".join(result.error or "refused" for result in failed)
                self._outcomes.dead_letter(record, "per_event", message, status)
                continue
            warnings = [warning for result in mine for warning in result.warnings]
            if warnings:
                self._outcomes.warned(record, warnings)
            delivered.append(record)
        self._outcomes.delivered(delivered, status)

    def _exhausted(self, batch: list[Record], attempt: int) -> bool:
        retry = self._config.retry
        if retry.max_attempts is not None and attempt >= retry.max_attempts:
            return True
        first = batch[0].first_attempt
        return (
            retry.max_elapsed_s is not None
            and first is not None
            and time.time() - first >= retry.max_elapsed_s
        )

    @staticmethod
    def _stamp(batch: list[Record]) -> None:
        now = time.time()
        for record in batch:
            record.attempts += 1
            if record.first_attempt is None:
                record.first_attempt = now
            record.last_attempt = now
