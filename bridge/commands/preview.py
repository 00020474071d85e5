"""What a vendor would receive for one record, without sending anything.

`load_record` reads a record written as plain JSON (the shape a decoded Avro record has:
union values written bare, ``occurred_at`` as epoch milliseconds), fills the schema's defaults
for the optional fields left out and checks it against the schema, naming the field path of
whatever is wrong. `preview` maps it and builds the requests as the engine would; `render`
prints them with every secret masked. `bridge.commands.chain` previews a record of any
source topic (from Kafka or a file, mapped or not) through the live pipeline's intake.

Pure apart from reading the schemas (once) and the text it is given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import orjson
from fastavro import parse_schema
from fastavro.validation import ValidationError, validate

from bridge.events import DEFAULT_SCHEMAS_DIR, EventType
from bridge.vendors.base import HttpRequest, Item, Vendor

SCHEMA_FILES = {EventType.ORDER: "Order.avsc", EventType.PRODUCT_VIEW: "ProductView.avsc"}

MASK = "****"
MASKED_HEADERS = frozenset({"authorization", "x-auth-apikey"})
"""Headers masked whole, whatever their value (``Basic <base64>`` hides the key otherwise)."""

_INT_RANGE = {"int": 2**31, "long": 2**63}
_EXPECTED = {
    "null": "null",
    "boolean": "true or false",
    "int": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "string": "a string",
    "bytes": "a string",
    "record": "an object",
    "map": "an object",
    "array": "a list",
    "enum": "a string",
}


class RecordError(ValueError):
    """The text is not a valid record; the message names the field path (or JSON position)."""


def load_record(text: str, event_type: EventType) -> dict[str, Any]:
    """The record `text` holds, defaults filled in, checked against the event type's schema."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return validate_record(value, event_type)


def validate_record(value: Any, event_type: EventType) -> dict[str, Any]:
    """`value` (parsed JSON) as a record of the event type's schema, defaults filled in."""
    raw, parsed = _schema(event_type)
    record: dict[str, Any] = _conform(raw, value, "", {})
    try:
        validate(record, parsed, raise_errors=True)
    except ValidationError as exc:  # _conform should have caught it: report, do not hide
        raise RecordError(f"does not match the {raw['name']} schema: {exc}") from None
    return record


def preview(
    vendor: Vendor[Any], event_type: EventType, record: Mapping[str, Any]
) -> list[HttpRequest]:
    """The requests the engine would send for `record`: one per item unless the vendor batches.

    Raises `MappingError` when the vendor would skip the record.
    """
    return requests_for(vendor, vendor.map(event_type, record))


def requests_for(vendor: Vendor[Any], items: Sequence[Item]) -> list[HttpRequest]:
    """The requests the engine would send for one record's mapped items."""
    if vendor.batches:
        return [vendor.build_request(items)]
    return [vendor.build_request([item]) for item in items]


def render(requests: Sequence[HttpRequest]) -> str:
    """The requests as text: method and URL, headers, pretty JSON body; secrets as ``****``."""
    return "\n\n".join(_render_one(request) for request in requests)


