"""Which offset commits are on their way to Kafka, and which wait to be sent again.

The consumer thread commits asynchronously: a synchronous commit blocks the thread until the
group coordinator answers, and while the broker is down that is the whole session timeout
(45 s measured with the defaults), with nothing polled meanwhile: no broker-state events, no
rebalance callbacks, no records. The answer comes later, through ``on_commit``. Only the
commits of a hand-over (a revocation, a shutdown) are waited for: the next owner reads them.

Kafka applies one member's commits in the order they were sent, so the rules that keep a
partition's committed offset from ever moving backwards are:

- a commit is not sent while one at the same or a higher offset is on its way;
- a refused commit is held and sent again (a rebalance's ILLEGAL_GENERATION, a coordinator
  moving), unless a commit at a higher offset is already on its way or held;
- a commit sent or landed at a higher offset replaces the one held, so a held commit is never
  sent after a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.kafka.consumer_events import CommitRequest, TopicPartition


class CommitBook:
    def __init__(self) -> None:
        self._sent: dict[tuple[TopicPartition, int], CommitRequest] = {}
        self._held: dict[TopicPartition, CommitRequest] = {}

    @property
    def busy(self) -> bool:
        """A commit is on its way or waits to be sent again."""
        return bool(self._sent or self._held)

    def not_on_their_way(self, commits: Iterable[CommitRequest]) -> list[CommitRequest]:
        """Those that would move a partition past every commit already on its way."""
        return [c for c in commits if c.offset > self._highest_sent(_key(c))]

    def sent(self, commits: Iterable[CommitRequest]) -> None:
        """Sent without waiting: the answer comes to `answered`."""
        for c in commits:
            self._drop_held_up_to(c)
            self._sent[(_key(c), c.offset)] = c

    def answered(
        self, answers: Iterable[tuple[TopicPartition, int, object]]
    ) -> tuple[list[CommitRequest], set[TopicPartition]]:
        """The commits these answers (partition, offset, error or None) are for, and the
        partitions that refused theirs; answers to commits not sent through `sent` are left out
        (a commit sent waiting for its answer has been dealt with already)."""
        commits: list[CommitRequest] = []
        refused: set[TopicPartition] = set()
        for partition, offset, error in answers:
            commit = self._sent.pop((partition, offset), None)
            if commit is not None:
                commits.append(commit)
                if error is not None:
                    refused.add(partition)
        return commits, refused

    def landed(self, commits: Iterable[CommitRequest]) -> None:
        for c in commits:
            self._drop_held_up_to(c)

    def refused(self, commits: Iterable[CommitRequest]) -> None:
        """Hold each to send again, unless a newer commit of its partition already covers it."""
        for c in commits:
            key = _key(c)
            held = self._held.get(key)
            if c.offset <= self._highest_sent(key):
                continue
            if held is None or held.epoch != c.epoch or held.offset < c.offset:
                self._held[key] = c

    def take_held(self) -> list[CommitRequest]:
        held = list(self._held.values())
        self._held.clear()
        return held

    def forget(self, partition: TopicPartition) -> None:
        """The partition is no longer ours: its late answers and held commits no longer count."""
        self._held.pop(partition, None)
        for key in [key for key in self._sent if key[0] == partition]:
            del self._sent[key]

    def _highest_sent(self, partition: TopicPartition) -> int:
        return max((offset for key, offset in self._sent if key == partition), default=-1)

    def _drop_held_up_to(self, commit: CommitRequest) -> None:
        held = self._held.get(_key(commit))
        if held is not None and held.offset <= commit.offset:
            del self._held[_key(commit)]


def _key(commit: CommitRequest) -> TopicPartition:
    return (commit.topic, commit.partition)
