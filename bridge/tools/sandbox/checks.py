"""Small JSON checks shared by the stand-ins, each collecting readable error messages.

The checks follow JSON's types, not Python's: ``true`` is not a number and ``null`` is not a
string, so a mapper that sends either where a document asks for a number or a string is told.
Messages name the field's path and never quote the field's value, so that an email address
never ends up in an error message.

Each stand-in lists what it enforces as `Rule`s: a rule either cites the line of the vendor's
document it comes from (with the document's own words, which a test finds on that line) or is
marked sandbox-only strictness, saying why. A check in a stand-in names its rule in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

Json = Any
"""A value decoded by orjson: dict, list, str, int, float, bool or None."""

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Country code and subscriber number as digits, optionally after a "+": no spaces, dashes or
# brackets, no national trunk prefix 0; at most 15 digits (E.164), at least 8 (the shortest
# of the eSputnik document's examples, "73456712").
_INTERNATIONAL_PHONE = re.compile(r"\+?[1-9]\d{7,14}")
_MISSING = object()


@dataclass(frozen=True)
class Rule:
    """One thing a stand-in enforces, and where it comes from.

    ``line`` is the 1-based line of the vendor's document and ``words`` the document's words
    on it; ``line`` None marks sandbox-only strictness, with ``words`` saying why.
    """

    name: str
    line: int | None
    words: str
    document: str | None = None
    """Another document than the stand-in's own, e.g. the vendor-docs ``README.md``."""

    @property
    def sandbox_only(self) -> bool:
        return self.line is None


def cite(name: str, line: int, words: str, document: str | None = None) -> Rule:
    """A rule the vendor's document (or `document`) states, at `line`, in `words`."""
    return Rule(name, line, words, document)


def sandbox_only(name: str, why: str) -> Rule:
    """A rule of the sandbox's own, stricter than (or silent in) the document."""
    return Rule(name, None, why)


def miscited(
    rules: Iterable[Rule], document: str, others: Mapping[str, str] | None = None
) -> list[str]:
    """The rules whose words are not on the cited line (whitespace-folded).

    `document` is the text of the stand-in's own document, `others` the texts of the other
    documents rules cite, by name.
    """

    def fold(text: str) -> str:
        return " ".join(text.split())

    wrong: list[str] = []
    for rule in rules:
        if rule.line is None:
            continue
        text = document if rule.document is None else (others or {}).get(rule.document, "")
        lines = text.splitlines()
        if not 1 <= rule.line <= len(lines) or fold(rule.words) not in fold(lines[rule.line - 1]):
            wrong.append(f"{rule.name}: {rule.words!r} is not on line {rule.line}")
    return wrong


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def looks_like_email(value: str) -> bool:
    """One ``@``, something before it, and a dot inside the part after it."""
    if _EMAIL.fullmatch(value) is None:
        return False
    domain = value.rsplit("@", 1)[1]
    return not (domain.startswith(".") or domain.endswith("."))


def is_currency_code(value: str) -> bool:
    """Shape of an ISO 4217 code; whether the code exists is not checked."""
    return _CURRENCY.fullmatch(value) is not None


def is_international_phone(value: str) -> bool:
    """Digits with the country code, as eSputnik's examples write them ("380501234567").

    A leading "+" is allowed (E.164's written form); a national number ("0501234567"), or one
    with spaces, dashes or brackets, is not.
    """
    return _INTERNATIONAL_PHONE.fullmatch(value) is not None


def is_json_content_type(value: str | None) -> bool:
    """``application/json``, with or without parameters such as ``charset``."""
    return value is not None and value.split(";", 1)[0].strip().lower() == "application/json"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def parse_json(raw: bytes | str) -> tuple[bool, Json, str]:
    """``(ok, value, error)``; the error is orjson's message when the text is not JSON."""
    try:
        return True, orjson.loads(raw), ""
    except orjson.JSONDecodeError as exc:
        return False, None, str(exc)


