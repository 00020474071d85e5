"""The bridge as its own process (`bridge run`), watched from outside: its metrics scraped, its
memory and CPU read from /proc (`bench.rss`).

A process of its own so that what is measured is the bridge alone, as it is deployed: not the
producer that filled the topics, not the stand-ins it talks to, not an earlier run's heap.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.rss import Trace, cpu_seconds
from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker, free_port, stop_process

_MAIN = "import sys; from bridge.cli import main; sys.exit(main())"
SAMPLE_EVERY_S = 0.5
START_TIMEOUT_S = 60.0


def config_tree(
    broker: LocalBroker, views: str, orders: str, vendors: Mapping[str, Any]
) -> dict[str, Any]:
    """A bridge configuration reading `views` and `orders` for `vendors` (name to block), in a
    consumer group of its own, so that it starts at the earliest offset."""
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap,
            "group_prefix": f"bench-{time.time_ns()}",
            "consumer_properties": dict(CONSUMER_PROPERTIES),
        },
        "topics": {"product_views": {"name": views}, "orders": {"name": orders}},
        "vendors": dict(vendors),
        "log": {"format": "text", "level": "WARNING"},
    }


@dataclass
class Progress:
    """One vendor's finished records (delivered, skipped or dead-lettered) over a run."""

    points: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the bridge started, records finished)."""

    def rate(self) -> float:
        """Records per second from the first finished record to the last sample, or to the
        sample at which the vendor had finished all it was going to."""
        started = next((i for i, (_, n) in enumerate(self.points) if n > 0), None)
        if started is None:
            return 0.0
        final = self.points[-1][1]
        ended = next(i for i, (_, n) in enumerate(self.points) if n == final)
        if ended <= started:
            return 0.0
        (t0, n0), (t1, n1) = self.points[started], self.points[ended]
        return (n1 - n0) / (t1 - t0)


class BridgeProcess:
    """``with BridgeProcess(tree, workdir, vendors) as bridge:`` runs `bridge run` on the config
    `tree` (its http block replaced by a free loopback port) for `vendors` (default: all)."""

    def __init__(self, tree: Mapping[str, Any], workdir: Path, vendors: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.vendors = tuple(vendors) or tuple(tree["vendors"])
        name = "-".join(vendors) or "all"
        self._config = workdir / f"bridge-{name}.yaml"
        self._config.write_text(
            yaml.safe_dump({**tree, "http": {"host": "127.0.0.1", "port": self.port}})
        )
        self._log = workdir / f"bridge-{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self.progress = {vendor: Progress() for vendor in self.vendors}
        self._cpu: list[tuple[float, float]] = []
        """(CPU-seconds, records finished by all vendors) at each sample."""

    def __enter__(self) -> BridgeProcess:
        only = [arg for vendor in self.vendors for arg in ("--vendor", vendor)]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _MAIN, "run", "--config", str(self._config), *only],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._started = time.monotonic()
        self.trace = Trace(self._process.pid)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._process is not None
        stop_process(self._process, 30)

    def cpu_per_1000(self) -> float:
        """CPU-seconds per 1,000 records finished (summed over vendors), from the first finished
        record on: starting up and joining the group are left out."""
        first = next((cpu, n) for cpu, n in self._cpu if n > 0)
        last = self._cpu[-1]
        return (last[0] - first[0]) / (last[1] - first[1]) * 1000

    def sample(self) -> dict[str, float]:
        """Scrape /metrics once; note each vendor's finished records and the process's memory.

        Raises RuntimeError when the bridge exited, or refused or dead-lettered a record (the
        benchmark's records are all deliverable; a run that loses some measures nothing)."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"the bridge exited with {self._process.returncode}: {self._log}")
        finished = dict.fromkeys(self.vendors, 0.0)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (urllib.error.URLError, ConnectionError):
            text = ""  # not listening yet
        for family in text_string_to_metric_families(text):
            for sample in family.samples if family.name == "bridge_records" else ():
                if sample.name == "bridge_records_total" and sample.value:
                    if sample.labels["outcome"] == "dead_lettered":
                        raise RuntimeError(
                            f"{sample.value:.0f} records dead-lettered at "
                            f"{sample.labels['vendor']} ({sample.labels['reason']})"
                        )
                    finished[sample.labels["vendor"]] += sample.value
        now = time.monotonic() - self._started
        for vendor, count in finished.items():
            self.progress[vendor].points.append((now, count))
        self.trace.sample()
        if not self._cpu or not self._cpu[-1][1]:
            self.trace.begin()  # moved on until the sample with the first finished record
        self._cpu.append((cpu_seconds(self._process.pid), sum(finished.values())))
        return finished

    def watch(self, expected: Mapping[str, int], seconds: float) -> None:
        """Sample until every vendor finished its `expected` records, or for `seconds` from
        the first finished record (joining the group takes a few seconds of its own)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        delivering = False
        while time.monotonic() < deadline:
            finished = self.sample()
            if all(finished[vendor] >= expected[vendor] for vendor in self.vendors):
                return
            if not delivering and any(finished.values()):
                delivering = True
                deadline = time.monotonic() + seconds
            time.sleep(SAMPLE_EVERY_S)
        if not delivering:
            raise RuntimeError(f"nothing delivered in {START_TIMEOUT_S:.0f} s: {self._log}")
