"""The production shape, on Apache Kafka: several bridge processes in one group per vendor.

Every scenario runs real processes: `bridge sandbox` with faults (20% 5xx at Qubit, 10% 429
with Retry-After at Squeezely) and several `bridge run` instances on one configuration, against
the `kafka` fixture (a real Apache Kafka 4.x broker; Tansu's coordinator cannot carry members
joining and leaving). A producer thread writes orders (and, in the soak variants, product views)
at a steady rate while instances join, leave, are killed, frozen or restarted.

What each test asserts comes from outside the bridge: what the sandbox received (each record
carries a unique id that every vendor's request repeats, so a duplicate is an id received
twice), what the dead-letter topic holds, and the group's committed offsets against the end
offsets. Never from the bridge's own metrics. Each scenario prints its figures (records,
duplicates per vendor, time to drain).

The default run uses reduced sizes (three vendors); the full-size variants (all five vendors,
product views too, >= 10,000 records on 6 partitions per topic) are marked ``soak``:
``make soak`` or ``pytest -m soak tests/integration/test_production_shape.py``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bridge.events import EventType, load_schema
from bridge.kafka.avro import AvroDecoder, AvroEncoder
from bridge.tools.localbroker import stop_process as terminate_or_kill
from bridge.tools.sample import SampleEvents
from tests.support.apache_kafka import ApacheKafka, free_port
from tests.support.kafka import SANDBOX_SETTINGS, SCHEMAS, SECRET_FIELDS, headers_of

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
ALL_VENDORS = ("quicklizard", "vtmarketing", "qubit", "esputnik", "squeezely")
# Which vendors take which topic (bridge/vendors/*.py event_types).
TAKES_VIEWS = frozenset({"quicklizard", "esputnik"})
# Refused by the vendors that validate emails: VTmarketing, eSputnik and Squeezely.
REFUSE_EMAIL = frozenset({"vtmarketing", "esputnik", "squeezely"})
FAULTS = (
    "qubit:error_rate=0.2",
    "squeezely:throttle_rate=0.1",
    "squeezely:retry_after_s=1",
)
GROUP_PROPERTIES: dict[str, Any] = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
BAD_EVERY = 97  # one order in 97 carries an email the validating vendors refuse
SHUTDOWN_DEADLINE_S = 15


@dataclass(frozen=True)
class Shape:
    records: int  # orders (and as many views when `views`)
    rate: float  # records per second, per topic
    partitions: int
    vendors: tuple[str, ...]
    views: bool = False


DEFAULT = Shape(records=2000, rate=150, partitions=6, vendors=("qubit", "squeezely", "vtmarketing"))
SOAK = Shape(records=10_000, rate=400, partitions=6, vendors=ALL_VENDORS, views=True)
SHAPES = [
    pytest.param(DEFAULT, id="default"),
    pytest.param(SOAK, id="full", marks=pytest.mark.soak),
]
# Kill -9 at a steady 2,000 records/s: the vendors that take batches (one request per event at
# 2,000/s would only measure the sandbox's limit, not the bridge's).
STEADY = Shape(records=12_000, rate=2000, partitions=6, vendors=("qubit", "squeezely"))
STEADY_FULL = Shape(
    records=40_000, rate=2000, partitions=6, vendors=("qubit", "squeezely", "quicklizard")
)
STEADY_SHAPES = [
    pytest.param(STEADY, id="default"),
    pytest.param(STEADY_FULL, id="full", marks=pytest.mark.soak),
]


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every)


def http_json(url: str, method: str = "GET", timeout: float = 30) -> Any:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


# --- the processes ---------------------------------------------------------------------------


class SandboxProcess:
    """`bridge sandbox` as a subprocess on a free loopback port."""

    def __init__(self, workdir: Path, faults: tuple[str, ...]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "sandbox.log"
        arguments = [f"--fault={fault}" for fault in faults]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    *(str(BIN / "bridge"), "sandbox", "--port", str(self.port)),
                    *("--seed", "7", "--keep", "1000000", *arguments),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_until(self._healthy, 30, "the sandbox to answer")

    def _healthy(self) -> bool:
        assert self.process.poll() is None, f"the sandbox exited; see {self.log_path}"
        try:
            return bool(http_json(f"{self.url}/_health", timeout=1)["status"] == "ok")
        except OSError:
            return False

    def base_url(self, vendor: str) -> str:
        return f"{self.url}/{vendor}"

    def accepted_total(self) -> int:
        stats = http_json(f"{self.url}/_stats")
        return sum(int(vendor["accepted"]) for vendor in stats.values())

    def received(self, vendor: str) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = http_json(f"{self.url}/_received/{vendor}", timeout=120)[
            "requests"
        ]
        return requests

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
    terminate_or_kill(process, timeout_s)


class BridgeInstance:
    """One `bridge run --config FILE` process, as one pod would be."""

    def __init__(self, name: str, workdir: Path, config: dict[str, Any]) -> None:
        self.name = name
        self.http_port = free_port()
        self.config_path = workdir / f"bridge-{name}.yaml"
        self.log_path = workdir / f"bridge-{name}.log"
        config = {**config, "http": {"host": "127.0.0.1", "port": self.http_port}}
        self.config_path.write_text(yaml.safe_dump(config))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "bridge"), "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/readyz", timeout=1
            ) as reply:
                return bool(reply.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            assert self.alive, f"bridge {self.name} exited with {self.process.returncode}"
            return self.ready()

        wait_until(ready, timeout_s, f"bridge {self.name} to be ready", every=0.2)

    def sigterm(self, timeout_s: float = SHUTDOWN_DEADLINE_S + 15) -> int:
        """SIGTERM, as Kubernetes sends it; return the exit status."""
        self.process.terminate()
        return self.process.wait(timeout_s)

    def in_flight(self) -> dict[str, int]:
        """Records in flight per vendor, from the instance's own /metrics (for the report)."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return {
            sample.labels["vendor"]: int(sample.value)
            for family in text_string_to_metric_families(text)
            if family.name == "bridge_in_flight_records"
            for sample in family.samples
        }

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        stop_process(self.process, SHUTDOWN_DEADLINE_S + 5)

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


