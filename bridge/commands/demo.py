"""`bridge demo`: the whole product on this machine, with no external service.

Starts a local Kafka-protocol broker and the vendor sandbox, produces a realistic stream of
orders and product views (some without emails or visitor ids, a few the vendors refuse), runs
the bridge for every vendor of the registry, prints progress per vendor, and ends with a
summary per vendor: delivered, skipped by reason, dead-lettered by reason, retries. Ctrl-C
stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from bridge.app import run
from bridge.commands.produce import produce_samples
from bridge.config import Config, LogSettings, validate_config
from bridge.logs import configure_logging
from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker
from bridge.tools.sandbox import Faults, Sandbox, SandboxCredentials
from bridge.tools.sandbox_settings import sandbox_settings
from bridge.vendors import vendor_classes

VENDORS = tuple(vendor_classes())
PROGRESS_EVERY_S = 2.0
SETTLE_TIMEOUT_S = 60.0

# A little weather, so retries and back-off show up in the summary.
DEMO_FAULTS = {
    "qubit": Faults(error_rate=0.05, latency_ms=30),
    "squeezely": Faults(throttle_rate=0.05, retry_after_s=1, latency_ms=20),
    "vtmarketing": Faults(latency_ms=40),
}


def demo_config(broker: LocalBroker, sandbox: Sandbox, secrets: Path) -> Config:
    vendors: dict[str, Any] = {
        name: {
            "base_url": sandbox.base_url(name),
            "settings": settings.block(secrets),
            "retry": {"initial_backoff_s": 0.2, "max_backoff_s": 5},
        }
        for name, settings in sandbox_settings(sandbox.credentials).items()
    }
    return validate_config(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap,
                "group_prefix": "bridge-demo",
                "consumer_properties": dict(CONSUMER_PROPERTIES),
            },
            "vendors": vendors,
            "http": {"host": "127.0.0.1", "port": 0},
            "commit_interval_s": 1,
            "log": {"format": "text", "level": "WARNING"},
        }
    )


def tally(registry: CollectorRegistry) -> dict[str, dict[str, dict[str, float]]]:
    """vendor -> outcome -> reason -> count, plus 'consumed' and 'retries'."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "bridge_records_total":
                table[labels["vendor"]][labels["outcome"]][labels["reason"] or "-"] = sample.value
            elif sample.name == "bridge_records_consumed_total":
                by_topic = table[labels["vendor"]]["consumed"]
                by_topic[labels["topic"]] = sample.value
            elif sample.name == "bridge_delivery_retries_total":
                table[labels["vendor"]]["retries"][labels["error_class"]] = sample.value
    return table


def _total(counts: dict[str, float]) -> int:
    return int(sum(counts.values()))


def progress_line(registry: CollectorRegistry) -> str:
    table = tally(registry)
    parts = []
    for name in VENDORS:
        row = table.get(name, {})
        parts.append(
            f"{name}: {_total(row.get('delivered', {}))} ok"
            f"/{_total(row.get('skipped', {}))} skip"
            f"/{_total(row.get('dead_lettered', {}))} dlq"
        )
    return " | ".join(parts)


def summary(registry: CollectorRegistry) -> str:
    table = tally(registry)
    lines = ["", "Summary per vendor", "=================="]
    for name in VENDORS:
        row = table.get(name, {})
        lines.append(
            f"{name}: consumed {_total(row.get('consumed', {}))}, "
            f"delivered {_total(row.get('delivered', {}))}, "
            f"retries {_total(row.get('retries', {}))}"
        )
        for outcome in ("skipped", "dead_lettered"):
            for reason, count in sorted(row.get(outcome, {}).items()):
                lines.append(f"    {outcome.replace('_', '-')} ({reason}): {int(count)}")
    return "\n".join(lines)


def settled(registry: CollectorRegistry) -> bool:
    """Every consumed record is done for every vendor."""
    table = tally(registry)
    for name in VENDORS:
        row = table.get(name, {})
        finished = sum(_total(row.get(k, {})) for k in ("delivered", "skipped", "dead_lettered"))
        if finished < _total(row.get("consumed", {})):
            return False
    return True


async def _demo(seconds: float, rate: float, workdir: Path, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if stop.is_set():
            sys.exit(130)
        print("\nstopping (Ctrl-C again to exit at once) ...", file=out)
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)
    with LocalBroker(log_path=workdir / "broker.log") as broker:
        broker.create_topics({"orders": 3, "product-views": 3, "bridge.dead-letter": 1})
        async with Sandbox(credentials=SandboxCredentials(), faults=DEMO_FAULTS, seed=7) as sandbox:
            secrets = workdir / "secrets"
            secrets.mkdir(exist_ok=True)
            config = demo_config(broker, sandbox, secrets)
            print(f"broker    {broker.bootstrap}", file=out)
            print(f"sandbox   {sandbox.url}/  (recent requests per vendor)", file=out)
            print(f"logs      {workdir}", file=out)
            count = int(seconds * rate)
            producing = threading.Thread(
                target=produce_samples, args=(config, rate, count), daemon=True
            )
            producing.start()
            registry = CollectorRegistry()
            bridge = asyncio.create_task(run(config, registry=registry, stop=stop))
            deadline: float | None = None
            while not stop.is_set() and not bridge.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROGRESS_EVERY_S)
                print(progress_line(registry), file=out, flush=True)
                if producing.is_alive():
                    continue
                deadline = deadline or loop.time() + SETTLE_TIMEOUT_S
                if settled(registry) or loop.time() > deadline:
                    break
            stop.set()
            await bridge
            print(summary(registry), file=out)
            print(f"\nsandbox stats: {sandbox.stats()}", file=out)


def run_demo(seconds: float, rate: float, workdir: Path | None, out: TextIO = sys.stdout) -> int:
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-")))
        workdir.mkdir(parents=True, exist_ok=True)
        log_file = stack.enter_context(open(workdir / "bridge.log", "w"))
        configure_logging(LogSettings(format="text", level="INFO"), stream=log_file)
        asyncio.run(_demo(seconds, rate, workdir, out))
    return 0
