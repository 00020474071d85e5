"""A dead letter as replay reads it: its ``bridge.*`` headers, and the original record to send
again; the headers a replay writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from confluent_kafka import Message

from bridge.records import Record

REPLAYED_HEADER = "bridge.replayed"


REPLAY_OF_HEADER = "bridge.replay.of"


REPLAY_AT_HEADER = "bridge.replay.at"


@dataclass(frozen=True, slots=True)
class Letter:
    """One record read from the dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    bridge: dict[str, str]
    """The ``bridge.*`` headers, decoded (the last of a name wins)."""

    @classmethod
    def from_message(cls, message: Message) -> Letter:
        raw = cast(list[tuple[str, bytes | str | None]], message.headers() or [])
        headers = [
            (name, value if isinstance(value, bytes) else (value or "").encode())
            for name, value in raw
        ]
        kind, stamp = message.timestamp()
        return cls(
            partition=cast(int, message.partition()),
            offset=cast(int, message.offset()),
            timestamp_ms=stamp if kind != 0 and stamp >= 0 else None,
            key=message.key(),
            value=message.value(),
            headers=headers,
            bridge={
                name: value.decode("utf-8", "replace")
                for name, value in headers
                if name.startswith("bridge.")
            },
        )

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def vendor(self) -> str | None:
        return self.bridge.get("bridge.vendor")

    @property
    def is_letter(self) -> bool:
        """A dead letter (not a replay marker or a foreign record)."""
        return "bridge.error.class" in self.bridge and REPLAYED_HEADER not in self.bridge

    @property
    def error_class(self) -> str:
        return self.bridge.get("bridge.error.class", "")

    @property
    def message(self) -> str:
        return self.bridge.get("bridge.error.message", "")

    @property
    def status(self) -> int | None:
        return _int(self.bridge.get("bridge.http.status"))

    @property
    def attempts(self) -> int:
        return _int(self.bridge.get("bridge.attempts")) or 0

    @property
    def source(self) -> tuple[str, int, int] | None:
        topic = self.bridge.get("bridge.source.topic")
        partition = _int(self.bridge.get("bridge.source.partition"))
        offset = _int(self.bridge.get("bridge.source.offset"))
        if topic is None or partition is None or offset is None:
            return None
        return topic, partition, offset

    def settles(self) -> str | None:
        """The letter this record says is settled (a marker, or a letter's replacement)."""
        return self.bridge.get(REPLAYED_HEADER) or self.bridge.get(REPLAY_OF_HEADER)

    def record(self) -> Record:
        """The original record, as the live pipeline had it, to send again."""
        topic, partition, offset = self.source or ("", -1, -1)
        original = [(name, value) for name, value in self.headers if not name.startswith("bridge.")]
        return Record(
            tracker=ReplayTracker(),
            topic=topic,
            partition=partition,
            offset=offset,
            key=self.key,
            value=self.value,
            headers=[*original, (REPLAY_OF_HEADER, self.ref.encode())],
            size=len(self.value or b""),
            attempts=self.attempts,
            first_attempt=_epoch(self.bridge.get("bridge.attempt.first")),
            last_attempt=_epoch(self.bridge.get("bridge.attempt.last")),
        )


class ReplayTracker:
    """The offset tracker of a replayed record: never fenced; the group's commit is ours."""

    fenced = False

    def ack(self, offset: int) -> bool:
        return True

    def wanted(self, offset: int) -> bool:
        return True

    def abandon(self) -> None:
        pass

    def sending(self, offset: int) -> None:
        pass

    def add(self, offset: int, consumed_at: float) -> None:
        pass


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