# --- the stream of records -------------------------------------------------------------------


@dataclass
class Stream:
    """Writes orders (and views) at a steady rate from a thread; remembers what Kafka acked."""

    kafka: ApacheKafka
    shape: Shape
    topics: dict[str, str]  # EventType value -> topic
    rate: float
    records: int  # at least; it goes on until `finish()`, so work is in flight throughout
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    acked: dict[str, set[str]] = field(default_factory=dict)  # topic -> ids Kafka acknowledged
    bad: set[str] = field(default_factory=set)  # order ids refused by the validating vendors
    produced_at: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> partition, t
    failures: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _finish: threading.Event = field(default_factory=threading.Event)

    def id_pattern(self) -> re.Pattern[str]:
        return re.compile(rf"{self.run}-[ov]\d+")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write, name="stream", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def finish(self) -> None:
        """Stop once at least `records` were written."""
        self._finish.set()

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self.finish()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the producer did not finish in time"
        assert not self.failures, f"records Kafka did not take: {self.failures[:5]}"

    def _write(self) -> None:
        samples = SampleEvents(seed=11)
        encoders = {kind: AvroEncoder(load_schema(SCHEMAS, kind)) for kind in EventType}
        producer = Producer(
            {
                "bootstrap.servers": self.kafka.bootstrap,
                "linger.ms": 5,
                "acks": "all",
                "log_level": 2,  # quiet while the broker restarts; failures come as reports
            }
        )
        partitions = self.shape.partitions
        kinds = [EventType.ORDER, *([EventType.PRODUCT_VIEW] if self.shape.views else [])]
        for kind in kinds:
            self.acked[self.topics[kind.value]] = set()
        started = time.monotonic()
        n = -1
        while n + 1 < self.records or not self._finish.is_set():
            n += 1
            if n >= self.records * 10:
                self.failures.append(f"the scenario did not finish within {n} records")
                break
            pause = started + n / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the stream, not waiting for a condition
            for kind in kinds:
                if kind is EventType.ORDER:
                    record_id, event = self._order(samples, n)
                else:
                    record_id, event = self._view(samples, n)
                topic = self.topics[kind.value]
                partition = n % partitions
                self.produced_at[record_id] = (partition, time.monotonic())
                producer.produce(
                    topic,
                    value=encoders[kind].encode(event),
                    key=record_id.encode(),
                    partition=partition,
                    on_delivery=self._on_delivery(topic, record_id),
                )
            producer.poll(0)
        if producer.flush(120) != 0:
            self.failures.append("flush left records undelivered")

    def _on_delivery(self, topic: str, record_id: str) -> Callable[[Any, Any], None]:
        def delivered(error: Any, _message: Any) -> None:
            if error is None:
                self.acked[topic].add(record_id)
            else:
                self.failures.append(f"{record_id}: {error}")

        return delivered

    def _complete(self, event: dict[str, Any], record_id: str) -> None:
        # Every vendor's request repeats one of these fields, so the sandbox shows the id.
        event["vendor_ids"] = {v: record_id for v in ("quicklizard", "qubit", "esputnik")}
        event["customer"] = {
            "customer_id": f"C-{record_id}",
            "email": "shopper@example.com",
            "phone": "+31612345678",
            "first_name": "Ana",
            "last_name": "Jansen",
            "country": "NL",
            "city": "Amsterdam",
        }
        event["marketing_consent"] = True

    def _order(self, samples: SampleEvents, n: int) -> tuple[str, dict[str, Any]]:
        record_id = f"{self.run}-o{n}"
        order = samples.order()
        self._complete(order, record_id)
        order["order_id"] = record_id
        order["items"] = order["items"][:1]  # one line: QuickLizard sends one event per line
        order["items"][0]["product_id"] = record_id
        order["total"] = round(order["items"][0]["price"] * order["items"][0]["quantity"], 2)
        if n % BAD_EVERY == BAD_EVERY - 1:
            order["customer"]["email"] = "not-an-email"
            self.bad.add(record_id)
        return record_id, order

    def _view(self, samples: SampleEvents, n: int) -> tuple[str, dict[str, Any]]:
        record_id = f"{self.run}-v{n}"
        view = samples.product_view()
        self._complete(view, record_id)
        view["product_id"] = record_id
        view["url"] = f"https://shop.example.com/p/{record_id}"
        return record_id, view

    def eligible(self, vendor: str) -> set[str]:
        """The ids `vendor` must accept: what Kafka took, of the types it takes, less refusals."""
        ids = set(self.acked[self.topics[EventType.ORDER.value]])
        if vendor in REFUSE_EMAIL:
            ids -= self.bad
        if vendor in TAKES_VIEWS and self.shape.views:
            ids |= self.acked[self.topics[EventType.PRODUCT_VIEW.value]]
        return ids


