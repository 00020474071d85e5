"""Reporting what is wrong with a configuration, one line per problem: the dotted path of its
field, the message, a suggestion for a misspelt key or vendor, and the environment variable
that set it when an override did.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from bridge.events import DEFAULT_SCHEMAS_DIR, SCHEMA_FILES


def describe(
    errors: Iterable[ErrorDetails],
    model: type[BaseModel],
    prefix: tuple[str | int, ...] = (),
    overrides: Mapping[tuple[str, ...], str] | None = None,
) -> list[str]:
    """One line per error: the dotted path, the message, a suggestion, the variable that set it.

    Only the message and the path: pydantic's `input` could be a secret's value.
    """
    lines = []
    for error in errors:
        loc = (*prefix, *error["loc"])
        message = error["msg"]
        if error["type"] in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
            message = str(error["ctx"]["error"])  # without pydantic's "Value error, " prefix
        if error["type"] == "extra_forbidden":
            message = "unknown key" + did_you_mean(
                str(error["loc"][-1]), _keys_at(model, error["loc"][:-1])
            )
        lines.append(_line(loc, message, overrides))
    return lines


def _line(
    loc: tuple[str | int, ...], message: str, overrides: Mapping[tuple[str, ...], str] | None
) -> str:
    where = ".".join(str(part) for part in loc) or "(top level)"
    source = _override_source(loc, overrides or {})
    return f"{where}: {message}" + (f" (set by {source})" if source else "")


def file_problems(
    raw: Mapping[str, Any], overrides: Mapping[tuple[str, ...], str] | None
) -> list[str]:
    """The files the configuration names that this machine cannot read, one line each."""
    paths: list[tuple[tuple[str, ...], Any]] = []
    schemas_dir = raw.get("schemas_dir", DEFAULT_SCHEMAS_DIR)
    if isinstance(schemas_dir, str | Path):
        paths += [(("schemas_dir",), Path(schemas_dir) / name) for name in SCHEMA_FILES.values()]
    kafka = raw.get("kafka")
    for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
        value = kafka.get(key) if isinstance(kafka, dict) else None
        if isinstance(value, str) and value:
            paths.append((("kafka", key), Path(value)))
    problems: dict[tuple[str, ...], str] = {}  # one line per field, not one per schema
    for loc, path in paths:
        try:
            path.open("rb").close()
        except OSError as exc:
            problems.setdefault(loc, _line(loc, f"cannot read {path}: {exc.strerror}", overrides))
    return list(problems.values())


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'qubit'?)"`` for the closest candidate to a misspelt name, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at `loc` (a path into it), or none when it cannot tell."""
    node: Any = model
    remaining = list(loc)
    while True:
        while get_origin(node) in (Union, UnionType, Annotated):  # Optional, Annotated
            node = next(arg for arg in get_args(node) if arg is not type(None))
        if get_origin(node) in (dict, list):  # a key or an index, then the value's type
            if not remaining:
                return []
            remaining.pop(0)
            node = get_args(node)[-1]
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return []
        if not remaining:
            return [name for name in node.model_fields if not node.model_fields[name].exclude]
        field = node.model_fields.get(str(remaining.pop(0)))
        if field is None:
            return []
        node = field.annotation


def _override_source(
    loc: tuple[str | int, ...], overrides: Mapping[tuple[str, ...], str]
) -> str | None:
    """The environment variable that set `loc` or the mapping it sits in, if one did."""
    path = tuple(str(part) for part in loc)
    for length in range(len(path), 0, -1):
        if path[:length] in overrides:
            return overrides[path[:length]]
    return None
