"""`bridge status`: every vendor's state, from Kafka (and a running instance, when given).

Per vendor (its group ``<group_prefix>.<vendor>``), per topic and partition: the committed
offset and the commit's time, the end offset, the lag; the group's state and members; the dead
letters of the last hour by error class. With ``--instance URL`` (a bridge's status port), the
circuit state, paused partitions and readiness scraped from its ``/metrics`` and ``/readyz``.

Sources, all read-only (nothing joins a group or commits):
- committed offsets: `AdminClient.list_consumer_group_offsets`;
- end offsets: `AdminClient.list_offsets` (latest), lag = end - committed (the whole partition
  when nothing is committed: a new group starts at the earliest offset);
- time of the last commit: Kafka's offset fetch returns no commit time, so it is read from the
  commit's metadata when the committer wrote ``bridge.committed_at=<epoch ms>`` there (`bridge
  replay` does); otherwise it is shown as unknown;
- members: `AdminClient.describe_consumer_groups`;
- dead letters: the dead-letter topic from `offsets_for_times(now - 1h)` to its end, counted by
  ``bridge.vendor`` and ``bridge.error.class`` (replay markers are not letters).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO, cast

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bridge.commands.replay import Letter
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.kafka.offsets import committed_at
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake
from bridge.vendors import build_vendor

TIMEOUT_S = 15.0
DEAD_LETTER_WINDOW_S = 3600.0
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


@dataclass(slots=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None
    """None: the group has committed nothing for this partition."""
    end: int
    lag: int
    last_commit_age_s: float | None
    """Seconds since the last commit; None when the commit carries no time."""


@dataclass(slots=True)
class Member:
    client_id: str
    host: str
    partitions: list[str]


@dataclass(slots=True)
class InstanceStatus:
    url: str
    ready: bool | None = None
    readiness: str = ""
    circuit: str | None = None
    paused_partitions: float | None = None
    credentials_refused: bool | None = None
    error: str | None = None


@dataclass(slots=True)
class VendorStatus:
    vendor: str
    group: str
    state: str
    members: list[Member] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    """Topics the vendor reads that the broker does not have."""
    partitions: list[PartitionStatus] = field(default_factory=list)
    dead_letters_last_hour: dict[str, int] = field(default_factory=dict)
    instance: InstanceStatus | None = None

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


def collect(
    config: Config,
    vendors: list[str] | None = None,
    instance: str | None = None,
    now: float | None = None,
) -> list[VendorStatus]:
    now = time.time() if now is None else now
    names = vendors or config.enabled_vendors()
    unknown = sorted(set(names) - set(config.vendor_settings))
    if unknown:
        raise ConfigError(f"--vendor {', '.join(unknown)}: not an enabled vendor of the config")
    admin = AdminClient(config.kafka.client_properties())
    metrics = Metrics(CollectorRegistry())
    groups = {name: f"{config.kafka.group_prefix}.{name}" for name in names}
    descriptions = _describe_groups(admin, list(groups.values()))
    letters = _dead_letters(config, names, now)
    scraped = _scrape(instance) if instance else {}
    result = []
    for name in names:
        vendor = build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)
        topics = Intake(config, vendor, metrics).topics  # the live pipeline's own topics
        state, members = descriptions.get(groups[name], ("unknown", []))
        partitions, missing = _topic_partitions(admin, topics)
        status = VendorStatus(
            vendor=name,
            group=groups[name],
            state=state,
            members=members,
            missing_topics=missing,
            partitions=_partitions(admin, groups[name], partitions, now),
            dead_letters_last_hour=dict(sorted(letters.get(name, Counter()).items())),
        )
        if instance:
            status.instance = _instance_status(instance, name, scraped)
        result.append(status)
    return result


def _topic_partitions(
    admin: AdminClient, topics: list[str]
) -> tuple[list[TopicPartition], list[str]]:
    """The partitions of the topics (a ``^pattern`` stands for every topic it matches), and
    the topics (or patterns) the broker has nothing for."""
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    found: list[TopicPartition] = []
    missing = []
    for name in topics:
        if name.startswith("^"):
            pattern = re.compile(name)
            matched = sorted(t for t in metadata.topics if pattern.match(t))
        else:
            matched = [name]
        present = [t for t in matched if t in metadata.topics and metadata.topics[t].error is None]
        if not present:
            missing.append(name)
        for topic in present:
            found.extend(
                TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)
            )
    return found, missing


def _partitions(
    admin: AdminClient, group: str, partitions: list[TopicPartition], now: float
) -> list[PartitionStatus]:
    if not partitions:
        return []
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    answer = admin.list_consumer_group_offsets(request, request_timeout=TIMEOUT_S)
    offsets = answer[group].result(timeout=TIMEOUT_S)
    committed = {(tp.topic, tp.partition): tp for tp in offsets.topic_partitions}
    ends_futures = admin.list_offsets({tp: _LATEST for tp in partitions}, request_timeout=TIMEOUT_S)
    ends = {
        (tp.topic, tp.partition): future.result(timeout=TIMEOUT_S).offset
        for tp, future in ends_futures.items()
    }
    starts_futures = admin.list_offsets(
        {tp: _EARLIEST for tp in partitions}, request_timeout=TIMEOUT_S
    )
    starts = {
        (tp.topic, tp.partition): future.result(timeout=TIMEOUT_S).offset
        for tp, future in starts_futures.items()
    }
    rows = []
    for tp in partitions:
        key = (tp.topic, tp.partition)
        mine = committed.get(key)
        offset = mine.offset if mine is not None and mine.offset >= 0 else None
        end = ends[key]
        lag = end - (offset if offset is not None else starts[key])
        when = committed_at(mine.metadata if mine is not None else None)
        rows.append(
            PartitionStatus(
                topic=tp.topic,
                partition=tp.partition,
                committed=offset,
                end=end,
                lag=max(0, lag),
                last_commit_age_s=None if when is None else max(0.0, now - when),
            )
        )
    return rows


def _describe_groups(admin: AdminClient, groups: list[str]) -> dict[str, tuple[str, list[Member]]]:
    described: dict[str, tuple[str, list[Member]]] = {}
    for group, future in admin.describe_consumer_groups(groups, request_timeout=TIMEOUT_S).items():
        try:
            description = future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            described[group] = (f"error: {exc.args[0].str()}", [])
            continue
        members = [
            Member(
                client_id=member.client_id,
                host=member.host,
                partitions=sorted(
                    f"{tp.topic}[{tp.partition}]"
                    for tp in (member.assignment.topic_partitions if member.assignment else [])
                ),
            )
            for member in description.members
        ]
        state = getattr(description.state, "name", str(description.state)).lower()
        # Kafka calls a group that does not exist "dead": it is created when a member joins.
        described[group] = ("not created yet" if state == "dead" else state, members)
    return described


def _dead_letters(config: Config, vendors: list[str], now: float) -> dict[str, Counter[str]]:
    """Dead letters written in the last hour, by vendor and error class."""
    topics = sorted({config.dead_letter.topic_for(name) for name in vendors})
    counts: dict[str, Counter[str]] = {}
    consumer = Consumer(
        {
            **config.kafka.client_properties(),
            "group.id": f"bridge-status-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
            if meta is None or meta.error is not None:
                continue  # no dead-letter topic yet: no dead letters
            since = int((now - DEAD_LETTER_WINDOW_S) * 1000)
            wanted = [TopicPartition(topic, p, since) for p in sorted(meta.partitions)]
            starts = consumer.offsets_for_times(wanted, timeout=TIMEOUT_S)
            ends = {
                p.partition: consumer.get_watermark_offsets(p, timeout=TIMEOUT_S)[1] for p in wanted
            }
            assign = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
            if not assign:
                continue
            consumer.assign(assign)
            remaining = {tp.partition for tp in assign}
            deadline = time.monotonic() + 60
            while remaining and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        continue
                    partition, offset = cast(int, message.partition()), cast(int, message.offset())
                    if offset + 1 >= ends[partition]:
                        remaining.discard(partition)
                    if offset >= ends[partition]:
                        continue
                    letter = Letter.from_message(message)
                    if letter.is_letter and letter.vendor in vendors:
                        counts.setdefault(letter.vendor, Counter())[letter.error_class] += 1
            consumer.unassign()
    finally:
        consumer.close()
    return counts


def _scrape(url: str) -> dict[str, Any]:
    base = url.rstrip("/")
    found: dict[str, Any] = {"metrics": {}, "ready": None, "readiness": "", "error": None}
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (
                    "bridge_circuit_state",
                    "bridge_paused_partitions",
                    "bridge_pipeline_ready",
                    "bridge_credentials_refused",
                ):
                    key = (sample.name, sample.labels.get("vendor"), sample.labels.get("state"))
                    found["metrics"][key] = sample.value
    except (OSError, urllib.error.URLError, ValueError) as exc:
        found["error"] = f"{base}/metrics: {exc}"
        return found
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            found["ready"], found["readiness"] = True, response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        found["ready"], found["readiness"] = False, exc.read().decode().strip()
    except (OSError, urllib.error.URLError) as exc:
        found["error"] = f"{base}/readyz: {exc}"
    return found


def _instance_status(url: str, vendor: str, scraped: dict[str, Any]) -> InstanceStatus:
    status = InstanceStatus(url=url, error=scraped.get("error"))
    metrics: dict[tuple[str, str | None, str | None], float] = scraped.get("metrics", {})
    circuit = [
        state
        for (name, who, state), value in metrics.items()
        if name == "bridge_circuit_state" and who == vendor and value == 1
    ]
    status.circuit = circuit[0] if circuit else None
    status.paused_partitions = metrics.get(("bridge_paused_partitions", vendor, None))
    refused = metrics.get(("bridge_credentials_refused", vendor, None))
    status.credentials_refused = None if refused is None else refused == 1
    ready = metrics.get(("bridge_pipeline_ready", vendor, None))
    status.ready = None if ready is None else ready == 1
    status.readiness = str(scraped.get("readiness", ""))
    if status.circuit is None and status.error is None:
        status.error = f"{vendor} is not running in this instance"
    return status


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vendor", action="append", help="only this vendor (repeatable; default: every enabled)"
    )
    parser.add_argument(
        "--instance",
        metavar="URL",
        help="a running bridge's status port, e.g. http://host:9400: adds its circuit state, "
        "paused partitions and readiness",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")


def run_status(config: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`bridge status`: 0 when every vendor's figures could be read."""
    out = out or sys.stdout
    statuses = collect(config, args.vendor, args.instance)
    out.write((to_json(statuses) if args.json else render(statuses)) + "\n")
    return 0