# --- what Kafka holds ------------------------------------------------------------------------


class Offsets:
    """Committed offsets of each vendor's group against the end offsets, read from Kafka."""

    def __init__(self, kafka: ApacheKafka, group_prefix: str, shape: Shape, topics: dict[str, str]):
        self.kafka = kafka
        self.group_prefix = group_prefix
        self.topics = topics
        self.shape = shape
        self.consumers = {
            vendor: Consumer(
                {
                    "bootstrap.servers": kafka.bootstrap,
                    "group.id": f"{group_prefix}.{vendor}",
                    "enable.auto.commit": False,
                    "log_level": 0,
                }
            )
            for vendor in shape.vendors
        }

    def partitions(self, vendor: str) -> list[TopicPartition]:
        names = [self.topics[EventType.ORDER.value]]
        if self.shape.views and vendor in TAKES_VIEWS:
            names.append(self.topics[EventType.PRODUCT_VIEW.value])
        return [TopicPartition(t, p) for t in names for p in range(self.shape.partitions)]

    def committed(self, vendor: str) -> dict[tuple[str, int], int]:
        result = self.consumers[vendor].committed(self.partitions(vendor), timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in result}

    def ends(self, vendor: str) -> dict[tuple[str, int], int]:
        consumer = self.consumers[vendor]
        return {
            (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
            for tp in self.partitions(vendor)
        }

    def lag(self) -> dict[str, int]:
        """Records not yet committed, per vendor (committed offsets against end offsets)."""
        lags = {}
        for vendor in self.shape.vendors:
            ends, committed = self.ends(vendor), self.committed(vendor)
            lags[vendor] = sum(end - max(committed[key], 0) for key, end in ends.items())
        return lags

    def drained(self) -> bool:
        try:
            return all(lag == 0 for lag in self.lag().values())
        except KafkaException:
            return False

    def close(self) -> None:
        for consumer in self.consumers.values():
            consumer.close()


class CommitWatch:
    """Samples every group's committed offsets from a thread: none may ever move backwards."""

    def __init__(self, offsets: Offsets) -> None:
        self.offsets = offsets
        self.backwards: list[str] = []
        self.samples = 0
        self._last: dict[tuple[str, str, int], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="commit-watch", daemon=True)
        # Consumers of its own: the test thread uses the Offsets' ones meanwhile.
        self._consumers = {
            vendor: Consumer(
                {
                    "bootstrap.servers": offsets.kafka.bootstrap,
                    "group.id": f"{offsets.group_prefix}.{vendor}",
                    "enable.auto.commit": False,
                    "log_level": 0,
                }
            )
            for vendor in offsets.shape.vendors
        }

    def __enter__(self) -> CommitWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        for consumer in self._consumers.values():
            consumer.close()

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            for vendor, consumer in self._consumers.items():
                try:
                    result = consumer.committed(self.offsets.partitions(vendor), timeout=5)
                except KafkaException:
                    continue  # the broker is away (the broker-restart scenario)
                self.samples += 1
                for tp in result:
                    key = (vendor, tp.topic, tp.partition)
                    if tp.offset < 0:
                        continue
                    last = self._last.get(key, -1)
                    if tp.offset < last:
                        self.backwards.append(f"{key}: {last} -> {tp.offset}")
                    self._last[key] = max(tp.offset, last)


# --- one scenario's world --------------------------------------------------------------------


@dataclass
class Report:
    scenario: str
    records: dict[str, int]
    duplicates: dict[str, int]
    drain_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def print(self) -> None:
        figures = {
            "scenario": self.scenario,
            "records": self.records,
            "duplicates": self.duplicates,
            "drain_s": round(self.drain_s, 1),
            **self.extra,
        }
        print(f"\nPRODUCTION-SHAPE {json.dumps(figures)}", flush=True)


class World:
    """Topics, the sandbox, the stream, the instances and the offsets of one scenario."""

    def __init__(
        self,
        kafka: ApacheKafka,
        workdir: Path,
        shape: Shape,
        *,
        rate: float | None = None,
        records: int | None = None,
        consumer_properties: dict[str, Any] | None = None,
        vendor_overrides: dict[str, Any] | None = None,
        **top: Any,
    ) -> None:
        self.kafka = kafka
        self.workdir = workdir
        self.shape = shape
        run = uuid.uuid4().hex[:8]
        self.topics = {
            EventType.ORDER.value: f"orders-{run}",
            EventType.PRODUCT_VIEW.value: f"views-{run}",
        }
        self.dead_letter = f"dead-letter-{run}"
        kafka.create_topics(
            {
                self.topics[EventType.ORDER.value]: shape.partitions,
                self.topics[EventType.PRODUCT_VIEW.value]: shape.partitions,
                self.dead_letter: 1,
            }
        )
        self.group_prefix = f"bridge-{run}"
        self.instances: list[BridgeInstance] = []
        self.sandbox = SandboxProcess(workdir, FAULTS)
        self.stream = Stream(
            kafka,
            shape,
            self.topics,
            rate=rate or shape.rate,
            records=records or shape.records,
        )
        self.offsets = Offsets(kafka, self.group_prefix, shape, self.topics)
        self.config = self._config(consumer_properties or {}, vendor_overrides or {}, top)

    def _config(
        self,
        consumer_properties: dict[str, Any],
        vendor_overrides: dict[str, Any],
        top: dict[str, Any],
    ) -> dict[str, Any]:
        secrets = self.workdir / "secrets"
        secrets.mkdir(exist_ok=True)
        vendors = {}
        for name in self.shape.vendors:
            settings: dict[str, Any] = {}
            for key, value in SANDBOX_SETTINGS[name].items():
                if key in SECRET_FIELDS:
                    path = secrets / f"{name}-{key}"
                    path.write_text(value)
                    settings[key] = {"file": str(path)}
                else:
                    settings[key] = value
            vendors[name] = {
                "base_url": self.sandbox.base_url(name),
                "settings": settings,
                "batch": {"max_events": 100, "linger_ms": 20},
                "retry": {"initial_backoff_s": 0.2, "max_backoff_s": 2},
                "circuit": {"failure_threshold": 8, "open_s": 2},
                **vendor_overrides,
            }
        return {
            "kafka": {
                "bootstrap_servers": self.kafka.bootstrap,
                "group_prefix": self.group_prefix,
                "consumer_properties": {**GROUP_PROPERTIES, **consumer_properties},
            },
            "topics": {
                "orders": {"name": self.topics[EventType.ORDER.value]},
                "product_views": {"name": self.topics[EventType.PRODUCT_VIEW.value]},
            },
            "dead_letter": {"topic": self.dead_letter},
            "vendors": vendors,
            "log": {"format": "text"},
            "schemas_dir": str(SCHEMAS),
            "commit_interval_s": 0.5,
            "shutdown_deadline_s": SHUTDOWN_DEADLINE_S,
            **top,
        }

    def instance(self, name: str, wait_ready: bool = True) -> BridgeInstance:
        instance = BridgeInstance(name, self.workdir, self.config)
        self.instances.append(instance)
        if wait_ready:
            instance.wait_ready()
        return instance

    def wait_progress(self, records: int, timeout_s: float = 60) -> None:
        """Wait until the vendors accepted `records` more items than now."""
        target = self.sandbox.accepted_total() + records
        wait_until(
            lambda: self.sandbox.accepted_total() >= target,
            timeout_s,
            f"{records} more records accepted",
            every=0.2,
        )

    def drain(self, timeout_s: float = 180) -> float:
        """Wait for the stream to end and every group to commit to the end; the seconds taken
        from the stream's end."""
        self.stream.join(timeout_s)
        ended = time.monotonic()
        try:
            wait_until(self.offsets.drained, timeout_s, "committed offsets at the end", every=0.5)
        except AssertionError:
            lag = self.offsets.lag()
            raise AssertionError(f"not drained in {timeout_s}s; lag per vendor: {lag}") from None
        return time.monotonic() - ended

    def delivered(self) -> dict[str, Counter[str]]:
        """How many times each record id was accepted, per vendor."""
        pattern = self.stream.id_pattern()
        result: dict[str, Counter[str]] = {}
        self.accepted_at: dict[str, dict[str, list[str]]] = {}
        for vendor in self.shape.vendors:
            counts: Counter[str] = Counter()
            times: dict[str, list[str]] = {}
            for request in self.sandbox.received(vendor):
                # Once per request: QuickLizard gets one identical conversion event per unit
                # bought, so a record's id may stand several times in the request that
                # delivers it; a second delivery is a second request.
                in_request: set[str] = set()
                for item in request["accepted"]:
                    ids = set(_strings_matching(item, pattern))
                    assert len(ids) == 1, f"{vendor} item without exactly one record id: {ids}"
                    in_request |= ids
                counts.update(in_request)
                for record_id in in_request:
                    times.setdefault(record_id, []).append(request["at"])
            result[vendor] = counts
            self.accepted_at[vendor] = times
        return result

    def duplicate_evidence(self, vendor: str, limit: int = 10) -> list[str]:
        """The first duplicated ids: partition and the times the sandbox accepted each copy."""
        times = getattr(self, "accepted_at", {}).get(vendor, {})
        twice = sorted((at, record_id) for record_id, at in times.items() if len(at) > 1)
        return [
            f"{record_id} (partition {self.stream.produced_at[record_id][0]}) accepted at {at}"
            for at, record_id in twice[:limit]
        ]

    def dead_letters(self) -> set[tuple[str, str]]:
        """(vendor, record id) of every record in the dead-letter topic."""
        decoders = {
            self.topics[kind.value]: AvroDecoder(load_schema(SCHEMAS, kind), "avro")
            for kind in EventType
        }
        consumer = Consumer(
            {
                "bootstrap.servers": self.kafka.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        end = consumer.get_watermark_offsets(TopicPartition(self.dead_letter, 0), timeout=10)[1]
        consumer.assign([TopicPartition(self.dead_letter, 0, 0)])
        found: set[tuple[str, str]] = set()
        read = 0
        deadline = time.monotonic() + 30
        try:
            while read < end and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    if message.error() is not None:
                        continue
                    read += 1
                    headers = {k: v.decode() for k, v in headers_of(message).items()}
                    event = decoders[headers["bridge.source.topic"]].decode(message.value())
                    found.add(
                        (headers["bridge.vendor"], event.get("order_id") or event["product_id"])
                    )
        finally:
            consumer.close()
        # More than `end` when a letter was written while we read (a resumed instance finishing
        # what it had before its freeze): counted too; fewer means the reading timed out.
        assert read >= end, f"read {read} of {end} dead letters"
        return found

    def verify(self, delivered: dict[str, Counter[str]]) -> dict[str, int]:
        """Nothing lost, refusals dead-lettered; returns the duplicates per vendor."""
        letters = self.dead_letters()
        duplicates = {}
        for vendor in self.shape.vendors:
            eligible = self.stream.eligible(vendor)
            got = delivered[vendor]
            missing = eligible - set(got)
            assert not missing, f"{vendor} never received {len(missing)}: {sorted(missing)[:5]}"
            unexpected = set(got) - eligible
            assert not unexpected, f"{vendor} accepted what it should not: {sorted(unexpected)[:5]}"
            if vendor in REFUSE_EMAIL:
                refused = {(vendor, record_id) for record_id in self.stream.bad}
                assert refused <= letters, (
                    f"{vendor} refusals missing: {sorted(refused - letters)[:5]}"
                )
            duplicates[vendor] = sum(count - 1 for count in got.values())
        return duplicates

    def record_counts(self) -> dict[str, int]:
        return {topic: len(ids) for topic, ids in self.stream.acked.items()}

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        self.sandbox.stop()
        self.offsets.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- bridge {i.name} (exit {i.process.returncode}) ---\n{i.log_tail()}"
            for i in self.instances
        )


def _strings_matching(value: Any, pattern: re.Pattern[str]) -> Iterator[str]:
    if isinstance(value, str):
        if pattern.fullmatch(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_matching(item, pattern)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_matching(item, pattern)


@pytest.fixture
def world_factory(kafka: ApacheKafka, tmp_path: Path) -> Iterator[Callable[..., World]]:
    worlds: list[World] = []

    def make(shape: Shape, broker: ApacheKafka | None = None, **options: Any) -> World:
        world = World(broker or kafka, tmp_path, shape, **options)
        worlds.append(world)
        return world

    try:
        yield make
    finally:
        for world in worlds:
            world.close()
            print(world.logs())  # shown by pytest when the test failed


def duplicates_now(world: World) -> dict[str, int]:
    return {v: sum(c - 1 for c in got.values()) for v, got in world.delivered().items()}


# --- the scenarios ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_instances_join_leave_and_die_and_every_record_arrives(
    world_factory: Callable[..., World], shape: Shape
) -> None:
    """Three instances join one by one while work is in flight, one leaves with SIGTERM, one is
    killed with SIGKILL, one more joins: every eligible record reaches every vendor, refusals
    are dead-lettered, commits reach the end, and only the kill causes duplicates."""
    world = world_factory(shape)
    with CommitWatch(world.offsets) as watch:
        world.stream.start()
        a = world.instance("a")
        world.wait_progress(100)
        b = world.instance("b")
        world.wait_progress(100)
        c = world.instance("c")
        world.wait_progress(100)
        assert b.sigterm() == 0, b.log_tail()
        world.wait_progress(100)
        before_kill = duplicates_now(world)
        evidence = {v: world.duplicate_evidence(v) for v, n in before_kill.items() if n}
        c.kill9()
        world.wait_progress(100)
        d = world.instance("d")
        drain_s = world.drain()
        delivered = world.delivered()
    duplicates = world.verify(delivered)
    Report(
        "join/sigterm/kill/join",
        world.record_counts(),
        duplicates,
        drain_s,
        {"duplicates_before_kill": before_kill},
    ).print()
    assert before_kill == dict.fromkeys(shape.vendors, 0), f"duplicates before the kill: {evidence}"
    assert [i.name for i in (a, d) if not i.alive] == [], world.logs()
    assert not watch.backwards, watch.backwards
    assert watch.samples > 0


@pytest.mark.parametrize("shape", SHAPES)
def test_rolling_restart_delivers_every_record_exactly_once(
    world_factory: Callable[..., World], shape: Shape
) -> None:
    """Three instances restarted one at a time with SIGTERM, as Kubernetes rolls a Deployment
    (the new pod ready before the next old one stops): zero duplicates at every vendor."""
    world = world_factory(shape)
    with CommitWatch(world.offsets) as watch:
        world.stream.start()
        olds = [world.instance(name) for name in ("a", "b", "c")]
        world.wait_progress(100)
        for n, old in enumerate(olds):
            world.instance(f"new{n}")
            assert old.sigterm() == 0, old.log_tail()
            world.wait_progress(100)
        drain_s = world.drain()
        delivered = world.delivered()
    duplicates = world.verify(delivered)
    Report("rolling restart", world.record_counts(), duplicates, drain_s).print()
    evidence = {v: world.duplicate_evidence(v) for v, n in duplicates.items() if n}
    assert duplicates == dict.fromkeys(shape.vendors, 0), evidence
    assert not watch.backwards, watch.backwards


@pytest.mark.parametrize("shape", SHAPES)
def test_a_broker_restart_loses_nothing_and_the_bridge_reconnects_by_itself(
    world_factory: Callable[..., World], shape: Shape, tmp_path: Path
) -> None:
    """The broker stopped mid-stream for 15 s and started again on the same data: nothing
    lost, readiness goes down and comes back, no process exits."""
    with ApacheKafka(workdir=tmp_path / "restarting-kafka") as broker:
        world = world_factory(shape, broker=broker)
        world.stream.start()
        instances = [world.instance(name) for name in ("a", "b")]
        world.wait_progress(200)
        broker.stop()
        stopped = time.monotonic()
        went_down: set[str] = set()
        while time.monotonic() - stopped < 15:  # the outage lasts 15 s; watch readiness meanwhile
            went_down |= {i.name for i in instances if not i.ready()}
            assert all(i.alive for i in instances), world.logs()
            time.sleep(0.2)
        broker.start()
        restarted = time.monotonic()
        for instance in instances:
            instance.wait_ready(90)
        ready_again_s = time.monotonic() - restarted
        drain_s = world.drain()
        delivered = world.delivered()
        duplicates = world.verify(delivered)
        Report(
            "broker restart",
            world.record_counts(),
            duplicates,
            drain_s,
            {"ready_again_s": round(ready_again_s, 1), "went_down": sorted(went_down)},
        ).print()
        assert all(i.alive for i in instances), world.logs()
        assert went_down == {"a", "b"}, f"readiness went down only on {sorted(went_down)}"


@pytest.mark.parametrize("shape", SHAPES)
def test_a_frozen_instance_loses_its_partitions_and_its_late_acks_move_no_offset(
    world_factory: Callable[..., World], shape: Shape
) -> None:
    """An instance frozen (SIGSTOP) past max.poll.interval.ms and session.timeout.ms: its
    partitions move to the others while it is frozen; resumed, its late acknowledgements never
    move a committed offset; nothing is lost."""
    world = world_factory(shape, consumer_properties={"max.poll.interval.ms": 10_000})
    with CommitWatch(world.offsets) as watch:
        world.stream.start()
        instances = [world.instance(name) for name in ("a", "b", "c")]
        world.wait_progress(200)
        frozen = instances[1]
        frozen.process.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            # Every partition's commits pass where the stream was at the freeze: the frozen
            # instance's partitions were taken over by the others.
            marks = {v: world.offsets.ends(v) for v in shape.vendors}

            def moved() -> bool:
                return all(
                    world.offsets.committed(v)[key] > end
                    for v in shape.vendors
                    for key, end in marks[v].items()
                )

            wait_until(moved, 60, "every partition committed past the freeze", every=0.5)
            frozen_for_s = time.monotonic() - stopped
            # Stay frozen past max.poll.interval.ms as well.
            wait_until(lambda: time.monotonic() - stopped > 11, 15, "11 s frozen", every=0.5)
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        world.wait_progress(200)
        drain_s = world.drain()
        delivered = world.delivered()
    duplicates = world.verify(delivered)
    Report(
        "sigstop past max.poll.interval.ms",
        world.record_counts(),
        duplicates,
        drain_s,
        {"handed_over_after_s": round(frozen_for_s, 1), "frozen_alive": frozen.alive},
    ).print()
    assert not watch.backwards, watch.backwards
    assert [i.name for i in instances if not i.alive] == [], world.logs()


@pytest.mark.parametrize("shape", STEADY_SHAPES)
def test_kill_at_a_steady_rate_duplicates_at_most_what_was_in_flight_or_uncommitted(
    world_factory: Callable[..., World], shape: Shape
) -> None:
    """kill -9 at a steady 2,000 records/s, committing every 0.2 s (the default): each vendor
    receives again at most what the killed instance had in flight plus what it had
    acknowledged since its last commit."""
    in_flight_cap, commit_interval_s = 1000, 0.2
    world = world_factory(
        shape,
        commit_interval_s=commit_interval_s,
        vendor_overrides={"max_in_flight_records": in_flight_cap},
    )
    with CommitWatch(world.offsets) as watch:
        world.stream.start()
        victim, survivor = world.instance("a"), world.instance("b")
        world.wait_progress(4000)  # steady state: both members hold partitions
        in_flight_at_kill = victim.in_flight()
        lag_at_kill = world.offsets.lag()
        victim.kill9()
        killed = time.monotonic()
        world.wait_progress(2000, timeout_s=60)
        drain_s = world.drain()
        handed_over = time.monotonic() - killed
        delivered = world.delivered()
    duplicates = world.verify(delivered)
    bound = in_flight_cap + int(shape.rate * commit_interval_s)
    Report(
        "kill -9 at 2,000 records/s",
        world.record_counts(),
        duplicates,
        drain_s,
        {
            "rate": shape.rate,
            "commit_interval_s": commit_interval_s,
            "max_in_flight_records": in_flight_cap,
            "in_flight_at_kill": in_flight_at_kill,
            "uncommitted_at_kill": lag_at_kill,
            "bound": bound,
            "kill_to_drained_s": round(handed_over, 1),
        },
    ).print()
    assert survivor.alive, world.logs()
    assert not watch.backwards, watch.backwards
    for vendor, count in duplicates.items():
        assert count <= bound, f"{vendor}: {count} duplicates from one kill, more than {bound}"
