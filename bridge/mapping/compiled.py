"""A compiled mapping (`SourceMapping`): accessors that build one event per record without
parsing anything, and the reads it makes from the source (`Use`), for check-config.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.mapping.errors import SourceMappingError
from bridge.mapping.paths import Segment
from bridge.mapping.target import Target


@dataclass(frozen=True, slots=True)
class Use:
    """One read from the source, for checking a mapping against the source's schema."""

    where: str
    """The mapping's field, dotted (``items.price``)."""
    source: str
    """``path``, ``header``, ``key`` or ``const``."""
    path: tuple[Segment, ...]
    """For ``path``: the segments from the record's root (`EACH` for an array's elements)."""
    converts: tuple[str, ...]
    target: Target
    """What the value must become; for a whole array or map, its kind."""


class Context:
    """What a value may be read from, besides the record: built once per record."""

    __slots__ = ("_headers", "key", "raw_headers", "root")

    def __init__(self, root: Any, key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        self.root = root
        self.key = key
        self.raw_headers = headers
        self._headers: dict[str, bytes] | None = None

    def header(self, name: str) -> bytes | None:
        if self._headers is None:
            self._headers = {k: v for k, v in self.raw_headers if v is not None}
        return self._headers.get(name)


Accessor = Callable[[Any, Context], Any]
"""(the current scope: the record or an array element, the context) -> the value."""


@dataclass
class SourceMapping:
    """A compiled mapping: `apply(record, key, headers)` -> the event."""

    event: Accessor
    uses: list[Use] = field(default_factory=list)

    def apply(
        self,
        record: Any,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """The event for `record`; raises `SourceMappingError`."""
        if not isinstance(record, dict):
            raise SourceMappingError("(record)", "(value)", "wrong_type", "not an object")
        event: dict[str, Any] = self.event(record, Context(record, key, headers or ()))
        return event
