"""Mapping a retailer's own records onto the bridge's events: a small declarative language.

A source topic in the retailer's schema declares, in the YAML config, how each field of the
bridge's `Order` or `ProductView` (schemas/) is found in its records. `compile_mapping` turns
that declaration into accessors once, at config load; `SourceMapping.apply` then builds one event
per record without parsing anything. Pure: no I/O, no clock, no code from the config is run.

```yaml
mapping:
  order_id: orderNumber                       # a path: dotted names, [2], ["key.with.dots"]
  occurred_at: {path: createdAt, convert: iso8601}
  currency: {path: currency, default: EUR}
  total: {path: totals.grandTotalCents, convert: cents}
  customer:                                   # a record: its fields, each a value
    email: {path: billing.email, convert: email}
  visitor_id: {header: x-qubit-id}            # a Kafka header (UTF-8)
  event_id: {key: true}                       # the record key (UTF-8)
  channel: {const: web}
  vendor_ids: {qubit: tracking.qubitId}       # a map: its keys, each a value ...
  attributes: {path: extra}                   # ... or a path to a map of strings
  items:                                      # an array of records: one per source element
    each: lineItems
    fields: {product_id: sku, quantity: qty, price: {path: unitPrice, convert: cents}}
  coupons: {each: discounts, value: code}     # an array of strings (or a path to one)
```

Inside ``each``, paths start at the element; ``$.name`` starts at the record's root. A value
is a path, header, key or constant, then ``convert`` (one name or a list, applied in order;
`CONVERSIONS`) and ``default``. A source value that is absent or null is missing: the default
is used, else null where the field is optional, else the record cannot be mapped. A field
of the event the mapping does not name takes the schema's default; one without a default
must be named.

A record the mapping cannot handle raises `SourceMappingError` with the event field, where it
was read from and a short reason, never the value itself (it may be personal data).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bridge.errors import DecodeError

Segment = str | int
"""A step of a path: a record field or map key (str), a list index (int)."""
EACH = "[]"
"""The segment standing for every element of an array, in `Use.path`."""

SPEC_KEYS = frozenset({"path", "header", "key", "const", "convert", "default"})
_SOURCE_KEYS = ("path", "header", "key", "const")


class MappingSpecError(ValueError):
    """The mapping as written is invalid; the message starts with the field it concerns."""


class SourceMappingError(DecodeError):
    """One record cannot be mapped: `where` (the event field), `source`, `reason` (a code)."""

    def __init__(self, where: str, source: str, reason: str, detail: str) -> None:
        super().__init__(reason, f"{where} <- {source}: {detail}")
        self.where = where
        self.source = source


# -- conversions -------------------------------------------------------------------------------


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


def _string(value: Any) -> str:
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
    "string": Conversion(_string, frozenset({"string", "number", "boolean"}), "string"),
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


# -- paths -------------------------------------------------------------------------------------

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


def _getter(segments: tuple[Segment, ...]) -> Callable[[Any], Any]:
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


# -- the target (the bridge's own schema) ------------------------------------------------------


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


# -- compiling ---------------------------------------------------------------------------------


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


class _Context:
    """What a value may be read from, besides the record: built once per record."""

    __slots__ = ("_headers", "key", "raw_headers", "root")

    def __init__(self, root: Any, key: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self.root = root
        self.key = key
        self.raw_headers = headers
        self._headers: dict[str, bytes] | None = None

    def header(self, name: str) -> bytes | None:
        if self._headers is None:
            self._headers = {k: v for k, v in self.raw_headers if v is not None}
        return self._headers.get(name)


Accessor = Callable[[Any, _Context], Any]
"""(the current scope: the record or an array element, the context) -> the value."""


@dataclass
class SourceMapping:
    """A compiled mapping: `apply(record, key, headers)` -> the event."""

    event: Accessor
    uses: list[Use] = field(default_factory=list)

    def apply(
        self, record: Any, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> dict[str, Any]:
        """The event for `record`; raises `SourceMappingError`."""
        if not isinstance(record, dict):
            raise SourceMappingError("(record)", "(value)", "wrong_type", "not an object")
        event: dict[str, Any] = self.event(record, _Context(record, key, headers or []))
        return event


def compile_mapping(spec: Any, schema: dict[str, Any]) -> SourceMapping:
    """Compile `spec` (the YAML ``mapping:`` block) for the bridge's record `schema`."""
    if not isinstance(spec, AnyMapping):
        raise MappingSpecError("mapping: expected a mapping of the event's fields")
    compiler = _Compiler()
    event = compiler.record(spec, target_of(schema), "", ())
    return SourceMapping(event, compiler.uses)


