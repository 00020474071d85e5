"""Sending selected letters one batch at a time, in order, and settling each.

What becomes of a selected letter:
- **replayed**: the vendor acknowledged it; its outcome is written (when the outcome log is on)
  and a *replay marker* is appended to the dead-letter topic: a record without a value whose
  ``bridge.replayed`` header names the letter (``<partition>:<offset>``);
- **refused again**: it is written to the dead-letter topic again, as a new letter with the
  original key, value and headers, ``bridge.attempts`` raised by the attempts of this replay,
  the new class and message, and ``bridge.replay.of`` naming the letter it replaces;
- **skipped**: the vendor cannot take it under the current configuration (``on_unmappable:
  skip``, consent) and the live pipeline would skip it too; or its source topic is no longer
  configured (then nothing is written, and it stays where it is).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from bridge.commands.replay.admission import Admission
from bridge.commands.replay.letters import REPLAY_AT_HEADER, REPLAYED_HEADER, Letter
from bridge.commands.replay.reader import READ_BATCH, DeadLetterReader
from bridge.commands.replay.summary import Summary, short_reason
from bridge.delivery.sender import Sender, Sent
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.outcomes import OutcomeWriter
from bridge.kafka.producer import AsyncProducer, ProduceError
from bridge.records import Record
from bridge.vendors.base import Vendor


class ReplayRun:
    """Batches selected letters, sends them, settles them, commits the group's offsets."""

    def __init__(
        self,
        vendor: Vendor[Any],
        reader: DeadLetterReader,
        sender: Sender,
        dead_letters: DeadLetterWriter,
        outcomes: OutcomeWriter | None,
        producer: AsyncProducer,
        summary: Summary,
    ) -> None:
        self._vendor = vendor
        self._reader = reader
        self._sender = sender
        self._dead_letters = dead_letters
        self._outcomes = outcomes
        self._producer = producer
        self._summary = summary
        self._batch: list[tuple[Letter, Record]] = []
        self._positions: dict[int, int] = {}
        """The offset after the last letter read, per partition: committed once settled."""
        self._uncommitted = 0

    async def take(self, letter: Letter, admission: Admission | None, max_events: int) -> None:
        self._positions[letter.partition] = letter.offset + 1
        self._uncommitted += 1
        if admission is None:
            if not self._batch and self._uncommitted >= READ_BATCH:
                await self._commit()
            return
        record = admission.record
        if admission.ready:
            self._batch.append((letter, record))
            if len(self._batch) >= max_events:
                await self.flush()
            return
        if admission.skipped is not None:
            await self._outcome(record, "skipped", admission.skipped, None)
            self._summary.skipped[admission.skipped] += 1
        elif admission.dead is not None:
            error_class, message, reason = admission.dead
            await self._refused(record, error_class, message, None, reason)
        if not self._batch:
            await self._commit()

    async def flush(self) -> None:
        if self._batch:
            letters = {id(record): letter for letter, record in self._batch}
            sent: Sent = await self._sender.send([record for _, record in self._batch])
            for records, status in sent.delivered:
                for record in records:
                    await self._delivered(letters[id(record)], record, status)
            for failure in sent.failed:
                await self._refused(
                    failure.record,
                    failure.error_class,
                    failure.message,
                    failure.status,
                    short_reason(failure.message),
                )
            self._batch = []
        await self._commit()

    def forget(self) -> None:
        """Drop the unsent batch: the group's offset stays at its first letter, which is read
        again next time."""
        for letter, _ in self._batch:
            if letter.offset < self._positions.get(letter.partition, letter.offset + 1):
                self._positions[letter.partition] = letter.offset
        self._batch = []

    async def commit(self) -> None:
        await self._commit()

    async def _delivered(self, letter: Letter, record: Record, status: int) -> None:
        await self._outcome(record, "delivered", None, status)
        headers: list[tuple[str, bytes | str]] = [
            ("bridge.vendor", self._vendor.name),
            (REPLAYED_HEADER, letter.ref),
            (REPLAY_AT_HEADER, datetime.now(UTC).isoformat(timespec="milliseconds")),
        ]

        def failed(error: ProduceError) -> None:
            sys.stderr.write(f"replay marker write failed, retrying: {error}\n")

        await self._producer.produce_durably(self._reader.topic, letter.key, None, headers, failed)
        self._summary.replayed += 1

    async def _refused(
        self, record: Record, error_class: str, message: str, status: int | None, reason: str
    ) -> None:
        await self._dead_letters.write(self._vendor.name, record, error_class, message, status)
        await self._outcome(record, "dead_lettered", reason, status)
        self._summary.refused[f"{error_class}: {reason}" if reason != error_class else reason] += 1

    async def _outcome(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        if self._outcomes is not None:
            await self._outcomes.write(record, outcome, reason, status)

    async def _commit(self) -> None:
        if self._positions:
            await self._reader.commit(self._positions)
            self._positions = {}
        self._uncommitted = 0
