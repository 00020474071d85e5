"""What the consumer thread tells the pipeline: typed events, in the order they happened.

The thread puts them on an asyncio queue; the pipeline's event task handles them one at a
time, so an assignment always comes before that partition's first records, and a batch of
records before the revocation that follows it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass

from confluent_kafka import Message

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class CommitRequest:
    topic: str
    partition: int
    epoch: int
    offset: int


@dataclass(frozen=True, slots=True)
class Assigned:
    partitions: dict[TopicPartition, int]
    """Each newly assigned partition with its assignment epoch."""


@dataclass(frozen=True, slots=True)
class Fetched:
    records: list[Message]
    admitted: threading.Event
    """Set it once the records count against the in-flight limits: the next fetch waits."""


@dataclass(frozen=True, slots=True)
class Revoked:
    partitions: list[TopicPartition]
    done_now: concurrent.futures.Future[list[CommitRequest]]
    """Resolve at once with the commits for what is already done: committed first, while the
    member's generation is most likely still the group's."""
    reply: concurrent.futures.Future[list[CommitRequest]]
    """Resolve with the commits for what could be finished; the hand-over waits for it."""


@dataclass(frozen=True, slots=True)
class Lost:
    partitions: list[TopicPartition]


@dataclass(frozen=True, slots=True)
class Committed:
    commits: list[CommitRequest]


@dataclass(frozen=True, slots=True)
class CommitFailed:
    error: str


@dataclass(frozen=True, slots=True)
class BrokerState:
    reachable: bool


ConsumerEvent = Assigned | Fetched | Revoked | Lost | Committed | CommitFailed | BrokerState
