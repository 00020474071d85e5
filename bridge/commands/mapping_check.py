"""`bridge check-config`: each source topic's mapping against the source's schema.

The schema is the topic's `avro_schema` file, its `json_schema` file, or, for a Confluent
topic, the registry's latest schema of its subject (`subject`, default ``<name>-value``; a
pattern needs `subject`). Every path the mapping reads must exist in it, and the type found
there must become the event field's type through the mapping's conversions. Each problem is
one line: ``FILE:LINE: topics.orders[0].mapping.total: ...`` naming the schema field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bridge.config import Config, TopicSettings
from bridge.errors import DecodeError
from bridge.events import EventType
from bridge.kafka.registry import Registry, RegistryUnavailableError, WriterSchema
from bridge.mapping import CONVERSIONS, EACH, Segment, Target, Use, show_path, target_kind

_AVRO_KINDS = {
    "string": "string",
    "enum": "string",
    "int": "number",
    "long": "number",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "record": "record",
    "map": "map",
    "array": "array",
    "bytes": "bytes",
    "fixed": "bytes",
}
_JSON_KINDS = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "object": "record",
    "array": "array",
}
_FIELD = {"record": "a record", "map": "a map", "array": "an array"}


class _PathError(Exception):
    """A path leaves the schema: the message names the schema field."""


def check_mappings(config: Config, config_file: Path) -> tuple[list[str], list[str]]:
    """(every problem found, the mappings that could not be checked), one line each.

    A topic whose schema is not known (no file, no registry) is not checked, silently.
    """
    lines = _Lines(config_file)
    problems: list[str] = []
    unchecked: list[str] = []
    for kind, index, source in _sources(config):
        if source.compiled_mapping is None:
            continue
        where = f"topics.{_KEY[kind]}[{index}]"
        try:
            schema = _source_schema(config, source)
        except (DecodeError, RegistryUnavailableError) as exc:
            unchecked.append(f"{lines.at(where, 'mapping')}: {where}: not checked: {exc}")
            continue
        if schema is None:
            continue
        for use in source.compiled_mapping.uses:
            problem = _check(schema, use)
            if problem:
                line = lines.at(where, "mapping", *use.where.split("."))
                problems.append(f"{line}: {where}.mapping.{use.where}: {problem}")
    return problems, unchecked


_KEY = {EventType.ORDER: "orders", EventType.PRODUCT_VIEW: "product_views"}


def _sources(config: Config) -> Iterator[tuple[EventType, int, TopicSettings]]:
    for kind, sources in (
        (EventType.ORDER, config.topics.orders),
        (EventType.PRODUCT_VIEW, config.topics.product_views),
    ):
        for index, source in enumerate(sources):
            yield kind, index, source


def _source_schema(config: Config, source: TopicSettings) -> _Schema | None:
    if source.json_schema_json is not None:
        return _JsonSchema(source.json_schema_json)
    if source.avro_schema_json is not None:
        return _AvroSchema(WriterSchema(source.avro_schema_json))
    if source.format != "confluent" or config.kafka.schema_registry_url is None:
        return None
    subject = source.subject or (None if source.is_pattern else f"{source.name}-value")
    if subject is None:
        return None

    async def latest() -> WriterSchema:
        async with Registry(config.kafka) as registry:
            return await registry.latest(subject)

    return _AvroSchema(asyncio.run(latest()))


def _check(schema: _Schema, use: Use) -> str | None:
    if use.source != "path":
        return None
    shown = show_path(use.path)
    try:
        kinds = schema.kinds(use.path)
    except _PathError as exc:
        return f"path {shown}: {exc}"
    kinds.discard("null")
    if not kinds:
        return None
    wanted = target_kind(use.target)
    for name in use.converts:
        conversion = CONVERSIONS[name]
        if not kinds & conversion.takes:
            return (
                f"path {shown} is {_a(kinds)} in the source; convert {name} takes "
                f"{_a(set(conversion.takes))}"
            )
        kinds = {conversion.gives}
    if wanted in kinds or (wanted == "map" and "record" in kinds):
        return None
    hint = {"number": "number", "string": "string", "boolean": "boolean"}.get(wanted)
    advice = f": add convert: {hint}" if hint and kinds <= {"string", "number", "boolean"} else ""
    return (
        f"path {shown} is {_a(kinds)} in the source; the event field takes "
        f"{_describe_target(use.target)}{advice}"
    )


def _describe_target(target: Target) -> str:
    return _FIELD.get(target.kind, target.kind)


def _a(kinds: set[str]) -> str:
    return " or ".join(sorted(_FIELD.get(kind, f"a {kind}") for kind in kinds))


class _Schema:
    def kinds(self, path: tuple[Segment, ...]) -> set[str]:
        raise NotImplementedError


class _AvroSchema(_Schema):
    def __init__(self, writer: WriterSchema) -> None:
        self._named: dict[str, Any] = {}
        for schema in (*writer.references, writer.schema):
            self._register(schema, None)
        self._root = writer.schema

    def _register(self, node: Any, namespace: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                self._register(branch, namespace)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "enum", "fixed", "error"):
                namespace = node.get("namespace", namespace)
                name = node["name"]
                full = name if "." in name or not namespace else f"{namespace}.{name}"
                self._named[full] = node
                self._named.setdefault(name, node)
            for field in node.get("fields", ()):
                self._register(field["type"], namespace)
            for key in ("type", "items", "values"):
                if isinstance(node.get(key), dict | list):
                    self._register(node[key], namespace)

    def _resolve(self, node: Any) -> list[Any]:
        if isinstance(node, list):
            return [kind for branch in node for kind in self._resolve(branch)]
        if isinstance(node, str):
            return (
                [node]
                if node in _AVRO_KINDS or node == "null"
                else self._resolve(self._named.get(node, node))
            )
        if isinstance(node.get("type"), dict | list):
            return self._resolve(node["type"])
        return [node]

    def kinds(self, path: tuple[Segment, ...]) -> set[str]:
        nodes = self._resolve(self._root)
        walked = ""
        for segment in path:
            following: list[Any] = []
            for node in nodes:
                kind = node if isinstance(node, str) else node["type"]
                if kind == "record" and isinstance(segment, str):
                    fields = {field["name"]: field for field in node["fields"]}
                    if segment in fields:
                        following += self._resolve(fields[segment]["type"])
                elif kind == "map" and isinstance(segment, str):
                    following += self._resolve(node["values"])
                elif kind == "array" and (segment == EACH or isinstance(segment, int)):
                    following += self._resolve(node["items"])
            if not following:
                raise _PathError(self._missing(nodes, segment, walked))
            nodes = [node for node in following if node != "null"] or following
            walked = f"{walked}.{segment}" if walked else str(segment)
        return {
            _AVRO_KINDS.get(node if isinstance(node, str) else node["type"], "null")
            for node in nodes
        }

    @staticmethod
    def _missing(nodes: list[Any], segment: Segment, walked: str) -> str:
        records = [node for node in nodes if isinstance(node, dict) and node["type"] == "record"]
        if records and isinstance(segment, str):
            record = records[0]
            fields = ", ".join(field["name"] for field in record["fields"])
            return f"{record['name']} has no field {segment!r} (fields: {fields})"
        kinds = {node if isinstance(node, str) else node["type"] for node in nodes}
        return f"{walked or 'the record'} is {' or '.join(sorted(kinds))}; cannot read {segment!r}"


class _JsonSchema(_Schema):
    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema

    def kinds(self, path: tuple[Segment, ...]) -> set[str]:
        node = self._root
        walked = ""
        for segment in path:
            if "$ref" in node or not ({"type", "properties", "items"} & set(node)):
                return set()  # not described further: nothing to check
            types = _json_types(node)
            if isinstance(segment, str) and segment != EACH and "object" in types:
                properties = node.get("properties", {})
                if segment in properties:
                    node = properties[segment]
                elif isinstance(node.get("additionalProperties"), dict):
                    node = node["additionalProperties"]
                elif node.get("additionalProperties", True) is not False and not properties:
                    return set()
                else:
                    names = ", ".join(properties)
                    raise _PathError(
                        f"{walked or 'the record'} has no property {segment!r} "
                        f"(properties: {names})"
                    )
            elif (segment == EACH or isinstance(segment, int)) and "array" in types:
                node = node.get("items", {})
            else:
                raise _PathError(
                    f"{walked or 'the record'} is {' or '.join(sorted(types))}; "
                    f"cannot read {segment!r}"
                )
            walked = f"{walked}.{segment}" if walked else str(segment)
        return (
            {_JSON_KINDS.get(kind, "null") for kind in _json_types(node)}
            if ("type" in node)
            else set()
        )


def _json_types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if kind is None:
        return {"object"} if "properties" in node else {"array"} if "items" in node else set()
    return set(kind) if isinstance(kind, list) else {kind}


class _Lines:
    """The line of a configuration key, from the YAML file's node tree."""

    def __init__(self, path: Path) -> None:
        self._file = path
        try:
            self._root: Any = yaml.compose(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            self._root = None

    def at(self, where: str, *keys: str) -> str:
        head, rest = where.split(".", 1)
        section, index = rest.rstrip("]").split("[")
        steps: list[str | int] = [head, section, int(index), *keys]
        node, line = self._root, 0
        for step in steps:
            if isinstance(node, yaml.MappingNode) and step == 0:
                continue  # one block written without a list
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                child = node.value[step] if step < len(node.value) else None
            else:
                child = None
            if child is None:
                break
            node, line = child, child.start_mark.line + 1
        return f"{self._file}:{line}" if line else str(self._file)
