"""`bridge replay`: send dead letters again to the vendor they failed at.

A letter goes through the live pipeline's own parts, never through copies of them: `Intake`
decodes and maps it (the schema registry, consent and the ``on_unmappable`` policy included),
`Sender` sends it with the vendor's rate limit, retries and circuit, `DeadLetterWriter` and
`OutcomeWriter` report what became of it. Letters are sent one batch at a time, in order.

Which letters: those whose ``bridge.vendor`` header names ``--vendor`` (on the shared topic the
other vendors' letters are passed over, and no letter ever goes to a vendor its header does not
name), narrowed by the selection (error class, HTTP status, source topic, partition and offset
range, the time the letter was written, one order/event/product id).

What becomes of a selected letter:
- **replayed**: the vendor acknowledged it; its outcome is written (when the outcome log is on)
  and a *replay marker* is appended to the dead-letter topic: a record without a value whose
  ``bridge.replayed`` header names the letter (``<partition>:<offset>``);
- **refused again**: it is written to the dead-letter topic again, as a new letter with the
  original key, value and headers, ``bridge.attempts`` raised by the attempts of this replay,
  the new class and message, and ``bridge.replay.of`` naming the letter it replaces;
- **skipped**: the vendor cannot take it under the current configuration (``on_unmappable:
  skip``, consent) and the live pipeline would skip it too; or its source topic is no longer
  configured (then nothing is written, and it stays where it is).

Progress: the consumer group ``<group_prefix>.replay.<vendor>`` on the dead-letter topic. Its
offset is committed after each batch is settled (every letter before it: replayed, refused
again, skipped, or passed over as not selected), so an interrupted replay resumes where it
stopped. A run reads up to the end offsets it found at its start: the letters it writes itself
(refused again) come after that and wait for the next run, so a replay never loops.

Before sending, a run reads the same range once for markers and ``bridge.replay.of`` headers:
a letter already replayed or superseded is never sent again, even when the commit after it was
lost (a crash between the marker and the commit). ``--from-beginning`` reads from the start of
the topic instead of the group's offset: letters an earlier run passed over (not selected then)
become selectable, and letters already replayed or superseded are still recognised by their
markers and never sent again.

Exit status: 0 when every selected letter was replayed (or none was selected), 1 when any was
refused again or skipped, 130 when interrupted (progress is kept: run it again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, cast

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from bridge.commands.preview import render
from bridge.config import Config
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit, CircuitState
from bridge.delivery.sender import Sender, Sent
from bridge.errors import ConfigError
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.offsets import commit_metadata
from bridge.kafka.outcomes import OutcomeWriter
from bridge.kafka.producer import AsyncProducer, ProduceError
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake
from bridge.records import Record
from bridge.vendors import build_vendor
from bridge.vendors.base import Vendor

EXIT_OK = 0
EXIT_NOT_ALL = 1
EXIT_INTERRUPTED = 130

REPLAYED_HEADER = "bridge.replayed"
REPLAY_OF_HEADER = "bridge.replay.of"
REPLAY_AT_HEADER = "bridge.replay.at"
READ_BATCH = 500
READ_TIMEOUT_S = 0.5


def replay_group(config: Config, vendor: str) -> str:
    return f"{config.kafka.group_prefix}.replay.{vendor}"


# -- letters and the selection --------------------------------------------------------------


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
            tracker=_Replaying(),
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


# -- the summary ----------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    selected: int = 0
    replayed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    passed_over: Counter[str] = field(default_factory=Counter)
    """Letters read but not selected: other vendors, not matching, already replayed."""
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if not self.refused and not self.skipped else EXIT_NOT_ALL

    def render(self) -> str:
        lines = [
            f"replayed: {self.replayed}",
            f"refused again: {sum(self.refused.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.refused.items())),
            f"skipped: {sum(self.skipped.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.skipped.items())),
            f"not selected: {sum(self.passed_over.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.passed_over.items())),
        ]
        if self.interrupted:
            lines.append("interrupted: run the same command again to resume")
        return "\n".join(lines)


class Progress:
    """A one-line progress bar on a terminal; nothing otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._on = stream.isatty()
        self._shown = 0.0

    def update(self, done: int, summary: Summary, force: bool = False) -> None:
        now = time.monotonic()
        if not self._on or (not force and now - self._shown < 0.1):
            return
        self._shown = now
        share = min(1.0, done / self._total)
        bar = "#" * int(share * 30)
        self._stream.write(
            f"\r[{bar:<30}] {done}/{self._total}  replayed {summary.replayed}  "
            f"refused {sum(summary.refused.values())}  skipped {sum(summary.skipped.values())} "
        )
        self._stream.flush()

    def close(self) -> None:
        if self._on:
            self._stream.write("\n")
            self._stream.flush()


