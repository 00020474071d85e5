"""What `bridge status` reports per vendor: its group, partitions, members, dead letters and,
when asked, a running instance's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None
    """None: the group has committed nothing for this partition."""
    end: int
    lag: int
    last_commit_age_s: float | None
    """Seconds since the last commit; None when the commit carries no time."""


@dataclass(slots=True)
class Member:
    client_id: str
    host: str
    partitions: list[str]


@dataclass(slots=True)
class InstanceStatus:
    url: str
    ready: bool | None = None
    readiness: str = ""
    circuit: str | None = None
    paused_partitions: float | None = None
    credentials_refused: bool | None = None
    error: str | None = None


@dataclass(slots=True)
class VendorStatus:
    vendor: str
    group: str
    state: str
    members: list[Member] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    """Topics the vendor reads that the broker does not have."""
    partitions: list[PartitionStatus] = field(default_factory=list)
    dead_letters_last_hour: dict[str, int] = field(default_factory=dict)
    instance: InstanceStatus | None = None

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)
