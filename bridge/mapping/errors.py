"""What goes wrong with a mapping: as written (`MappingSpecError`, at config load) or for one
record (`SourceMappingError`, a decode error: never the value itself, it may be personal data).
"""

from __future__ import annotations

from bridge.errors import DecodeError


class MappingSpecError(ValueError):
    """The mapping as written is invalid; the message starts with the field it concerns."""


class SourceMappingError(DecodeError):
    """One record cannot be mapped: `where` (the event field), `source`, `reason` (a code)."""

    def __init__(self, where: str, source: str, reason: str, detail: str) -> None:
        super().__init__(reason, f"{where} <- {source}: {detail}")
        self.where = where
        self.source = source