# -- reading the dead-letter topic ------------------------------------------------------------


class DeadLetterReader:
    """Reads one vendor's dead-letter topic from the group's offsets (or the start) to the end
    offsets found when it opened; commits the group's offsets."""

    def __init__(self, config: Config, vendor: str, from_beginning: bool) -> None:
        self.topic = config.dead_letter.topic_for(vendor)
        self.group = replay_group(config, vendor)
        self._consumer = Consumer(
            {
                **config.kafka.client_properties(),
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
            }
        )
        metadata = self._consumer.list_topics(self.topic, timeout=15).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            self._consumer.close()
            raise ConfigError(f"dead-letter topic {self.topic}: not found")
        partitions = sorted(metadata.partitions)
        self.ends: dict[int, int] = {}
        self.starts: dict[int, int] = {}
        committed = (
            {}
            if from_beginning
            else {
                tp.partition: tp.offset
                for tp in self._consumer.committed(
                    [TopicPartition(self.topic, p) for p in partitions], timeout=15
                )
            }
        )
        for partition in partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=15
            )
            self.ends[partition] = high
            start = committed.get(partition, -1)
            self.starts[partition] = max(low, start) if start >= 0 else low

    @property
    def total(self) -> int:
        return sum(max(0, self.ends[p] - self.starts[p]) for p in self.ends)

    async def read(self) -> Any:
        """Every record from the starts to the ends, in offset order per partition."""
        wanted = {p for p in self.ends if self.starts[p] < self.ends[p]}
        if not wanted:
            return
        self._consumer.assign([TopicPartition(self.topic, p, self.starts[p]) for p in wanted])
        try:
            while wanted:
                messages = await asyncio.to_thread(
                    self._consumer.consume, READ_BATCH, READ_TIMEOUT_S
                )
                for message in messages:
                    if message.error() is not None:
                        continue
                    partition = cast(int, message.partition())
                    offset = cast(int, message.offset())
                    if partition not in wanted or offset >= self.ends[partition]:
                        continue
                    yield Letter.from_message(message)
                    if offset + 1 >= self.ends[partition]:
                        wanted.discard(partition)
                for partition in list(wanted):
                    # A partition whose last records were deleted (retention) ends early.
                    position = self._consumer.position([TopicPartition(self.topic, partition)])
                    low, _ = self._consumer.get_watermark_offsets(
                        TopicPartition(self.topic, partition), cached=True
                    )
                    if position[0].offset >= self.ends[partition] or low >= self.ends[partition]:
                        wanted.discard(partition)
        finally:
            with contextlib.suppress(KafkaException, RuntimeError):
                self._consumer.unassign()

    async def commit(self, positions: dict[int, int]) -> None:
        if not positions:
            return
        metadata = commit_metadata()
        offsets = [
            TopicPartition(self.topic, partition, offset, metadata=metadata)
            for partition, offset in positions.items()
        ]
        await asyncio.to_thread(self._consumer.commit, offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()


async def settled_letters(reader: DeadLetterReader, vendor: str) -> set[str]:
    """The letters of `vendor` (``partition:offset``) that markers or replacements settle."""
    settled: set[str] = set()
    async for letter in reader.read():
        if letter.vendor == vendor:
            ref = letter.settles()
            if ref:
                settled.add(ref)
    return settled


# -- the live pipeline's parts, for records that are not in a partition --------------------


class _Replaying:
    """The offset tracker of a replayed record: never fenced; the group's commit is ours."""

    fenced = False

    def ack(self, offset: int) -> bool:
        return True

    def add(self, offset: int, consumed_at: float) -> None:
        pass


class _AsMessage:
    """A letter's original record in the shape `Intake.take` reads (a Kafka message)."""

    def __init__(self, record: Record) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record.topic

    def partition(self) -> int:
        return self._record.partition

    def offset(self) -> int:
        return self._record.offset

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes | None:
        return self._record.value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._record.headers


class _OnePartition:
    """What `Intake.take` asks of the partitions: the tracker of the record's partition."""

    def __init__(self, tracker: _Replaying) -> None:
        self._tracker = tracker

    def get(self, topic: str, partition: int) -> _Replaying:
        return self._tracker


@dataclass(slots=True)
class Admission:
    """What `Intake` made of one letter."""

    record: Record
    ready: bool = False
    skipped: str | None = None
    dead: tuple[str, str, str] | None = None
    """(error class, message, reason)"""


async def admit(intake: Intake, letter: Letter) -> Admission:
    """Decode and map the letter's original record as the live pipeline does."""
    original = letter.record()
    admitted = await intake.take(
        [cast(Message, _AsMessage(original))],
        cast(Any, _OnePartition(cast(_Replaying, original.tracker))),
    )
    if admitted.ready:
        admission = Admission(admitted.ready[0], ready=True)
    elif admitted.skipped:
        record, reason = admitted.skipped[0]
        admission = Admission(record, skipped=reason)
    elif admitted.dead:
        record, error_class, message, reason = admitted.dead[0]
        admission = Admission(record, dead=(error_class, message, reason))
    else:
        raise RuntimeError("intake returned nothing for a replayed record")
    # Intake builds its own Record from the message; it carries on the letter's history.
    admission.record.attempts = original.attempts
    admission.record.first_attempt = original.first_attempt
    admission.record.last_attempt = original.last_attempt
    return admission


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    selection: Selection
    from_beginning: bool = False
    dry_run: bool = False
    limit: int | None = None
    """Stop after this many selected letters (a first careful run)."""


def build(config: Config, name: str) -> Vendor[Any]:
    if name not in config.vendors:
        raise ConfigError(f"--vendor {name}: not a vendor of the config")
    if name not in config.vendor_settings:
        raise ConfigError(f"--vendor {name}: the vendor is disabled in the config")
    return build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)


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


