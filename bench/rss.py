"""A process's resident memory and CPU time over a run, read from /proc (Linux only).

`Trace.sample()` is called every fraction of a second while the run goes on; its rows give the
peak (the kernel's high-water mark, so a spike between two samples still counts) and the
resident memory at 25/50/75/100% of the run, which shows whether it is flat after warm-up.
The run is counted from `begin()` (the first record delivered, say), not from the start of the
process, whose first seconds are imports and joining a group.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.table import Row

MB = 1_000_000
FLAT_TARGET = 0.9
"""Flat after warm-up: the memory a quarter into the run is at least this share of the
memory at its end (it grew by at most about 11% while the run went on)."""
_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (its threads included: librdkafka's too)."""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class Trace:
    """Resident memory of one process, sampled over a run."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since the first sample, resident bytes)."""
    peak: int = 0
    """The kernel's high-water mark of resident bytes (VmHWM), as of the last sample."""
    _started: float | None = None
    _begun: float = 0.0

    def begin(self) -> None:
        """The run proper begins with the last sample."""
        self._begun = self.samples[-1][0]

    def sample(self) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        self.samples.append((now - self._started, _status_kb(self.pid, "VmRSS") * 1024))
        self.peak = _status_kb(self.pid, "VmHWM") * 1024

    @property
    def seconds(self) -> float:
        return self.samples[-1][0] - self._begun

    def at(self, fraction: float) -> int:
        """Resident bytes at the first sample at or after `fraction` of the run."""
        return next(rss for t, rss in self.samples if t >= self._begun + fraction * self.seconds)

    def rows(self, scenario: str, budget_mb: float) -> list[Row]:
        """Peak against `budget_mb` (ratio budget/peak, ok at >= 1), the memory at each
        quarter of the run, and the flatness ratio (memory at 25% / at 100%)."""
        rows = [
            Row(
                scenario,
                f"peak RSS (budget {budget_mb:.0f} MB)",
                self.peak / MB,
                "MB",
                budget_mb * MB / self.peak,
                1.0,
            )
        ]
        rows.append(Row(scenario, "run, from the first finished record", self.seconds, "s"))
        rows += [
            Row(scenario, f"RSS at {share:.0%} of the run", self.at(share) / MB, "MB")
            for share in (0.25, 0.5, 0.75, 1.0)
        ]
        rows.append(
            Row(
                scenario,
                "flat: RSS at 25% / at 100%",
                (self.at(1.0) - self.at(0.25)) / MB,
                "MB grown",
                self.at(0.25) / self.at(1.0),
                FLAT_TARGET,
            )
        )
        return rows