# -- output -------------------------------------------------------------------------------------


def to_json(statuses: list[VendorStatus]) -> str:
    return json.dumps(
        [{**asdict(status), "lag": status.lag} for status in statuses], indent=2, sort_keys=False
    )


def render(statuses: list[VendorStatus]) -> str:
    blocks = []
    for status in statuses:
        lines = [
            f"{status.vendor}  group {status.group} ({status.state}, "
            f"{len(status.members)} members)  lag {status.lag}"
        ]
        rows: list[tuple[str, ...]] = [
            ("topic", "partition", "committed", "end", "lag", "last commit")
        ]
        rows += [
            (
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                str(p.end),
                str(p.lag),
                _age(p.last_commit_age_s) if p.committed is not None else "never",
            )
            for p in status.partitions
        ]
        lines += _columns(rows)
        for topic in status.missing_topics:
            lines.append(f"  {topic}: no such topic on the broker")
        for member in status.members:
            lines.append(
                f"  member {member.client_id} {member.host}: "
                f"{', '.join(member.partitions) or 'no partitions'}"
            )
        letters = status.dead_letters_last_hour
        lines.append(
            "  dead letters, last hour: "
            + (", ".join(f"{cls} {n}" for cls, n in letters.items()) if letters else "none")
        )
        if status.instance is not None:
            inst = status.instance
            if inst.error:
                lines.append(f"  instance {inst.url}: {inst.error}")
            else:
                lines.append(
                    f"  instance {inst.url}: circuit {inst.circuit}, paused partitions "
                    f"{_number(inst.paused_partitions)}, ready {_yes(inst.ready)}"
                    + (", credentials refused" if inst.credentials_refused else "")
                    + f" (/readyz: {inst.readiness})"
                )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _yes(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")
