"""Replay's pure parts: reading a letter's headers, the selection, the summary and exit code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from confluent_kafka import Message

from bridge.commands.replay import (
    EXIT_INTERRUPTED,
    EXIT_NOT_ALL,
    EXIT_OK,
    REPLAY_OF_HEADER,
    Letter,
    Selection,
    Summary,
    parse_time,
)
from bridge.errors import ConfigError
from bridge.kafka.offsets import commit_metadata, committed_at


class FakeMessage:
    def __init__(self, headers: list[tuple[str, bytes]], timestamp_ms: int = 1_700_000_000_000):
        self._headers = headers
        self._timestamp = timestamp_ms

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp)

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"O-1"

    def value(self) -> bytes:
        return b"avro"


def letter(**overrides: Any) -> Letter:
    bridge = {
        "bridge.vendor": "qubit",
        "bridge.error.class": "rejected",
        "bridge.error.message": "HTTP 400: bad currency",
        "bridge.http.status": "400",
        "bridge.attempts": "3",
        "bridge.source.topic": "orders",
        "bridge.source.partition": "1",
        "bridge.source.offset": "17",
        "bridge.attempt.first": "2024-01-01T00:00:00.000+00:00",
        "bridge.attempt.last": "2024-01-01T00:00:05.000+00:00",
        **overrides,
    }
    headers = [("traceparent", b"00-abc"), *((k, v.encode()) for k, v in bridge.items())]
    return Letter.from_message(cast(Message, FakeMessage(headers)))


def test_a_letter_reads_its_headers() -> None:
    read = letter()
    assert (read.vendor, read.error_class, read.status, read.attempts) == (
        "qubit",
        "rejected",
        400,
        3,
    )
    assert read.source == ("orders", 1, 17)
    assert read.ref == "2:41"
    assert read.is_letter


def test_the_record_to_send_again_is_the_original_with_its_history() -> None:
    record = letter().record()
    assert (record.topic, record.partition, record.offset) == ("orders", 1, 17)
    assert (record.key, record.value) == (b"O-1", b"avro")
    # The old bridge.* headers go (the writer adds the new ones); the original's stay.
    assert record.headers == [("traceparent", b"00-abc"), (REPLAY_OF_HEADER, b"2:41")]
    assert record.attempts == 3
    assert record.first_attempt == datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def test_a_replay_marker_is_not_a_letter_but_settles_one() -> None:
    marker = letter(**{"bridge.replayed": "0:5"})
    assert not marker.is_letter
    assert marker.settles() == "0:5"
    assert letter(**{REPLAY_OF_HEADER: "0:7"}).settles() == "0:7"


@pytest.mark.parametrize(
    ("selection", "selected"),
    [
        (Selection("qubit"), True),
        (Selection("qubit", classes=frozenset({"rejected", "per_event"})), True),
        (Selection("qubit", classes=frozenset({"decode"})), False),
        (Selection("qubit", statuses=frozenset({400})), True),
        (Selection("qubit", statuses=frozenset({422})), False),
        (Selection("qubit", source_topic="orders", source_partition=1), True),
        (Selection("qubit", source_partition=0), False),
        (Selection("qubit", min_offset=17, max_offset=17), True),
        (Selection("qubit", min_offset=18), False),
        (Selection("qubit", max_offset=16), False),
        (Selection("qubit", since_ms=1_700_000_000_000), True),
        (Selection("qubit", since_ms=1_700_000_000_001), False),
        (Selection("qubit", until_ms=1_699_999_999_999), False),
    ],
)
def test_the_selection_by_headers(selection: Selection, selected: bool) -> None:
    assert selection.matches(letter()) is selected


def test_the_selection_by_id_reads_the_event() -> None:
    by_id = Selection("qubit", id="O-1")
    assert by_id.matches_event({"order_id": "O-1", "event_id": "e"})
    assert by_id.matches_event({"event_id": "O-1"})
    assert not by_id.matches_event({"order_id": "O-2"})
    assert not by_id.matches_event(None)  # undecodable: cannot be told apart
    assert Selection("qubit").matches_event(None)


def test_times_are_iso_or_ages() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_time("2h", now) == int(datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2024-05-01T11:00:00", now) == int(
        datetime(2024, 5, 1, 11, 0, tzinfo=UTC).timestamp() * 1000
    )
    assert parse_time("2024-05-01T13:00:00+02:00", now) == parse_time("2024-05-01T11:00:00", now)
    with pytest.raises(ConfigError):
        parse_time("yesterday", now)


def test_the_exit_code_says_whether_everything_went() -> None:
    summary = Summary(replayed=3)
    summary.passed_over["other vendor"] += 5
    assert summary.exit_code == EXIT_OK
    summary.refused["rejected"] += 1
    assert summary.exit_code == EXIT_NOT_ALL
    assert Summary(skipped={"no_consent": 1}).exit_code == EXIT_NOT_ALL  # type: ignore[arg-type]
    assert Summary(interrupted=True).exit_code == EXIT_INTERRUPTED
    text = summary.render()
    assert "replayed: 3" in text
    assert "refused again: 1" in text
    assert "other vendor: 5" in text


def test_commit_metadata_carries_the_commit_time() -> None:
    assert committed_at(commit_metadata(1_700_000_000.5)) == 1_700_000_000.5
    assert committed_at("") is None
    assert committed_at("something else") is None
