"""The commit book: asynchronous commits never move a partition's committed offset backwards."""

from __future__ import annotations

from bridge.kafka.commits import CommitBook
from bridge.kafka.consumer_events import CommitRequest

P = ("t", 0)


def at(offset: int, epoch: int = 1) -> CommitRequest:
    return CommitRequest("t", 0, epoch, offset)


def test_a_commit_is_not_sent_while_one_at_the_same_or_a_higher_offset_is_on_its_way() -> None:
    book = CommitBook()
    book.sent([at(20)])
    assert book.not_on_their_way([at(10), at(20), at(30)]) == [at(30)]
    assert book.not_on_their_way([CommitRequest("t", 1, 1, 5)]) == [CommitRequest("t", 1, 1, 5)]


def test_a_refused_commit_is_held_and_sent_again_once() -> None:
    book = CommitBook()
    book.sent([at(10)])
    commits, refused = book.answered([(P, 10, "ILLEGAL_GENERATION")])
    assert (commits, refused) == ([at(10)], {P})
    book.refused(commits)
    assert book.busy
    assert book.take_held() == [at(10)]
    assert book.take_held() == []
    assert not book.busy


def test_a_refused_commit_passed_by_a_newer_one_on_its_way_is_not_sent_again() -> None:
    # Sent after the newer one, it would land last and move the committed offset back.
    book = CommitBook()
    book.sent([at(10)])
    book.sent([at(20)])
    commits, _ = book.answered([(P, 10, "ILLEGAL_GENERATION")])
    book.refused(commits)
    assert book.take_held() == []


def test_a_held_commit_is_dropped_once_a_newer_one_is_sent_or_lands() -> None:
    book = CommitBook()
    book.refused([at(10)])
    book.sent([at(20)])
    assert book.take_held() == []
    book.refused([at(30)])
    book.landed([at(30)])
    assert book.take_held() == []


def test_a_held_commit_keeps_the_highest_offset_refused() -> None:
    book = CommitBook()
    book.refused([at(30)])
    book.refused([at(10)])
    assert book.take_held() == [at(30)]


def test_answers_to_commits_not_waited_for_here_are_left_out() -> None:
    book = CommitBook()
    book.sent([at(10)])
    assert book.answered([(P, 11, None), (("t", 1), 10, None)]) == ([], set())
    assert book.answered([(P, 10, None)]) == ([at(10)], set())
    assert not book.busy


def test_a_partition_given_up_forgets_its_commits() -> None:
    book = CommitBook()
    book.sent([at(10)])
    book.refused([at(15, epoch=2)])
    book.forget(P)
    assert not book.busy
    assert book.answered([(P, 10, None)]) == ([], set())
