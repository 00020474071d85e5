"""Sending one batch of records to a vendor until each record has an outcome.

`Sender.send(batch)` returns a `Sent`, one outcome per record:
- delivered: a 2xx whose body accepted the record's items;
- failed ``per_event``: the 2xx body refused one of the record's items;
- failed ``rejected``: the vendor refused a request holding only this record (a refused batch
  is split in halves and each half sent again, down to single records, so one bad event never
  takes good ones down with it);
- failed ``retries_exhausted``: only when a retry limit is configured;
- dropped: the record's partition was revoked, or is being handed over and its commit does not
  need the record (`PartitionOffsets.wanted`): it is not sent (again), and the next owner
  delivers it from the committed offset.

The retry decision reads the error's `retriable` and `pauses` (see `bridge.errors`): a
retriable failure is sent again after a backoff behind the circuit; a pausing one (refused
credentials, a moved endpoint) opens the circuit for the probe interval and is never
dead-lettered; anything else is a refusal of the request's content.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bridge.config import VendorConfig
from bridge.delivery.adaptive import AdaptiveConcurrency
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Backoff, Circuit, RateLimiter
from bridge.errors import DeliveryError
from bridge.metrics import Metrics
from bridge.records import Record
from bridge.vendors.base import ACCEPTED, HttpRequest, Item, ItemResult, Vendor


@dataclass(frozen=True, slots=True)
class Failure:
    """A record the vendor will not take: it goes to the dead-letter topic."""

    record: Record
    error_class: str
    """``rejected``, ``per_event`` or ``retries_exhausted``."""
    message: str
    status: int | None


@dataclass(slots=True)
class Sent:
    """What became of each record of a batch."""

    delivered: list[tuple[list[Record], int]] = field(default_factory=list)
    """Records the vendor acknowledged, grouped by the request (and its status)."""
    failed: list[Failure] = field(default_factory=list)
    warnings: list[tuple[Record, list[str]]] = field(default_factory=list)
    """Delivered records the vendor accepted with warnings."""
    dropped: list[Record] = field(default_factory=list)


class Sender:
    def __init__(
        self,
        vendor: Vendor[Any],
        config: VendorConfig,
        client: VendorClient,
        circuit: Circuit,
        metrics: Metrics,
        concurrency: AdaptiveConcurrency | None = None,
    ) -> None:
        self._vendor = vendor
        self._concurrency = concurrency
        self._config = config
        self._client = client
        self._circuit = circuit
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

    async def send(self, batch: list[Record]) -> Sent:
        sent = Sent()
        await self._send(batch, sent)
        return sent

    async def _send(self, batch: list[Record], sent: Sent) -> None:
        items = [item for record in batch for item in record.items]
        request = self._vendor.build_request(items)
        if len(batch) > 1 and len(request.body) > self._config.batch.max_bytes:
            await self._split(batch, sent)
            return
        attempt = 0
        while True:
            probe = await self._circuit.admit()
            if self._limiter is not None:
                waited = await self._limiter.acquire()
                if waited:
                    self._rate_wait.inc(waited)
            if self._concurrency is not None:
                # Before the records are marked as sent: the adaptive limit can hold them a
                # long time, and a hand-over waits for records marked as sent, not for
                # records waiting here.
                await self._concurrency.acquire()
            # Checked after the waits: a hand-over may have begun during them or the backoff.
            leaving = [record for record in batch if not record.tracker.wanted(record.offset)]
            if leaving:
                if probe:
                    self._circuit.probe_not_sent()
                if self._concurrency is not None:
                    self._concurrency.abandon()
                # Sent whole, a batch retried across a hand-over would deliver records past
                # the hand-over's commit, which the next owner then delivers again.
                sent.dropped.extend(leaving)
                rest = [record for record in batch if record.tracker.wanted(record.offset)]
                if rest:
                    await self._send(rest, sent)
                return
            attempt += 1
            self._stamp(batch)
            self._batch_size.observe(len(batch))
            try:
                status, results = await self._request(request, items)
            except DeliveryError as exc:
                if exc.pauses:
                    self._retries["credentials"].inc()
                    self._circuit.refuse(self._config.retry.credentials_probe_s)
                    continue
                if not exc.retriable:
                    self._circuit.success()  # the vendor answered: it is up
                    if len(batch) > 1:
                        await self._split(batch, sent)
                    else:
                        sent.failed.append(Failure(batch[0], "rejected", str(exc), exc.status))
                    return
                self._circuit.failure()
                if self._exhausted(batch, attempt):
                    sent.failed.extend(
                        Failure(record, "retries_exhausted", str(exc), exc.status)
                        for record in batch
                    )
                    return
                self._retries["transient"].inc()
                await asyncio.sleep(self._backoff.delay(attempt, exc.retry_after))
                continue
            self._circuit.success()
            self._settle(batch, status, results, sent)
            return

    async def _request(
        self, request: HttpRequest, items: list[Item]
    ) -> tuple[int, list[ItemResult]]:
        """One request, holding a place under the adaptive limit when there is one (it learns
        from the reply)."""
        limiter = self._concurrency
        if limiter is None:
            return await self._client.send(request, items)
        started = time.monotonic()
        try:
            reply = await self._client.send(request, items)
        except DeliveryError as exc:
            answered = exc.status is not None
            limiter.release(time.monotonic() - started if answered else None, exc.status)
            raise
        except BaseException:
            limiter.abandon()
            raise
        limiter.release(time.monotonic() - started, reply[0])
        return reply

    async def _split(self, batch: list[Record], sent: Sent) -> None:
        middle = len(batch) // 2
        await self._send(batch[:middle], sent)
        await self._send(batch[middle:], sent)

    @staticmethod
    def _settle(batch: list[Record], status: int, results: list[ItemResult], sent: Sent) -> None:
        if all(result is ACCEPTED for result in results):
            sent.delivered.append((batch, status))  # the common case, without per-item work
            return
        delivered = []
        position = 0
        for record in batch:
            mine = results[position : position + len(record.items)]
            position += len(record.items)
            failed = [result for result in mine if not result.ok]
            if failed:
                message = "; ".join(result.error or "refused" for result in failed)
                sent.failed.append(Failure(record, "per_event", message, status))
                continue
            warnings = [warning for result in mine for warning in result.warnings]
            if warnings:
                sent.warnings.append((record, warnings))
            delivered.append(record)
        if delivered:
            sent.delivered.append((delivered, status))

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
            record.tracker.sending(record.offset)
            record.attempts += 1
            if record.first_attempt is None:
                record.first_attempt = now
            record.last_attempt = now
