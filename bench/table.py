"""One row of the `make bench` table, and the table printed and written as JSON."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Row:
    scenario: str
    measure: str
    value: float
    unit: str
    ratio: float | None = None
    """Against the scenario's reference, measured in the same run."""
    target: float | None = None
    """The ratio the issue asks for (at least)."""

    @property
    def verdict(self) -> str:
        if self.ratio is None or self.target is None:
            return ""
        return "ok" if self.ratio >= self.target else "BELOW"


def print_table(rows: list[Row]) -> None:
    scenario = None
    for row in rows:
        if row.scenario != scenario:
            scenario = row.scenario
            print(scenario)
        ratio = "" if row.ratio is None else f"{row.ratio:6.2f}"
        target = "" if row.target is None else f">= {row.target}"
        print(
            f"   {row.measure:32s} {row.value:12.4g} {row.unit:11s} {ratio:>6s}"
            f"  {target:8s} {row.verdict}"
        )


def write_json(rows: list[Row], path: Path) -> None:
    path.write_text(json.dumps([{**asdict(row), "verdict": row.verdict} for row in rows], indent=1))


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """One row per (scenario, measure) of `runs`, in the first run's order: the median of its
    values and the median of its ratios (each ratio measured side by side within its run)."""
    if len(runs) == 1:
        return runs[0]
    grouped: dict[tuple[str, str], list[Row]] = {}
    for rows in runs:
        for row in rows:
            grouped.setdefault((row.scenario, row.measure), []).append(row)
    return [
        replace(
            rows[0],
            scenario=f"{rows[0].scenario} (median of {len(rows)} runs)",
            value=statistics.median(row.value for row in rows),
            ratio=None
            if rows[0].ratio is None
            else statistics.median(row.ratio for row in rows if row.ratio is not None),
        )
        for rows in grouped.values()
    ]
