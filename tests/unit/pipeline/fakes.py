"""Plain fakes for building pipeline parts alone."""

from __future__ import annotations

from bridge.kafka.offsets import PartitionOffsets
from bridge.records import Record


def record(
    tracker: PartitionOffsets, offset: int, key: bytes | None = None, size: int = 10
) -> Record:
    tracker.add(offset, 0.0)
    return Record(
        tracker=tracker,
        topic=tracker.topic,
        partition=tracker.partition,
        offset=offset,
        key=key,
        value=b"x" * size,
        headers=[],
        size=size,
    )


class Switch:
    """Records what FlowControl asked of the consumer."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, fetching: bool) -> None:
        self.calls.append(fetching)
