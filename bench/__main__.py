"""Benchmarks, measured side by side in one run (these machines are shared and noisy).

    python -m bench [--records N] [--requests N] [--loop asyncio|uvloop] [--json PATH]
                    [--only NAME ...] [--full] [--repeat N]

Prints one table (scenario, measure, value, ratio to the scenario's reference, target) and
writes the same rows as JSON. Each scenario family is a module; `SCENARIOS` lists them, and a
new one (e.g. bench/mapping.py) registers by adding an entry. See docs/performance.md for the
figures and what limits each.

`--repeat N` runs the chosen scenarios N times, alternately, each round on a fresh broker, and
reports the median of each value and of each ratio (every ratio measured within its round).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import adaptive, fleet, latency, memory, throughput
from bench.common import PARTITIONS, bridge_config, bridge_rate, produce_views, start_endpoint
from bench.table import Row, median_rows, print_table, write_json
from bridge.tools.localbroker import LocalBroker

__all__ = ["PARTITIONS", "bridge_config", "bridge_rate", "produce_views", "start_endpoint"]
"""bench/mapping.py imports these from here; bench.common is their home."""

Scenario = Callable[[LocalBroker, Path, argparse.Namespace], Awaitable[list[Row]]]


async def _batching(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    return await throughput.batching(broker, secrets, args.records)


async def _one_per_event(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    return await throughput.one_per_event(broker, secrets, args.requests)


async def _latency(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    return await latency.latency(broker, secrets, args.records, args.latency_seconds)


async def _adaptive(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    hidden = await adaptive.hidden_capacity(broker, secrets, args.adaptive_records)
    return hidden + await adaptive.fast_vendor(broker, secrets, args.adaptive_records * 5)


async def _adaptive_faults(
    broker: LocalBroker, secrets: Path, args: argparse.Namespace
) -> list[Row]:
    return await adaptive.faulty_vendors(broker, secrets, args.adaptive_records // 5)


async def _five_vendors(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    return await fleet.run(broker, secrets, args.records)


async def _memory(broker: LocalBroker, secrets: Path, args: argparse.Namespace) -> list[Row]:
    return await memory.run(broker, secrets, args.full)


SCENARIOS: dict[str, Scenario] = {
    "batching": _batching,
    "one-per-event": _one_per_event,
    "latency": _latency,
    "adaptive": _adaptive,
    "adaptive-faults": _adaptive_faults,
    "five-vendors": _five_vendors,
    "memory": _memory,
}


async def main(args: argparse.Namespace) -> list[Row]:
    runs: list[list[Row]] = []
    for _ in range(args.repeat):
        rows: list[Row] = []
        with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
            for name, scenario in SCENARIOS.items():
                if not args.only or name in args.only:
                    rows.extend(await scenario(broker, Path(tmp), args))
        runs.append(rows)
        if args.repeat > 1:
            print(f"round {len(runs)} of {args.repeat}")
            print_table(rows)
    return median_rows(runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--full", action="store_true", help="memory: a 1M-record backlog")
    parser.add_argument("--adaptive-records", type=int, default=5_000)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median is reported")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        results = uvloop.run(main(arguments))
    else:
        results = asyncio.run(main(arguments))
    print(f"event loop: {arguments.loop}")
    print_table(results)
    write_json(results, arguments.json)
