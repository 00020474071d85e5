"""The target of a mapping, the bridge's own Avro schema reduced to what a mapping needs, and
the check of a value against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.mapping.conversions import to_string
from bridge.mapping.errors import MappingSpecError, SourceMappingError


@dataclass(frozen=True, slots=True)
class Target:
    """A field type of the bridge's schema, reduced to what a mapping needs."""

    kind: str
    """``string``, ``double``, ``long``, ``int``, ``boolean``, ``record``, ``map``, ``array``"""
    nullable: bool = False
    fields: tuple[tuple[str, Target, bool, Any], ...] = ()
    """A record's fields: (name, type, has a default, the default)."""
    items: Target | None = None
    """An array's items or a map's values."""
    name: str = ""


def target_of(schema: Any, nullable: bool = False) -> Target:
    """The `Target` of an Avro schema (the bridge's own: no named references across files)."""
    if isinstance(schema, list):
        branches = [branch for branch in schema if branch != "null"]
        if len(branches) != 1:
            raise MappingSpecError("the bridge's schema has a union a mapping cannot fill")
        return target_of(branches[0], nullable="null" in schema)
    if isinstance(schema, str):
        return Target("double" if schema == "float" else schema, nullable)
    kind = schema["type"]
    if isinstance(kind, dict | list):
        return target_of(kind, nullable)
    if kind == "record":
        fields = tuple(
            (f["name"], target_of(f["type"]), "default" in f, f.get("default"))
            for f in schema["fields"]
        )
        return Target("record", nullable, fields, name=schema["name"])
    if kind == "array":
        return Target("array", nullable, items=target_of(schema["items"]))
    if kind == "map":
        return Target("map", nullable, items=target_of(schema["values"]))
    return Target("double" if kind == "float" else kind, nullable)


_TARGET_KIND = {"string": "string", "double": "number", "long": "number", "int": "number"}


def target_kind(target: Target) -> str:
    """The source kind (`KINDS`) a value for `target` must have."""
    return _TARGET_KIND.get(target.kind, target.kind)


_INT_RANGE = {"int": 2**31, "long": 2**63}


def checker(target: Target, where: str, source: str) -> Callable[[Any], Any]:
    """Checks (and widens, int to double) a value that is not None against `target`."""
    kind = target.kind

    def fail(expected: str, value: Any) -> SourceMappingError:
        return SourceMappingError(
            where, source, "wrong_type", f"expected {expected}, got {type(value).__name__}"
        )

    def check(value: Any) -> Any:
        if value is None:
            return value
        if kind == "string":
            if isinstance(value, str):
                return value
            raise fail("a string", value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            raise fail("a boolean", value)
        if kind == "double":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise fail("a number", value)
        if kind in _INT_RANGE:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                if -_INT_RANGE[kind] <= value < _INT_RANGE[kind]:
                    return value
                raise fail(f"an Avro {kind}", value)
            raise fail("an integer", value)
        if kind == "array":
            assert target.items is not None
            if isinstance(value, list):
                item = checker(target.items, where, source)
                return [item(element) for element in value if element is not None]
            raise fail("a list", value)
        if kind == "map":
            if isinstance(value, dict):
                return {
                    str(key): to_string(entry) for key, entry in value.items() if entry is not None
                }
            raise fail("an object", value)
        raise fail(kind, value)

    return check
