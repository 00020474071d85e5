"""Compiling a mapping (the YAML ``mapping:`` block) against the bridge's schema, once, at
config load: every field named or defaulted, every value a path, header, key or constant, then
``convert`` and ``default``; a mistake is a `MappingSpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping as AnyMapping
from typing import Any

from bridge.mapping.compiled import Accessor, Context, SourceMapping, Use
from bridge.mapping.conversions import CONVERSIONS
from bridge.mapping.errors import MappingSpecError, SourceMappingError
from bridge.mapping.paths import EACH, Segment, getter, parse_path, show_path
from bridge.mapping.target import Target, checker, target_of

SPEC_KEYS = frozenset({"path", "header", "key", "const", "convert", "default"})


_SOURCE_KEYS = ("path", "header", "key", "const")


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

        def build(value: Any, context: Context) -> dict[str, Any]:
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
        get = getter(segments)
        source = f"path {show_path(base)}"

        def build(value: Any, context: Context) -> Any:
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

        def build(value: Any, context: Context) -> dict[str, Any]:
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
        check = checker(target, where, source)
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

            def read(value: Any, context: Context) -> Any:
                found = get(value, context)
                if found.__class__ is fast:
                    return found
                return missing() if found is None else check(found)

            return read

        def read_converted(value: Any, context: Context) -> Any:
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
    ) -> tuple[Callable[[Any, Context], Any], str, tuple[Segment, ...]]:
        if kind == "path":
            rooted, segments = _path_of(spec, f"{where}.path")
            path = segments if rooted else (*scope, *segments)
            read = getter(segments)
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


def _whole(
    get: Callable[[Any, Context], Any],
    check: Callable[[Any], Any],
    target: Target,
    default: Any,
) -> Accessor:
    """A whole array or map read from one path; absent: the default, else empty."""
    empty: Callable[[], Any] = list if target.kind == "array" else dict

    def read(value: Any, context: Context) -> Any:
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
