from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.kafka.offsets import PartitionOffsets


def tracker(offsets: list[int]) -> PartitionOffsets:
    t = PartitionOffsets("orders", 0, epoch=1)
    for i, offset in enumerate(offsets):
        t.add(offset, consumed_at=float(i))
    return t


def test_commit_stops_at_first_gap() -> None:
    t = tracker([0, 1, 2, 3])
    t.ack(0)
    t.ack(2)
    t.ack(3)
    assert t.to_commit() == 1
    t.ack(1)
    assert t.to_commit() == 4


def test_nothing_to_commit_before_the_first_record_is_done() -> None:
    t = tracker([5, 6])
    t.ack(6)
    assert t.to_commit() is None
    assert t.oldest_pending_since() == 0.0


def test_gaps_in_offsets_from_compaction_are_not_gaps_in_done_work() -> None:
    t = tracker([10, 14, 20])
    for offset in (20, 10, 14):
        t.ack(offset)
    assert t.to_commit() == 21
    assert t.unfinished == 0
    assert t.oldest_pending_since() is None


def test_confirmed_commit_is_not_sent_again() -> None:
    t = tracker([0, 1])
    t.ack(0)
    t.committed = t.to_commit()
    assert t.to_commit() is None
    t.ack(1)
    assert t.to_commit() == 2


def test_fenced_tracker_ignores_late_acks_and_offers_no_commit() -> None:
    t = tracker([0, 1])
    t.ack(0)
    t.fenced = True
    assert t.ack(1) is False
    assert t.to_commit() is None
    assert t.position == 1


def test_offsets_must_increase() -> None:
    t = tracker([3])
    with pytest.raises(ValueError, match="not after"):
        t.add(3, 0.0)


@given(
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60).flatmap(
        lambda steps: st.tuples(
            st.just(steps),
            st.permutations(range(len(steps))),
            st.integers(min_value=0, max_value=len(steps)),
        )
    )
)
def test_any_completion_order_commits_only_contiguous_done_offsets(
    case: tuple[list[int], list[int], int],
) -> None:
    steps, order, how_many_done = case
    offsets = []
    offset = 0
    for step in steps:
        offset += step
        offsets.append(offset)
    t = tracker(offsets)
    done: set[int] = set()
    for index in order[:how_many_done]:
        t.ack(offsets[index])
        done.add(offsets[index])
        position = t.to_commit()
        # Everything below the committed position was consumed and done...
        if position is not None:
            assert all(o in done for o in offsets if o < position)
        # ...and the position is as far as the done prefix reaches, no further.
        prefix = 0
        while prefix < len(offsets) and offsets[prefix] in done:
            prefix += 1
        expected = offsets[prefix - 1] + 1 if prefix else None
        assert position == expected


def test_a_leaving_partition_sends_only_what_closes_a_gap_and_waits_for_nothing_abandoned() -> None:
    t = tracker([0, 1, 2, 3, 4, 5])
    t.sending(0)
    t.ack(0)
    t.sending(3)  # on its way when the hand-over begins; it may reach the vendor
    t.leaving = True
    assert t.wanted(1)  # below what may have been delivered: it closes the gap under 3
    assert t.wanted(2)
    assert t.wanted(3)  # a retry of what was sent
    assert not t.wanted(4)  # the next owner delivers these two, once
    assert not t.wanted(5)
    t.abandon()
    t.abandon()
    assert t.unfinished == 3
    for offset in (1, 2, 3):
        t.ack(offset)
    assert t.unfinished == 0
    assert t.to_commit() == 4  # nothing past the commit reached the vendor


def test_a_fenced_partition_sends_nothing() -> None:
    t = tracker([0, 1])
    t.ack(1)
    t.fenced = True
    assert not t.wanted(0)
