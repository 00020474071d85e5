"""``bridge sandbox``: serve the vendor stand-ins until SIGINT or SIGTERM.

Faults are set at start with ``--fault VENDOR:FIELD=VALUE`` (``VENDOR`` may be ``all``), and
changed while running with ``PUT /_control/{vendor}``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .config import FAULT_FIELDS, VENDORS, Faults, SandboxCredentials
from .running import Sandbox

ALL = "all"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_NONE = frozenset({"none", "null", ""})
_WHOLE_OR_NONE = {
    "status_override": "an HTTP status",
    "capacity_knee": "a whole number",
    "capacity_ceiling": "a whole number",
}
"""Fields that hold a whole number or nothing: parsed as int, since `Faults` refuses 16.0."""


@dataclass(frozen=True)
class FaultSetting:
    """One ``--fault``: a vendor (or ``all``), a `Faults` field and its parsed value."""

    vendor: str
    field: str
    value: Any


def _parse_value(field: str, raw: str) -> Any:
    text = raw.strip().lower()
    if field == "outage":
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"outage takes true or false, not {raw!r}")
    if field in _WHOLE_OR_NONE:
        if text in _NONE:
            return None
        try:
            return int(text)
        except ValueError:
            kind = _WHOLE_OR_NONE[field]
            raise ValueError(f"{field} takes {kind} or none, not {raw!r}") from None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{field} takes a number, not {raw!r}") from None


def parse_fault(text: str) -> FaultSetting:
    """An argparse ``type`` for ``--fault``; argparse names the flag in the error it prints."""
    vendor, colon, assignment = text.partition(":")
    field, equals, raw = assignment.partition("=")
    vendor, field = vendor.strip(), field.strip()
    if not colon or not equals:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not VENDOR:FIELD=VALUE (e.g. qubit:error_rate=0.2)"
        )
    if vendor != ALL and vendor not in VENDORS:
        raise argparse.ArgumentTypeError(
            f"unknown vendor {vendor!r} in {text!r}; use one of {', '.join((*VENDORS, ALL))}"
        )
    if field not in FAULT_FIELDS:
        raise argparse.ArgumentTypeError(
            f"unknown fault field {field!r} in {text!r}; use one of {', '.join(FAULT_FIELDS)}"
        )
    try:
        value = _parse_value(field, raw)
        Faults().updated({field: value})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return FaultSetting(vendor, field, value)


def faults_from_settings(settings: Iterable[FaultSetting]) -> dict[str, Faults]:
    """Each vendor's faults after applying the settings in order (later ones win)."""
    faults = {vendor: Faults() for vendor in VENDORS}
    for setting in settings:
        targets = VENDORS if setting.vendor == ALL else (setting.vendor,)
        for vendor in targets:
            faults[vendor] = faults[vendor].updated({setting.field: setting.value})
    return faults


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {value}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (0: any free port)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed fault draws and generated ids")
    parser.add_argument(
        "--keep",
        type=_non_negative_int,
        default=10_000,
        help="requests kept per vendor for inspection",
    )
    parser.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        metavar="VENDOR:FIELD=VALUE",
        help=(
            "inject a fault, repeatable; VENDOR is one of "
            f"{', '.join((*VENDORS, ALL))}; FIELD one of {', '.join(FAULT_FIELDS)} "
            "(e.g. qubit:error_rate=0.2, squeezely:outage=true, all:latency_ms=50)"
        ),
    )


async def _serve(sandbox: Sandbox) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stopping.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError):  # not on this platform or thread
            pass
    try:
        async with sandbox:
            print(f"sandbox listening on {sandbox.url}", flush=True)
            for vendor in VENDORS:
                print(f"  {vendor:<12} {sandbox.base_url(vendor)}", flush=True)
            await stopping.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    """Serves until SIGINT or SIGTERM; 0 then, 2 on a bad setting, 1 if it cannot listen."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Standalone, the request lines are the point; they carry counts, never bodies or keys.
    logging.getLogger("bridge.tools.sandbox.requests").setLevel(logging.DEBUG)
    try:
        faults = faults_from_settings(args.fault)
    except ValueError as exc:
        print(f"bridge sandbox: error: argument --fault: {exc}", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        args.host,
        args.port,
        credentials=SandboxCredentials.from_env(),
        faults=faults,
        seed=args.seed,
        keep=args.keep,
    )
    try:
        asyncio.run(_serve(sandbox))
    except OSError as exc:
        print(f"bridge sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # SIGINT before the handler was installed
        pass
    return 0
