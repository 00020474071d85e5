"""The in-flight record: one consumed Kafka record on its way through one vendor's pipeline.

Shared by the Kafka side (dead letters are written from it), the HTTP side (batches of it are
sent) and the pipeline that joins them. Its partition's offset tracker is seen only through
`Acknowledger`, so neither side needs to know how offsets become commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.events import EventType


class Acknowledger(Protocol):
    """What a record may do with its partition's offset tracker."""

    @property
    def fenced(self) -> bool:
        """The partition was revoked or lost: acknowledging now would change nothing."""

    def ack(self, offset: int) -> bool: ...

    def sending(self, offset: int) -> None:
        """The record goes to the vendor now."""

    def wanted(self, offset: int) -> bool:
        """Whether the record, not yet sent, should still go (see `PartitionOffsets.wanted`)."""

    def abandon(self) -> None:
        """The record is left to the partition's next owner, unsent."""


@dataclass(eq=False, slots=True)
class Record:
    """A consumed record: where it came from, what it holds, and its delivery attempts."""

    tracker: Acknowledger
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    size: int
    event_type: EventType | None = None
    event: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    """The vendor's JSON objects for this record (one or more), once mapped."""
    attempts: int = 0
    first_attempt: float | None = None
    last_attempt: float | None = None
    done: bool = False
