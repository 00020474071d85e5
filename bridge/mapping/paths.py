"""Paths into a source record: ``lines[0].sku``, ``tracking["q.id"]``, ``$.store`` (from the
record's root inside ``each``); parsed once, read without parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from bridge.mapping.errors import MappingSpecError

Segment = str | int
"""A step of a path: a record field or map key (str), a list index (int)."""


EACH = "[]"
"""The segment standing for every element of an array, in `Use.path`."""


_TOKEN = re.compile(r"""\.?([^.\[\]"']+)|\[(\d+)\]|\[(?:"([^"]*)"|'([^']*)')\]""")


def parse_path(text: str) -> tuple[bool, tuple[Segment, ...]]:
    """(from the root, segments) of a path such as ``lines[0].sku`` or ``$.tracking["q.id"]``."""
    if not isinstance(text, str) or not text.strip():
        raise MappingSpecError("a path must be a non-empty string")
    rooted = text.startswith("$.")
    rest = text[2:] if rooted else text
    segments: list[Segment] = []
    position = 0
    while position < len(rest):
        match = _TOKEN.match(rest, position)
        if match is None or (position == 0 and rest.startswith(".")):
            raise MappingSpecError(f"path {text!r}: cannot read it from character {position + 1}")
        name, index, quoted, single = match.groups()
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append(int(index))
        else:
            segments.append(quoted if quoted is not None else single)
        position = match.end()
    return rooted, tuple(segments)


def getter(segments: tuple[Segment, ...]) -> Callable[[Any], Any]:
    """Reads `segments` from a value; None when any step is absent or of the wrong shape."""
    if len(segments) == 1:
        (only,) = segments

        def one(value: Any) -> Any:
            try:
                return value[only]
            except (KeyError, IndexError, TypeError):
                return None

        return one

    def many(value: Any) -> Any:
        try:
            for segment in segments:
                value = value[segment]
        except (KeyError, IndexError, TypeError):
            return None
        return value

    return many


def show_path(segments: Sequence[Segment]) -> str:
    text = ""
    for segment in segments:
        if segment == EACH:
            text += "[]"
        elif isinstance(segment, int):
            text += f"[{segment}]"
        elif re.fullmatch(r"[^.\[\]\"']+", segment):
            text += f".{segment}" if text else segment
        else:
            text += f'["{segment}"]'
    return text
