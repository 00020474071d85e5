"""``bridge sandbox`` options, and serving until a signal."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bridge.tools.sandbox import VENDORS, Faults
from bridge.tools.sandbox.command import FaultSetting, configure_parser, faults_from_settings, run

ROOT = Path(__file__).resolve().parents[4]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bridge sandbox")
    configure_parser(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse()
    assert (args.host, args.port, args.seed, args.keep, args.fault) == (
        "127.0.0.1",
        8080,
        None,
        10_000,
        [],
    )


def test_faults_are_parsed_and_applied_in_order() -> None:
    args = parse(
        "--fault",
        "all:latency_ms=50",
        "--fault",
        "qubit:error_rate=0.2",
        "--fault",
        "squeezely:outage=true",
        "--fault",
        "esputnik:status_override=401",
        "--fault",
        "qubit:latency_ms=0",
    )
    assert args.fault[1] == FaultSetting("qubit", "error_rate", 0.2)
    faults = faults_from_settings(args.fault)
    assert faults["qubit"] == Faults(latency_ms=0, error_rate=0.2)
    assert faults["squeezely"] == Faults(latency_ms=50, outage=True)
    assert faults["esputnik"] == Faults(latency_ms=50, status_override=401)
    assert faults["vtmarketing"] == Faults(latency_ms=50)
    assert set(faults) == set(VENDORS)


def test_hidden_capacity_is_parsed_as_whole_numbers() -> None:
    args = parse(
        "--fault",
        "esputnik:capacity_knee=16",
        "--fault",
        "esputnik:capacity_ceiling=32",
        "--fault",
        "esputnik:knee_latency_ms=2",
    )
    faults = faults_from_settings(args.fault)
    assert faults["esputnik"] == Faults(capacity_knee=16, capacity_ceiling=32, knee_latency_ms=2)
    assert parse("--fault", "esputnik:capacity_knee=none").fault[0].value is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("qubit", "is not VENDOR:FIELD=VALUE"),
        ("acme:outage=true", "unknown vendor 'acme'"),
        ("qubit:blackout=true", "unknown fault field 'blackout'"),
        ("qubit:outage=maybe", "outage takes true or false"),
        ("qubit:error_rate=lots", "error_rate takes a number"),
        ("qubit:error_rate=3", "error_rate must be a fraction between 0 and 1"),
        ("qubit:status_override=ok", "status_override takes an HTTP status or none"),
        ("esputnik:capacity_knee=1.5", "capacity_knee takes a whole number or none"),
    ],
)
def test_bad_fault_names_the_flag(
    capsys: pytest.CaptureFixture[str], value: str, fragment: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--fault", value)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --fault" in err
    assert fragment in err


def test_rates_adding_past_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--fault", "qubit:error_rate=0.7", "--fault", "qubit:throttle_rate=0.7")
    assert run(args) == 2
    assert (
        "argument --fault: error_rate + throttle_rate must not exceed 1" in capsys.readouterr().err
    )


def test_busy_port_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run(parse("--port", str(port))) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serves_until_signal_and_exits_0(signum: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SANDBOX_QUBIT_TRACKING_ID": "from-env"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.tools.sandbox",
        "--port",
        "0",
        "--fault",
        "squeezely:outage=true",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/_control/squeezely") as resp:
                assert (await resp.json())["outage"] is True
            async with http.post(f"{url}/qubit/events/from-env", json={"events": []}) as resp:
                assert resp.status == 200
        proc.send_signal(signum)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.communicate()
