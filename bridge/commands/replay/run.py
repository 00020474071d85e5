"""One replay run (or dry run): the vendor's parts built from the configuration, letters read,
selected, admitted and sent, signals handled, the summary written.

Letters go through the live pipeline's own parts, never through copies of them: `Intake`
decodes and maps them, `Sender` sends them with the vendor's rate limit, retries and circuit,
`DeadLetterWriter` and `OutcomeWriter` report what became of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import Counter
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from bridge.commands.preview import render
from bridge.commands.replay.admission import admit
from bridge.commands.replay.reader import DeadLetterReader, settled_letters
from bridge.commands.replay.selection import Options, options_from
from bridge.commands.replay.sending import ReplayRun
from bridge.commands.replay.summary import EXIT_OK, Progress, Summary, short_reason, table
from bridge.config import Config
from bridge.delivery.client import VendorClient
from bridge.delivery.retry import Circuit, CircuitState
from bridge.delivery.sender import Sender
from bridge.errors import ConfigError
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.outcomes import OutcomeWriter
from bridge.kafka.producer import AsyncProducer
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake
from bridge.vendors import build_vendor
from bridge.vendors.base import Vendor


def build(config: Config, name: str) -> Vendor[Any]:
    if name not in config.vendors:
        raise ConfigError(f"--vendor {name}: not a vendor of the config")
    if name not in config.vendor_settings:
        raise ConfigError(f"--vendor {name}: the vendor is disabled in the config")
    return build_vendor(name, config.vendor_settings[name], config.vendors[name].base_url)


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
                groups[(vendor.name, letter.error_class, status, short_reason(letter.message))] += 1
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
        out.write(table(("vendor", "class", "status", "reason", "letters"), groups))
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
            run = ReplayRun(vendor, reader, sender, dead_letters, outcomes, producer, summary)
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
