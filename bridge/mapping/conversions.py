"""The conversions a mapping may apply to a source value (``convert:``), by name: cents to
units, strings to numbers, timestamps to epoch millis, emails normalised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def _number(value: Any) -> float:
    if value.__class__ is bool:
        raise TypeError("a boolean is not a number")
    return float(value)


def _integer(value: Any) -> int:
    if value.__class__ is bool:
        raise TypeError("a boolean is not a number")
    if isinstance(value, str):
        value = float(value) if ("." in value or "e" in value.lower()) else int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    raise TypeError(f"{type(value).__name__} is not a number")


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a scalar")


def _iso8601(value: Any) -> int:
    if not isinstance(value, str):
        raise TypeError("not a string")
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value.strip().lower() or None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("not a boolean")


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _text(fn: Callable[[str], str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError("not a string")
        return fn(value)

    return convert


@dataclass(frozen=True, slots=True)
class Conversion:
    fn: Callable[[Any], Any]
    takes: frozenset[str]
    """The source kinds it accepts (`KINDS`), for check-config."""
    gives: str


_NUMERIC = frozenset({"number", "string"})


CONVERSIONS: dict[str, Conversion] = {
    "cents": Conversion(lambda v: _number(v) / 100, _NUMERIC, "number"),
    "number": Conversion(_number, _NUMERIC, "number"),
    "integer": Conversion(_integer, _NUMERIC, "number"),
    "string": Conversion(to_string, frozenset({"string", "number", "boolean"}), "string"),
    "boolean": Conversion(_boolean, frozenset({"boolean", "string", "number"}), "boolean"),
    "epoch_s": Conversion(lambda v: int(_number(v) * 1000), _NUMERIC, "number"),
    "epoch_ms": Conversion(_integer, _NUMERIC, "number"),
    "epoch_us": Conversion(lambda v: _integer(v) // 1000, _NUMERIC, "number"),
    "iso8601": Conversion(_iso8601, frozenset({"string"}), "number"),
    "email": Conversion(_email, frozenset({"string"}), "string"),
    "lower": Conversion(_text(str.lower), frozenset({"string"}), "string"),
    "trim": Conversion(_text(str.strip), frozenset({"string"}), "string"),
}
"""Every conversion by name: cents to units, strings to numbers, timestamps to epoch millis."""


KINDS = ("string", "number", "boolean", "record", "map", "array")