def _render_one(request: HttpRequest) -> str:
    secrets = sorted({secret for secret in request.secrets if secret}, key=len, reverse=True)

    def mask(text: str) -> str:
        for secret in secrets:
            # Also the secret as it appears inside a JSON string (quotes, slashes escaped).
            for form in {secret, orjson.dumps(secret).decode()[1:-1]}:
                text = text.replace(form, MASK)
        return text

    lines = [mask(f"{request.method} {request.url}")]
    for name, value in request.headers.items():
        hidden = name.lower() in MASKED_HEADERS or mask(value) != value
        lines.append(f"{name}: {MASK if hidden else value}")
    try:
        body = orjson.dumps(orjson.loads(request.body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        body = request.body.decode("utf-8", errors="replace")
    return "\n".join([*lines, "", mask(body)])


@cache
def _schema(event_type: EventType) -> tuple[dict[str, Any], Any]:
    """The raw schema (timestamp logical types stripped) and fastavro's parsed form of it."""
    raw = orjson.loads((DEFAULT_SCHEMAS_DIR / SCHEMA_FILES[event_type]).read_bytes())
    raw = _strip_logical_types(raw)
    return raw, parse_schema(copy.deepcopy(raw))


def _strip_logical_types(schema: Any) -> Any:
    """The schema with ``timestamp-millis`` removed, so ``occurred_at`` stays an int."""
    if isinstance(schema, list):
        return [_strip_logical_types(branch) for branch in schema]
    if isinstance(schema, dict):
        return {
            key: _strip_logical_types(value)
            for key, value in schema.items()
            if not (key == "logicalType" and value == "timestamp-millis")
        }
    return schema


def _conform(schema: Any, value: Any, path: str, named: dict[str, Any]) -> Any:
    """`value` checked against `schema`, records' missing optional fields filled in."""
    if isinstance(schema, list):
        branch = next((b for b in schema if _fits(b, value, named)), None)
        if branch is None:
            raise _mismatch(path, _expected(schema, named), value)
        return _conform(branch, value, path, named)
    if isinstance(schema, str) and schema in named:
        return _conform(named[schema], value, path, named)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, dict | list):  # a type written as {"type": {...}}
        return _conform(kind, value, path, named)
    if not _fits(schema, value, named):
        raise _mismatch(path, _expected(schema, named), value)
    if kind == "record":
        _register(schema, named)
        return _conform_record(schema, value, path, named)
    if kind == "array":
        return [
            _conform(schema["items"], item, f"{path}[{index}]", named)
            for index, item in enumerate(value)
        ]
    if kind == "map":
        return {
            key: _conform(schema["values"], item, _join(path, key), named)
            for key, item in value.items()
        }
    if kind == "enum" and value not in schema["symbols"]:
        raise RecordError(f"{path or 'record'}: expected one of {', '.join(schema['symbols'])}")
    if kind in _INT_RANGE and not -_INT_RANGE[kind] <= value < _INT_RANGE[kind]:
        raise _mismatch(path, f"an integer within Avro {kind} range", value)
    if kind in ("float", "double"):
        return float(value)
    return value


def _conform_record(
    schema: Mapping[str, Any], value: Mapping[str, Any], path: str, named: dict[str, Any]
) -> dict[str, Any]:
    fields = {field["name"]: field for field in schema["fields"]}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise RecordError(f"{_join(path, unknown[0])}: unknown field")
    record: dict[str, Any] = {}
    for name, field in fields.items():
        field_path = _join(path, name)
        if name in value:
            record[name] = _conform(field["type"], value[name], field_path, named)
        elif "default" in field:
            record[name] = copy.deepcopy(field["default"])
        else:
            raise RecordError(f"{field_path}: required field is missing")
    return record


def _fits(schema: Any, value: Any, named: dict[str, Any]) -> bool:
    """Whether `value` has the JSON type `schema` asks for (not looking inside it)."""
    if isinstance(schema, list):
        return any(_fits(branch, value, named) for branch in schema)
    if isinstance(schema, str) and schema in named:
        return _fits(named[schema], value, named)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, dict | list):
        return _fits(kind, value, named)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("string", "bytes", "enum"):
        return isinstance(value, str)
    if kind in ("record", "map"):
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return False


def _expected(schema: Any, named: dict[str, Any]) -> str:
    if isinstance(schema, list):  # a union: "a string or null"
        branches = sorted(schema, key=lambda branch: branch == "null")
        return " or ".join(_expected(branch, named) for branch in branches)
    if isinstance(schema, str) and schema in named:
        return _expected(named[schema], named)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, dict | list):
        return _expected(kind, named)
    return _EXPECTED.get(kind, kind)


def _register(schema: Mapping[str, Any], named: dict[str, Any]) -> None:
    """Remember a record type by its name and full name, for later references to it."""
    name = schema["name"]
    named.setdefault(name, schema)
    if "namespace" in schema and "." not in name:
        named.setdefault(f"{schema['namespace']}.{name}", schema)


def _mismatch(path: str, expected: str, value: Any) -> RecordError:
    shown = orjson.dumps(value).decode()
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return RecordError(f"{path or 'record'}: expected {expected}, got {shown}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