class _Compiler:
    def __init__(self) -> None:
        self.uses: list[Use] = []

    def node(self, spec: Any, target: Target, where: str, scope: tuple[Segment, ...]) -> Accessor:
        if target.kind == "record":
            if not isinstance(spec, AnyMapping):
                raise MappingSpecError(f"{where}: a record: expected a mapping of its fields")
            return self.record(spec, target, where, scope)
        if target.kind == "array" and isinstance(spec, AnyMapping) and "each" in spec:
            return self.each(spec, target, where, scope)
        if target.kind == "map" and isinstance(spec, AnyMapping) and not _is_value(spec):
            return self.entries(spec, target, where, scope)
        return self.value(spec, target, where, scope)

    def record(
        self,
        spec: AnyMapping[str, Any],
        target: Target,
        where: str,
        scope: tuple[Segment, ...],
    ) -> Accessor:
        known = {name for name, *_ in target.fields}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise MappingSpecError(
                f"{_join(where, str(unknown[0]))}: {target.name} has no such field; "
                f"its fields: {', '.join(sorted(known))}"
            )
        parts: list[tuple[str, Accessor]] = []
        for name, child, has_default, default in target.fields:
            path = _join(where, name)
            if name in spec:
                parts.append((name, self.node(spec[name], child, path, scope)))
            elif has_default:
                parts.append((name, _constant(default)))
            else:
                raise MappingSpecError(f"{path}: required by {target.name}; map it")

        def build(value: Any, context: _Context) -> dict[str, Any]:
            return {name: part(value, context) for name, part in parts}

        return build

    def each(
        self,
        spec: AnyMapping[str, Any],
        target: Target,
        where: str,
        scope: tuple[Segment, ...],
    ) -> Accessor:
        assert target.items is not None
        extra = sorted(set(spec) - {"each", "fields", "value"})
        if extra:
            raise MappingSpecError(f"{where}.{extra[0]}: not a key of each (each, fields, value)")
        rooted, segments = _path_of(spec["each"], f"{where}.each")
        base = segments if rooted else (*scope, *segments)
        element_scope = (*base, EACH)
        key = "fields" if target.items.kind == "record" else "value"
        if key not in spec:
            raise MappingSpecError(f"{where}: each needs {key!r} (the element's {key})")
        self.uses.append(Use(where, "path", base, (), Target("array")))
        element = self.node(spec[key], target.items, f"{where}.{key}", element_scope)
        get = _getter(segments)
        source = f"path {show_path(base)}"

        def build(value: Any, context: _Context) -> Any:
            elements = get(context.root if rooted else value)
            if elements is None:
                return []  # every array of the bridge's schemas defaults to empty
            if elements.__class__ is not list:
                raise SourceMappingError(where, source, "wrong_type", "not a list")
            return [element(item, context) for item in elements]

        return build

    def entries(
        self,
        spec: AnyMapping[str, Any],
        target: Target,
        where: str,
        scope: tuple[Segment, ...],
    ) -> Accessor:
        assert target.items is not None
        optional = dataclasses.replace(target.items, nullable=True)
        parts = [
            (str(name), self.value(child, optional, f"{where}.{name}", scope))
            for name, child in spec.items()
        ]

        def build(value: Any, context: _Context) -> dict[str, Any]:
            found = {}
            for name, part in parts:
                item = part(value, context)
                if item is not None:
                    found[name] = item
            return found

        return build

    def value(self, spec: Any, target: Target, where: str, scope: tuple[Segment, ...]) -> Accessor:
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, AnyMapping) or not _is_value(spec):
            raise MappingSpecError(
                f"{where}: expected a path or a mapping with one of {', '.join(_SOURCE_KEYS)}"
            )
        unknown = sorted(set(spec) - SPEC_KEYS)
        if unknown:
            raise MappingSpecError(f"{where}.{unknown[0]}: unknown; expected {sorted(SPEC_KEYS)}")
        sources = [key for key in _SOURCE_KEYS if key in spec]
        if len(sources) != 1:
            raise MappingSpecError(f"{where}: give exactly one of {', '.join(_SOURCE_KEYS)}")
        converts = _conversions(spec.get("convert"), where)
        kind = sources[0]
        get, source, path = self._source(kind, spec[kind], where, scope)
        self.uses.append(Use(where, kind, path, tuple(name for name, _ in converts), target))
        check = _checker(target, where, source)
        has_default = "default" in spec
        default = check(spec["default"]) if has_default else None
        if kind == "const":
            return _constant(check(_convert(converts, spec["const"], where)))
        if target.kind in ("array", "map"):
            return _whole(get, check, target, default if has_default else None)
        fast = _FAST.get(target.kind)
        functions = tuple(fn for _, fn in converts)
        nullable = target.nullable

        def missing() -> Any:
            if has_default:
                return default
            if nullable:
                return None
            raise SourceMappingError(where, source, "missing_value", "required, absent")

        if not functions:

            def read(value: Any, context: _Context) -> Any:
                found = get(value, context)
                if found.__class__ is fast:
                    return found
                return missing() if found is None else check(found)

            return read

        def read_converted(value: Any, context: _Context) -> Any:
            found = get(value, context)
            if found is None:
                return missing()
            try:
                for fn in functions:
                    found = fn(found)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise SourceMappingError(
                    where, source, "unconvertible", f"cannot convert: {type(exc).__name__}"
                ) from None
            if found.__class__ is fast:
                return found
            return missing() if found is None else check(found)

        return read_converted

    def _source(
        self, kind: str, spec: Any, where: str, scope: tuple[Segment, ...]
    ) -> tuple[Callable[[Any, _Context], Any], str, tuple[Segment, ...]]:
        if kind == "path":
            rooted, segments = _path_of(spec, f"{where}.path")
            path = segments if rooted else (*scope, *segments)
            read = _getter(segments)
            if rooted:
                return (lambda value, context: read(context.root)), f"path {show_path(path)}", path
            return (lambda value, context: read(value)), f"path {show_path(path)}", path
        if kind == "header":
            if not isinstance(spec, str) or not spec:
                raise MappingSpecError(f"{where}.header: expected a header name")
            name = spec
            return (lambda value, context: _utf8(context.header(name))), f"header {name}", ()
        if kind == "key":
            if spec is not True:
                raise MappingSpecError(f"{where}.key: write key: true")
            return (lambda value, context: _utf8(context.key)), "the record key", ()
        return (lambda value, context: spec), "a constant", ()


