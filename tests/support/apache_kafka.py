"""A real Apache Kafka 4.x broker on loopback, for the tests that need a real group coordinator.

One JVM runs a single KRaft node that is both broker and controller, from the jars that
``tests/support/install_kafka.sh`` fetches from Maven Central into a cache folder (no tarball).
Its data lives in a temporary folder, so `stop()` then `start()` brings the same broker back on
the same data and the same ports, as a broker restart in production does.

The face is the Tansu helper's (`bridge.tools.localbroker.LocalBroker`): ``bootstrap``,
``port``, `start()`, `stop()`, `create_topics()`, and a context manager.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

KAFKA_VERSION = os.environ.get("BRIDGE_KAFKA_VERSION", "4.2.0")
INSTALL_SCRIPT = Path(__file__).resolve().with_name("install_kafka.sh")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
HEAP = "-Xmx512m"

LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: state.change.logger
        level: WARN
"""


def kafka_home() -> Path:
    """The cache folder install_kafka.sh fills (same default as the script)."""
    default = Path.home() / ".cache" / "bridge" / f"kafka-{KAFKA_VERSION}"
    return Path(os.environ.get("BRIDGE_KAFKA_CACHE", default))


def ensure_installed() -> Path:
    """The folder of the broker's jars, running install_kafka.sh when it is not complete."""
    home = kafka_home()
    if not (home / ".complete").exists():
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return home / "libs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, without padding. Like Kafka's
    # Uuid.randomUuid(), never one that starts with "-": the storage tool would read it as an
    # option and refuse to format (1 start in 64 failed so).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class ApacheKafka:
    """`with ApacheKafka() as kafka:` gives `kafka.bootstrap` (``127.0.0.1:<port>``).

    ``workdir`` holds the properties, the data (``data/``) and the log (``kafka.log``); by
    default a temporary folder removed by `close()` (and on leaving the ``with`` block).
    """

    def __init__(self, workdir: Path | None = None, heap: str = HEAP) -> None:
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="apache-kafka-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = self.workdir / "kafka.log"
        self._heap = heap
        self._process: subprocess.Popen[bytes] | None = None
        self._formatted = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _properties(self) -> Path:
        data = self.workdir / "data"
        path = self.workdir / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"log.dirs={data}",
                    "num.partitions=1",
                    "num.network.threads=2",
                    "num.io.threads=4",
                    "background.threads=4",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "",
                ]
            )
        )
        return path

    def _java(self, libs: Path, *args: str) -> list[str]:
        log4j = self.workdir / "log4j2.yaml"
        log4j.write_text(LOG4J2)
        return [
            "java",
            self._heap,
            "-Xms64m",
            "-XX:+UseSerialGC",
            "-Xss512k",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.workdir}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the broker (formatting its storage the first time); return once it answers."""
        if self.running:
            return
        libs = ensure_installed()
        properties = self._properties()
        if not self._formatted:
            subprocess.run(
                self._java(
                    libs,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    _cluster_id(),
                    "--config",
                    str(properties),
                    "--standalone",
                    "--ignore-formatted",
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
            self._formatted = True
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(properties)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_until_it_answers(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_it_answers(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        process = self._process
        assert process is not None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"Apache Kafka exited at start with {process.returncode}; see {self.log_path}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.1)
                continue
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
            try:
                metadata = admin.list_topics(timeout=5)
                if metadata.brokers:
                    return
            except KafkaException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Apache Kafka did not answer on {self.bootstrap}; see {self.log_path}")

    def create_topics(self, topics: dict[str, int], timeout_s: float = 30) -> None:
        """Create `{name: partitions}` and wait until every partition has a leader.

        Existing topics are left as they are.
        """
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(name, partitions, 1) for name, partitions in topics.items()]
        )
        for future in futures.values():
            try:
                future.result(timeout=timeout_s)
            except Exception as exc:
                if "already exists" not in str(exc).lower():
                    raise
        deadline = time.monotonic() + timeout_s
        while True:
            metadata = admin.list_topics(timeout=10)
            ready = all(
                name in metadata.topics
                and metadata.topics[name].error is None
                and len(metadata.topics[name].partitions) >= partitions
                and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
                for name, partitions in topics.items()
            )
            if ready:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics {sorted(topics)} have no leaders after {timeout_s}s")
            time.sleep(0.1)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL if it has not exited in time."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        """Stop and, for a temporary workdir, remove the data."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ApacheKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
