"""Partitions and commits, alone: epochs, fencing, and confirmations."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from bridge.kafka.consumer_events import CommitRequest
from bridge.metrics import Metrics
from bridge.pipeline.partitions import Partitions


def partitions() -> tuple[Partitions, CollectorRegistry]:
    registry = CollectorRegistry()
    return Partitions("qubit", Metrics(registry)), registry


def test_commit_stops_at_the_first_gap() -> None:
    owned, _ = partitions()
    owned.assign({("t", 0): 1})
    tracker = owned.get("t", 0)
    assert tracker is not None
    for offset in range(4):
        tracker.add(offset, 0.0)
    tracker.ack(0)
    tracker.ack(2)
    assert owned.commits() == [CommitRequest("t", 0, 1, 1)]


def test_a_late_ack_for_a_revoked_partition_commits_nothing() -> None:
    owned, _ = partitions()
    owned.assign({("t", 0): 1})
    tracker = owned.get("t", 0)
    assert tracker is not None
    tracker.add(0, 0.0)
    owned.give_up([("t", 0)])
    assert tracker.ack(0) is False
    assert owned.commits() == []
    assert owned.commits([tracker]) == []


def test_a_partition_reassigned_to_the_same_instance_starts_a_new_epoch() -> None:
    owned, _ = partitions()
    owned.assign({("t", 0): 1})
    old = owned.get("t", 0)
    assert old is not None
    old.add(5, 0.0)
    owned.give_up([("t", 0)])
    owned.assign({("t", 0): 2})
    new = owned.get("t", 0)
    assert new is not None
    assert new is not old
    old.ack(5)  # late, from the first assignment
    new.add(7, 0.0)
    new.ack(7)
    assert owned.commits() == [CommitRequest("t", 0, 2, 8)]


def test_a_confirmation_of_an_old_epoch_sets_no_gauge_and_no_position() -> None:
    owned, registry = partitions()
    owned.assign({("t", 0): 2})
    owned.confirmed([CommitRequest("t", 0, 1, 50)])
    assert (
        registry.get_sample_value(
            "bridge_committed_offset", {"vendor": "qubit", "topic": "t", "partition": "0"}
        )
        is None
    )
    tracker = owned.get("t", 0)
    assert tracker is not None
    assert tracker.committed is None


def test_a_lost_partition_sets_no_committed_gauge_afterwards() -> None:
    owned, registry = partitions()
    owned.assign({("t", 0): 1})
    owned.give_up([("t", 0)])
    owned.confirmed([CommitRequest("t", 0, 1, 3)])
    assert (
        registry.get_sample_value(
            "bridge_committed_offset", {"vendor": "qubit", "topic": "t", "partition": "0"}
        )
        is None
    )


def test_a_failed_commit_is_offered_again_and_a_confirmed_one_is_not() -> None:
    owned, _ = partitions()
    owned.assign({("t", 0): 1})
    tracker = owned.get("t", 0)
    assert tracker is not None
    tracker.add(0, 0.0)
    tracker.ack(0)
    first = owned.commits()
    assert first == [CommitRequest("t", 0, 1, 1)]
    # Kafka refused it (no confirmation): the same commit is due again.
    assert owned.commits() == first
    owned.confirmed(first)
    assert owned.commits() == []
