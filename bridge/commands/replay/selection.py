"""Which letters to replay, as the command line gives them.

Those whose ``bridge.vendor`` header names ``--vendor`` (on the shared topic the other vendors'
letters are passed over, and no letter ever goes to a vendor its header does not name),
narrowed by the selection (error class, HTTP status, source topic, partition and offset range,
the time the letter was written, one order/event/product id).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.commands.replay.letters import Letter
from bridge.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Selection:
    vendor: str
    classes: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    source_topic: str | None = None
    source_partition: int | None = None
    min_offset: int | None = None
    max_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    id: str | None = None
    """An order, event or product id: matched on the decoded event."""

    def matches(self, letter: Letter) -> bool:
        """Every criterion the headers can answer (all but `id`)."""
        if self.classes and letter.error_class not in self.classes:
            return False
        if self.statuses and letter.status not in self.statuses:
            return False
        source = letter.source
        if self.source_topic is not None and (source is None or source[0] != self.source_topic):
            return False
        if self.source_partition is not None and (
            source is None or source[1] != self.source_partition
        ):
            return False
        if self.min_offset is not None and (source is None or source[2] < self.min_offset):
            return False
        if self.max_offset is not None and (source is None or source[2] > self.max_offset):
            return False
        stamp = letter.timestamp_ms
        if self.since_ms is not None and (stamp is None or stamp < self.since_ms):
            return False
        return not (self.until_ms is not None and (stamp is None or stamp > self.until_ms))

    def matches_event(self, event: dict[str, Any] | None) -> bool:
        if self.id is None:
            return True
        if event is None:
            return False
        return self.id in {event.get("order_id"), event.get("event_id"), event.get("product_id")}


def parse_time(text: str, now: datetime | None = None) -> int:
    """Epoch milliseconds from ISO-8601 (UTC unless it says) or an age like 30m, 2h, 1d."""
    now = now or datetime.now(UTC)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return int((now - timedelta(seconds=int(text[:-1]) * units[text[-1]])).timestamp() * 1000)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r}: not an ISO-8601 time or an age like 30m, 2h, 1d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Options:
    selection: Selection
    from_beginning: bool = False
    dry_run: bool = False
    limit: int | None = None
    """Stop after this many selected letters (a first careful run)."""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", required=True, help="the vendor whose letters to send again")
    parser.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="CLASS",
        help="only letters of this error class (repeatable): rejected, per_event, "
        "retries_exhausted, unmappable, mapper_error, decode",
    )
    parser.add_argument(
        "--status", dest="statuses", action="append", type=int, help="only this HTTP status"
    )
    parser.add_argument("--source-topic", help="only letters from this input topic")
    parser.add_argument("--source-partition", type=int, help="only letters from this partition")
    parser.add_argument("--min-offset", type=int, help="only source offsets from this one")
    parser.add_argument("--max-offset", type=int, help="only source offsets up to this one")
    parser.add_argument(
        "--since", help="only letters written since (ISO-8601, UTC unless given, or 30m, 2h, 1d)"
    )
    parser.add_argument("--until", help="only letters written until (same forms as --since)")
    parser.add_argument("--id", help="only the letter(s) of this order, event or product id")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="read the dead-letter topic from its start, not from the replay group's offset "
        "(letters already replayed are still never sent again)",
    )
    parser.add_argument(
        "--limit", type=int, help="stop after this many selected letters (resume later)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="send and commit nothing: count the matches and show one request",
    )


def options_from(args: argparse.Namespace) -> Options:
    selection = Selection(
        vendor=args.vendor,
        classes=frozenset(args.classes or ()),
        statuses=frozenset(args.statuses or ()),
        source_topic=args.source_topic,
        source_partition=args.source_partition,
        min_offset=args.min_offset,
        max_offset=args.max_offset,
        since_ms=parse_time(args.since) if args.since else None,
        until_ms=parse_time(args.until) if args.until else None,
        id=args.id,
    )
    return Options(selection, args.from_beginning, args.dry_run, args.limit)
