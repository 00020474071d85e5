"""The status as text for people (`render`) or as JSON for scripts (`to_json`)."""

from __future__ import annotations

import json
from dataclasses import asdict

from bridge.commands.columns import aligned
from bridge.commands.status.report import VendorStatus


def to_json(statuses: list[VendorStatus]) -> str:
    return json.dumps(
        [{**asdict(status), "lag": status.lag} for status in statuses], indent=2, sort_keys=False
    )


def render(statuses: list[VendorStatus]) -> str:
    blocks = []
    for status in statuses:
        lines = [
            f"{status.vendor}  group {status.group} ({status.state}, "
            f"{len(status.members)} members)  lag {status.lag}"
        ]
        rows: list[tuple[str, ...]] = [
            ("topic", "partition", "committed", "end", "lag", "last commit")
        ]
        rows += [
            (
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                str(p.end),
                str(p.lag),
                _age(p.last_commit_age_s) if p.committed is not None else "never",
            )
            for p in status.partitions
        ]
        lines += _columns(rows)
        for topic in status.missing_topics:
            lines.append(f"  {topic}: no such topic on the broker")
        for member in status.members:
            lines.append(
                f"  member {member.client_id} {member.host}: "
                f"{', '.join(member.partitions) or 'no partitions'}"
            )
        letters = status.dead_letters_last_hour
        lines.append(
            "  dead letters, last hour: "
            + (", ".join(f"{cls} {n}" for cls, n in letters.items()) if letters else "none")
        )
        if status.instance is not None:
            inst = status.instance
            if inst.error:
                lines.append(f"  instance {inst.url}: {inst.error}")
            else:
                lines.append(
                    f"  instance {inst.url}: circuit {inst.circuit}, paused partitions "
                    f"{_number(inst.paused_partitions)}, ready {_yes(inst.ready)}"
                    + (", credentials refused" if inst.credentials_refused else "")
                    + f" (/readyz: {inst.readiness})"
                )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    return ["  " + line for line in aligned(rows)]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _yes(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")