def run_replay(config: Config, args: argparse.Namespace) -> int:
    """`bridge replay`: returns the exit status."""
    return replay(config, options_from(args))


def replay(
    config: Config, options: Options, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Replay (or, with `dry_run`, count) the selected letters; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    if options.dry_run:
        return asyncio.run(_dry_run(config, options, out))
    return asyncio.run(_replay(config, options, out, err))


async def _selected(
    reader: DeadLetterReader, intake: Intake, options: Options, summary: Summary, settled: set[str]
) -> Any:
    """(letter, admission or None) for each letter read; None when it is passed over."""
    selection = options.selection
    async for letter in reader.read():
        if not letter.is_letter:
            yield letter, None
            continue
        if letter.vendor != selection.vendor:
            summary.passed_over["other vendor"] += 1
            yield letter, None
            continue
        if letter.ref in settled:
            summary.passed_over["already replayed"] += 1
            yield letter, None
            continue
        if not selection.matches(letter):
            summary.passed_over["not matching"] += 1
            yield letter, None
            continue
        if options.limit is not None and summary.selected >= options.limit:
            return
        if letter.source is None or intake.source(letter.source[0]) is None:
            where = letter.source[0] if letter.source else "?"
            summary.selected += 1
            summary.skipped[f"source topic {where} not configured"] += 1
            yield letter, None
            continue
        admission = await admit(intake, letter)
        if not selection.matches_event(admission.record.event):
            summary.passed_over["not matching"] += 1
            yield letter, None
            continue
        summary.selected += 1
        yield letter, admission


async def _dry_run(config: Config, options: Options, out: TextIO) -> int:
    vendor = build(config, options.selection.vendor)
    intake = Intake(config, vendor, Metrics(CollectorRegistry()))
    reader = DeadLetterReader(config, vendor.name, options.from_beginning)
    summary = Summary()
    groups: Counter[tuple[str, str, str, str]] = Counter()
    sample: str | None = None
    try:
        settled = await settled_letters(reader, vendor.name)
        letters = _selected(reader, intake, options, summary, settled)
        async with contextlib.aclosing(letters):
            async for letter, admission in letters:
                if admission is None:
                    continue
                status = "" if letter.status is None else str(letter.status)
                groups[(vendor.name, letter.error_class, status, _reason(letter.message))] += 1
                if sample is None and admission.ready:
                    sample = render([vendor.build_request(admission.record.items)])
    finally:
        reader.close()
    out.write(
        f"dry run: nothing is sent or committed; {reader.topic} from "
        f"{'the beginning' if options.from_beginning else f'group {reader.group}'}\n"
    )
    out.write(f"{summary.selected} letters match\n")
    if groups:
        out.write(_table(("vendor", "class", "status", "reason", "letters"), groups))
    skipped = sum(summary.skipped.values())
    if skipped:
        out.write(f"{skipped} of them cannot be sent: {dict(summary.skipped)}\n")
    if summary.passed_over:
        out.write(f"not selected: {dict(summary.passed_over)}\n")
    out.write("\nsample request (secrets masked):\n" if sample else "\nno sample request\n")
    if sample:
        out.write(sample + "\n")
    return EXIT_OK


async def _replay(config: Config, options: Options, out: TextIO, err: TextIO) -> int:
    vendor = build(config, options.selection.vendor)
    vc = config.vendors[vendor.name]
    metrics = Metrics(CollectorRegistry())
    intake = Intake(config, vendor, metrics)
    loop = asyncio.get_running_loop()
    reader = DeadLetterReader(config, vendor.name, options.from_beginning)
    producer = AsyncProducer(
        {**config.kafka.client_properties(), **config.kafka.producer_properties}, loop
    )
    dead_letters = DeadLetterWriter(producer, reader.topic, config.dead_letter.max_error_chars)
    outcomes = (
        OutcomeWriter(producer, config.outcomes.topic, vendor.name, lambda: None)
        if config.outcomes.enabled
        else None
    )

    def on_circuit(state: CircuitState) -> None:
        why = " (credentials or endpoint refused)" if circuit.refused else ""
        err.write(f"\n{vendor.name}: circuit {state}{why}\n")

    circuit = Circuit(vc.circuit.failure_threshold, vc.circuit.open_s, on_circuit)
    summary = Summary()
    stopping = _Stopping(loop, err)
    try:
        settled = await settled_letters(reader, vendor.name)
        progress = Progress(reader.total, err)
        async with VendorClient(vendor, vc.request_timeout_s, metrics) as client:
            sender = Sender(vendor, vc, client, circuit, metrics)
            run = _Run(vendor, reader, sender, dead_letters, outcomes, producer, summary)
            max_events = vc.batch.max_events if vendor.batches else 1
            read = 0
            letters = _selected(reader, intake, options, summary, settled)
            async with contextlib.aclosing(letters):
                async for letter, admission in letters:
                    if stopping.requested:
                        summary.interrupted = True
                        break
                    read += 1
                    await run.take(letter, admission, max_events)
                    progress.update(read, summary)
            if summary.interrupted:
                run.forget()  # the unsent batch's letters are read again next time
            else:
                await run.flush()
            await run.commit()
        progress.update(read, summary, force=True)
        progress.close()
    finally:
        stopping.close()
        circuit.close()
        await producer.close()
        reader.close()
    out.write(
        f"{vendor.name}: {summary.selected} letters selected from {reader.topic} "
        f"(progress: group {reader.group})\n"
    )
    out.write(summary.render() + "\n")
    return summary.exit_code


class _Stopping:
    """The first SIGINT/SIGTERM stops after the current batch; a second one stops at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, err: TextIO) -> None:
        self.requested = False
        self._loop = loop
        self._err = err
        self._task = asyncio.current_task()
        self._installed: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._signalled)
                self._installed.append(signum)

    def _signalled(self) -> None:
        if self.requested and self._task is not None:
            self._task.cancel()
            return
        self.requested = True
        self._err.write(
            "\nstopping after the current batch (again to stop now; an unfinished batch is "
            "sent again next time)\n"
        )

    def close(self) -> None:
        for signum in self._installed:
            self._loop.remove_signal_handler(signum)


class _Run:
    """Batches selected letters, sends them, settles them, commits the group's offsets."""

    def __init__(
        self,
        vendor: Vendor[Any],
        reader: DeadLetterReader,
        sender: Sender,
        dead_letters: DeadLetterWriter,
        outcomes: OutcomeWriter | None,
        producer: AsyncProducer,
        summary: Summary,
    ) -> None:
        self._vendor = vendor
        self._reader = reader
        self._sender = sender
        self._dead_letters = dead_letters
        self._outcomes = outcomes
        self._producer = producer
        self._summary = summary
        self._batch: list[tuple[Letter, Record]] = []
        self._positions: dict[int, int] = {}
        """The offset after the last letter read, per partition: committed once settled."""
        self._uncommitted = 0

    async def take(self, letter: Letter, admission: Admission | None, max_events: int) -> None:
        self._positions[letter.partition] = letter.offset + 1
        self._uncommitted += 1
        if admission is None:
            if not self._batch and self._uncommitted >= READ_BATCH:
                await self._commit()
            return
        record = admission.record
        if admission.ready:
            self._batch.append((letter, record))
            if len(self._batch) >= max_events:
                await self.flush()
            return
        if admission.skipped is not None:
            await self._outcome(record, "skipped", admission.skipped, None)
            self._summary.skipped[admission.skipped] += 1
        elif admission.dead is not None:
            error_class, message, reason = admission.dead
            await self._refused(record, error_class, message, None, reason)
        if not self._batch:
            await self._commit()

    async def flush(self) -> None:
        if self._batch:
            letters = {id(record): letter for letter, record in self._batch}
            sent: Sent = await self._sender.send([record for _, record in self._batch])
            for records, status in sent.delivered:
                for record in records:
                    await self._delivered(letters[id(record)], record, status)
            for failure in sent.failed:
                await self._refused(
                    failure.record,
                    failure.error_class,
                    failure.message,
                    failure.status,
                    _reason(failure.message),
                )
            self._batch = []
        await self._commit()

    def forget(self) -> None:
        """Drop the unsent batch: the group's offset stays at its first letter, which is read
        again next time."""
        for letter, _ in self._batch:
            if letter.offset < self._positions.get(letter.partition, letter.offset + 1):
                self._positions[letter.partition] = letter.offset
        self._batch = []

    async def commit(self) -> None:
        await self._commit()

    async def _delivered(self, letter: Letter, record: Record, status: int) -> None:
        await self._outcome(record, "delivered", None, status)
        headers: list[tuple[str, bytes | str]] = [
            ("bridge.vendor", self._vendor.name),
            (REPLAYED_HEADER, letter.ref),
            (REPLAY_AT_HEADER, datetime.now(UTC).isoformat(timespec="milliseconds")),
        ]

        def failed(error: ProduceError) -> None:
            sys.stderr.write(f"replay marker write failed, retrying: {error}\n")

        await self._producer.produce_durably(self._reader.topic, letter.key, None, headers, failed)
        self._summary.replayed += 1

    async def _refused(
        self, record: Record, error_class: str, message: str, status: int | None, reason: str
    ) -> None:
        await self._dead_letters.write(self._vendor.name, record, error_class, message, status)
        await self._outcome(record, "dead_lettered", reason, status)
        self._summary.refused[f"{error_class}: {reason}" if reason != error_class else reason] += 1

    async def _outcome(
        self, record: Record, outcome: str, reason: str | None, status: int | None
    ) -> None:
        if self._outcomes is not None:
            await self._outcomes.write(record, outcome, reason, status)

    async def _commit(self) -> None:
        if self._positions:
            await self._reader.commit(self._positions)
            self._positions = {}
        self._uncommitted = 0


# -- helpers ------------------------------------------------------------------------------------


def _reason(message: str, chars: int = 60) -> str:
    text = " ".join(message.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _table(header: tuple[str, ...], groups: Counter[tuple[str, str, str, str]]) -> str:
    rows = [header, *[(*key, str(n)) for key, n in sorted(groups.items())]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


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
