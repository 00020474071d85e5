"""librdkafka's log goes through the bridge's logging, never raw to stderr.

`bridge run` against a "broker" that answers every connection with a nonsensical reply and
closes it: librdkafka logs an error on every reconnect, about twenty a second per client. None
of it may reach stderr as librdkafka's own ``%3|...|FAIL|...`` lines; on stdout it is JSON from
the ``bridge.kafka.librdkafka`` logger, the repeats collapsed into a counted summary.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from tests.support.kafka import wait_for

RAW_LIBRDKAFKA = re.compile(r"^%\d\|", re.MULTILINE)


class BrokenBroker:
    """A loopback port that answers any request with an invalid size; counts the attempts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.attempts = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.attempts += 1
            with connection:
                connection.recv(4096)
                connection.sendall(b"\x7f\xff\xff\xff" + b"x" * 8)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dead_broker() -> Iterator[BrokenBroker]:
    broker = BrokenBroker()
    yield broker
    broker.close()


def start_bridge(config: Path, stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
        stdout=stdout,
        stderr=stderr,
    )


def librdkafka_lines(stdout: Path) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in stdout.read_bytes().splitlines() if line]
    return [line for line in lines if line["logger"] == "bridge.kafka.librdkafka"]


async def test_a_dead_broker_writes_no_raw_librdkafka_lines(
    tmp_path: Path, dead_broker: BrokenBroker
) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:{dead_broker.port}"}}
vendors:
  qubit:
    base_url: http://127.0.0.1:9/qubit
    settings: {{tracking_id: shop-1}}
http: {{host: 127.0.0.1, port: 0}}
shutdown_deadline_s: 1
"""
    )
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = start_bridge(config, out, err)
        try:
            await wait_for(lambda: dead_broker.attempts >= 20, 30, "librdkafka reconnecting")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert not RAW_LIBRDKAFKA.search(stderr.read_text()), stderr.read_text()[:2000]
    lines = librdkafka_lines(stdout)
    written = [line for line in lines if "count" not in line]
    summaries = [line for line in lines if "count" in line]
    # One refusal written in full, with its level; the others counted in a summary (written at
    # the end of the window or, here, when the bridge exits).
    assert [(line["event"], line["level"]) for line in written] == [("librdkafka_fail", "ERROR")]
    assert "Invalid response size" in written[0]["message"]
    assert sum(line["count"] for line in summaries) >= 10
