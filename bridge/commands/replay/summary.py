"""What a replay did, shown as it goes and at its end.

Exit status: 0 when every selected letter was replayed (or none was selected), 1 when any was
refused again or skipped, 130 when interrupted (progress is kept: run it again to resume).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from bridge.commands.columns import aligned

EXIT_OK = 0


EXIT_NOT_ALL = 1


EXIT_INTERRUPTED = 130


@dataclass(slots=True)
class Summary:
    selected: int = 0
    replayed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    passed_over: Counter[str] = field(default_factory=Counter)
    """Letters read but not selected: other vendors, not matching, already replayed."""
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if not self.refused and not self.skipped else EXIT_NOT_ALL

    def render(self) -> str:
        lines = [
            f"replayed: {self.replayed}",
            f"refused again: {sum(self.refused.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.refused.items())),
            f"skipped: {sum(self.skipped.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.skipped.items())),
            f"not selected: {sum(self.passed_over.values())}",
            *(f"  {reason}: {n}" for reason, n in sorted(self.passed_over.items())),
        ]
        if self.interrupted:
            lines.append("interrupted: run the same command again to resume")
        return "\n".join(lines)


class Progress:
    """A one-line progress bar on a terminal; nothing otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._on = stream.isatty()
        self._shown = 0.0

    def update(self, done: int, summary: Summary, force: bool = False) -> None:
        now = time.monotonic()
        if not self._on or (not force and now - self._shown < 0.1):
            return
        self._shown = now
        share = min(1.0, done / self._total)
        bar = "#" * int(share * 30)
        self._stream.write(
            f"\r[{bar:<30}] {done}/{self._total}  replayed {summary.replayed}  "
            f"refused {sum(summary.refused.values())}  skipped {sum(summary.skipped.values())} "
        )
        self._stream.flush()

    def close(self) -> None:
        if self._on:
            self._stream.write("\n")
            self._stream.flush()


def short_reason(message: str, chars: int = 60) -> str:
    text = " ".join(message.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def table(header: tuple[str, ...], groups: Counter[tuple[str, str, str, str]]) -> str:
    rows = [header, *[(*key, str(n)) for key, n in sorted(groups.items())]]
    return "".join(line + "\n" for line in aligned(rows))
