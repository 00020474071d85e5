"""A letter through the live pipeline's own `Intake`, for records that are not in a partition:
decoded and mapped as the live pipeline does (schema registry, consent, ``on_unmappable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import Message

from bridge.commands.replay.letters import Letter, ReplayTracker
from bridge.pipeline.intake import Intake
from bridge.records import Record


class _AsMessage:
    """A letter's original record in the shape `Intake.take` reads (a Kafka message)."""

    def __init__(self, record: Record) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record.topic

    def partition(self) -> int:
        return self._record.partition

    def offset(self) -> int:
        return self._record.offset

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes | None:
        return self._record.value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._record.headers


class _OnePartition:
    """What `Intake.take` asks of the partitions: the tracker of the record's partition."""

    def __init__(self, tracker: ReplayTracker) -> None:
        self._tracker = tracker

    def get(self, topic: str, partition: int) -> ReplayTracker:
        return self._tracker


@dataclass(slots=True)
class Admission:
    """What `Intake` made of one letter."""

    record: Record
    ready: bool = False
    skipped: str | None = None
    dead: tuple[str, str, str] | None = None
    """(error class, message, reason)"""


async def admit(intake: Intake, letter: Letter) -> Admission:
    """Decode and map the letter's original record as the live pipeline does."""
    original = letter.record()
    admitted = await intake.take(
        [cast(Message, _AsMessage(original))],
        cast(Any, _OnePartition(cast(ReplayTracker, original.tracker))),
    )
    if admitted.ready:
        admission = Admission(admitted.ready[0], ready=True)
    elif admitted.skipped:
        record, reason = admitted.skipped[0]
        admission = Admission(record, skipped=reason)
    elif admitted.dead:
        record, error_class, message, reason = admitted.dead[0]
        admission = Admission(record, dead=(error_class, message, reason))
    else:
        raise RuntimeError("intake returned nothing for a replayed record")
    # Intake builds its own Record from the message; it carries on the letter's history.
    admission.record.attempts = original.attempts
    admission.record.first_attempt = original.first_attempt
    admission.record.last_attempt = original.last_attempt
    return admission