class Check:
    """Collects the problems of one item; each method returns the value when it is valid.

    A method that finds a problem records it and returns None, so a caller can go on checking
    the other fields and report everything wrong with the item at once.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def _present(self, obj: Mapping[str, Any], key: str, at: str, required: bool) -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING and required:
            self.fail(f"missing {join(at, key)}")
        return value

    def _wrong_type(self, path: str, expected: str, value: object) -> None:
        self.fail(f"{path} must be {expected}, got {json_type(value)}")

    def _typed(
        self,
        obj: Mapping[str, Any],
        key: str,
        at: str,
        required: bool,
        accepts: Callable[[Any], bool],
        expected: str,
    ) -> Any:
        """The value if present and of the JSON type `accepts`; else `_MISSING` (reported)."""
        value = self._present(obj, key, at, required)
        if value is _MISSING:
            return _MISSING
        if not accepts(value):
            self._wrong_type(join(at, key), expected, value)
            return _MISSING
        return value

    def string(
        self,
        obj: Mapping[str, Any],
        key: str,
        *,
        at: str = "",
        required: bool = True,
        non_empty: bool = True,
    ) -> str | None:
        value = self._typed(obj, key, at, required, _is_str, "a string")
        if value is _MISSING:
            return None
        if non_empty and not value.strip():
            self.fail(f"{join(at, key)} must not be empty")
            return None
        return str(value)

    def number(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = True
    ) -> float | None:
        value = self._typed(obj, key, at, required, is_number, "a number")
        return None if value is _MISSING else float(value)

    def integer(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = True
    ) -> int | None:
        value = self._typed(obj, key, at, required, is_integer, "an integer")
        return None if value is _MISSING else int(value)

    def flag(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = False
    ) -> int | None:
        """An integer 0 or 1, as documents without a JSON boolean spell yes/no."""
        value = self.integer(obj, key, at=at, required=required)
        if value is not None and value not in (0, 1):
            self.fail(f"{join(at, key)} must be 0 or 1, got {value}")
            return None
        return value

    def obj(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = True
    ) -> dict[str, Any] | None:
        value = self._typed(obj, key, at, required, _is_dict, "an object")
        return None if value is _MISSING else value

    def section(self, obj: Mapping[str, Any], key: str, *, at: str = "") -> dict[str, Any] | None:
        """A required object whose absence is reported through its required fields.

        A missing ``context`` then reads "missing context.id", the field a client has to add.
        """
        if key not in obj:
            return {}
        return self.obj(obj, key, at=at)

    def array(
        self,
        obj: Mapping[str, Any],
        key: str,
        *,
        at: str = "",
        required: bool = True,
        non_empty: bool = False,
    ) -> list[Any] | None:
        value = self._typed(obj, key, at, required, _is_list, "an array")
        if value is _MISSING:
            return None
        if non_empty and not value:
            self.fail(f"{join(at, key)} must not be empty")
            return None
        return list(value)

    def strings(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = True
    ) -> list[str] | None:
        values = self.array(obj, key, at=at, required=required)
        if values is None:
            return None
        before = len(self.errors)
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                self.fail(f"{join(at, key)}[{index}] must be a non-empty string")
        return values if len(self.errors) == before else None

    def objects(
        self,
        obj: Mapping[str, Any],
        key: str,
        *,
        at: str = "",
        required: bool = True,
        non_empty: bool = False,
    ) -> list[tuple[str, dict[str, Any]]]:
        """The array's objects with their paths; elements that are not objects are reported."""
        values = self.array(obj, key, at=at, required=required, non_empty=non_empty)
        found: list[tuple[str, dict[str, Any]]] = []
        for index, value in enumerate(values or ()):
            path = f"{join(at, key)}[{index}]"
            if isinstance(value, dict):
                found.append((path, value))
            else:
                self._wrong_type(path, "an object", value)
        return found

    def email(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = True
    ) -> str | None:
        return self._formatted(
            obj, key, at, required, looks_like_email, "is not a valid email address"
        )

    def currency(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = False
    ) -> str | None:
        return self._formatted(
            obj, key, at, required, is_currency_code, "must be a 3-letter ISO 4217 code such as EUR"
        )

    def phone(
        self, obj: Mapping[str, Any], key: str, *, at: str = "", required: bool = False
    ) -> str | None:
        return self._formatted(
            obj,
            key,
            at,
            required,
            is_international_phone,
            "must be a phone number in the international format,"
            " digits with the country code such as 380501234567",
        )

    def _formatted(
        self,
        obj: Mapping[str, Any],
        key: str,
        at: str,
        required: bool,
        valid: Callable[[str], bool],
        complaint: str,
    ) -> str | None:
        """A string field that must also have a format; the complaint follows its path."""
        value = self.string(obj, key, at=at, required=required)
        if value is not None and not valid(value):
            self.fail(f"{join(at, key)} {complaint}")
            return None
        return value

    def known_keys(
        self,
        obj: Mapping[str, Any],
        allowed: Collection[str],
        *,
        at: str = "",
        extra_prefix: str | None = None,
    ) -> None:
        """Reports every key outside ``allowed`` (or, if given, not starting ``extra_prefix``)."""
        for key in obj:
            if key in allowed:
                continue
            if extra_prefix and key.startswith(extra_prefix) and len(key) > len(extra_prefix):
                continue
            hint = f"; extra fields must start with {extra_prefix}" if extra_prefix else ""
            self.fail(f"unknown field {join(at, key)} (field names are case-sensitive{hint})")


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)