def _is_value(spec: AnyMapping[str, Any]) -> bool:
    return any(key in spec for key in _SOURCE_KEYS)


def _path_of(spec: Any, where: str) -> tuple[bool, tuple[Segment, ...]]:
    try:
        return parse_path(spec)
    except MappingSpecError as exc:
        raise MappingSpecError(f"{where}: {exc}") from None


def _conversions(spec: Any, where: str) -> list[tuple[str, Callable[[Any], Any]]]:
    names = [] if spec is None else [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise MappingSpecError(f"{where}.convert: expected a conversion name or a list of them")
    unknown = [name for name in names if name not in CONVERSIONS]
    if unknown:
        raise MappingSpecError(
            f"{where}.convert: unknown conversion {unknown[0]!r}; known: {', '.join(CONVERSIONS)}"
        )
    return [(name, CONVERSIONS[name].fn) for name in names]


def _convert(converts: list[tuple[str, Callable[[Any], Any]]], value: Any, where: str) -> Any:
    try:
        for _, fn in converts:
            value = fn(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise MappingSpecError(f"{where}: the constant cannot be converted: {exc}") from None
    return value


def _utf8(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd"  # caught by the conversions or delivered as an unreadable marker


_FAST: dict[str, type] = {"string": str, "double": float, "long": int, "int": int, "boolean": bool}
_INT_RANGE = {"int": 2**31, "long": 2**63}


def _checker(target: Target, where: str, source: str) -> Callable[[Any], Any]:
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
                item = _checker(target.items, where, source)
                return [item(element) for element in value if element is not None]
            raise fail("a list", value)
        if kind == "map":
            if isinstance(value, dict):
                return {
                    str(key): _string(entry) for key, entry in value.items() if entry is not None
                }
            raise fail("an object", value)
        raise fail(kind, value)

    return check


def _whole(
    get: Callable[[Any, _Context], Any],
    check: Callable[[Any], Any],
    target: Target,
    default: Any,
) -> Accessor:
    """A whole array or map read from one path; absent: the default, else empty."""
    empty: Callable[[], Any] = list if target.kind == "array" else dict

    def read(value: Any, context: _Context) -> Any:
        found = get(value, context)
        if found is not None:
            return check(found)
        if default is not None:
            return check(default)
        return None if target.nullable else empty()

    return read


def _constant(value: Any) -> Accessor:
    if isinstance(value, list | dict):
        # A fresh copy per event: nothing downstream may share (and change) one.
        factory = list if isinstance(value, list) else dict
        return lambda scope, context: factory(value)
    return lambda scope, context: value


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
