"""Logging for the bridge: JSON lines (or text), redaction, and a limit on repeated errors.

`configure_logging` is called once, by the CLI. It installs one handler on the root logger;
every record reaching that handler passes two filters, in this order:

1. `RepeatLimiter`: the same warning or error (same logger, ``event`` and ``vendor``) logged
   again and again is written once, then at most one summary line per window (10 s by
   default) whose ``count`` is the number of records left out. A vendor that is down for an
   hour costs a few hundred lines, not millions.
2. `RedactionFilter`: the last line of defence against personal data and secrets in logs.
   It masks e-mail addresses, phone-number-like digit runs, the values of credential keys
   (``Authorization``, ``X-AUTH-APIKEY``, ``api_key``, ``password``, ``client_key``, ...),
   Basic and Bearer tokens and every secret registered with `register_secret`, in the
   message (after its ``%`` arguments are applied), in string ``extra`` fields and in the
   exception text. The code should never log such data in the first place; this filter is
   for the time it does.

Context goes in ``extra=``: ``vendor``, ``topic``, ``partition``, ``offset``, ``event`` (a short
event name such as ``delivery_failed``), ``error_class``, ``status``, ``count``. Numbers are
kept as numbers and are not scanned; only strings are redacted, so an offset belongs in
``extra`` rather than in the message text, where a run of 7 or more digits reads as a phone
number and is masked.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO

import orjson

if TYPE_CHECKING:
    from bridge.config import LogSettings

LABEL_FIELDS: Final = frozenset({"vendor", "topic", "event", "error_class"})
"""Context the code sets from bounded names (the metric labels), never from data: not scanned."""

DEFAULT_REPEAT_WINDOW_S: Final = 10.0
MASK: Final = "***"
MIN_SECRET_CHARS: Final = 4
"""Shorter registered secrets are ignored: masking every 'abc' would garble the logs, and a
secret that short protects nothing anyway."""

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SUMMARY_MARK: Final = "_bridge_repeat_summary"
_SUMMARY_CONTEXT: Final = ("vendor", "event", "topic", "error_class")

_KEY_VALUE: Final = re.compile(
    r"(?P<key>(?i:x-auth-apikey|authorization|api[_-]?key|passw(?:or)?d"
    r"|client[_-]?(?:key|secret))\b)"
    # `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`, and JSON escaped once.
    r"(?P<sep>(?:\\?[\"'])?\s*[:=]\s*)"
    r"(?P<value>\\?\"[^\"\\]*(?:\\?\")|'[^']*'"
    r"|(?:(?i:basic|bearer)\s+)?[^\s\"',;&)}\]\\]+)"
)
_NOTHING: Final = re.compile(r"(?!)")
_QUOTE: Final = re.compile(r"^\\?[\"']?")
# A token must hold a capital or a digit, so prose such as "basic validation" stays readable.
_AUTH_TOKEN: Final = re.compile(
    r"(?P<scheme>\b(?i:basic|bearer))\s+(?=[\w.~+/-]*[A-Z0-9])[\w.~+/-]{6,}=*"
)
_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# 7+ digits with an optional leading + and single spaces or dashes between them; not part of
# a word, a decimal number, a UUID or an ISO date.
_PHONE: Final = re.compile(r"(?<![\w.+-])(?!\d{4}-\d\d-\d\d)\+?\d(?:[ -]?\d){6,}(?!\w|\.\d)")
# A much cheaper scan that every phone number matches; most lines with digits fail it.
_SEVEN_DIGITS: Final = re.compile(r"\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d")


def _names_a_credential(lower: str) -> bool:
    # Substrings of every key `_KEY_VALUE` knows; four `in` tests cost less than its search.
    return "auth" in lower or "api" in lower or "passw" in lower or "client" in lower


def _mask_value(match: re.Match[str]) -> str:
    quote = _QUOTE.match(match["value"])
    opening = quote.group() if quote else ""
    return f"{match['key']}{match['sep']}{opening}{MASK}{opening}"


def _mask_token(match: re.Match[str]) -> str:
    return f"{match['scheme']} {MASK}"


class Redactor:
    """Masks personal data and secrets in text.

    Each pattern runs only when the text holds what that pattern cannot match without (``@``
    for an e-mail, a run of seven digits for a phone number, a credential word next to ``:``
    or ``=``, a registered secret), so a typical line pays a few substring tests and at most
    one cheap scan, not five regex passes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Replaced whole, never mutated: `redact` reads it from any thread without the lock.
        self._secrets: tuple[tuple[str, ...], re.Pattern[str]] = ((), _NOTHING)

    def register(self, value: str) -> None:
        """Mask `value` wherever it appears from now on (called for each resolved secret)."""
        if len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            values = tuple(sorted({*self._secrets[0], value}, key=len, reverse=True))
            self._secrets = (values, re.compile("|".join(map(re.escape, values))))

    def clear(self) -> None:
        with self._lock:
            self._secrets = ((), _NOTHING)

    def redact(self, text: str) -> str:
        values, secrets = self._secrets
        for value in values:
            if value in text:
                text = secrets.sub(MASK, text)
                break
        if ("=" in text or ":" in text) and _names_a_credential(text.lower()):
            text = _KEY_VALUE.sub(_mask_value, text)
        if "earer" in text or "asic" in text or "EARER" in text or "ASIC" in text:
            text = _AUTH_TOKEN.sub(_mask_token, text)
        if "@" in text:
            text = _EMAIL.sub("<email>", text)
        if _SEVEN_DIGITS.search(text):
            text = _PHONE.sub("<phone>", text)
        return text

    def redact_value(self, value: object) -> object:
        """Redact the strings inside an `extra` value; numbers and booleans stay as they are."""
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, int | float):
            return value
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item) for item in value]
        return self.redact(str(value))


_REDACTOR: Final = Redactor()


def register_secret(value: str) -> None:
    """Mask this secret in every log line; the config loader calls it for each secret."""
    _REDACTOR.register(value)


def clear_secrets() -> None:
    """Forget every registered secret (tests; a reloaded configuration)."""
    _REDACTOR.clear()


def redact(text: str) -> str:
    """The text as the log would show it."""
    return _REDACTOR.redact(text)


def _format_exception(record: logging.LogRecord, formatter: logging.Formatter) -> str | None:
    """The record's traceback text, formatted once and kept in ``exc_text`` (as logging does)."""
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text


def extra_fields(record: logging.LogRecord) -> list[str]:
    """Names of the `extra=` attributes of a record, in the order they were given."""
    return [name for name in record.__dict__ if name not in _RECORD_ATTRIBUTES and name[0] != "_"]


class RedactionFilter(logging.Filter):
    """Rewrites a record in place, so no handler can write what it masks.

    The message is formatted once here (``msg % args``) and the record keeps only the result,
    so the arguments are covered too; string `extra` fields, the exception text and the stack
    are redacted as well.

    Cost: see `Redactor`; each pattern runs only on text that could hold what it masks.
    """

    def __init__(self, redactor: Redactor = _REDACTOR) -> None:
        super().__init__()
        self._redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must neither lose the line nor raise here
            message = f"{record.msg} {record.args!r}"
        record.msg = redactor.redact(message)
        record.args = None
        attributes = record.__dict__
        for name in extra_fields(record):
            if name not in LABEL_FIELDS:
                attributes[name] = redactor.redact_value(attributes[name])
        exception = _format_exception(record, self._formatter)
        if exception:
            record.exc_text = redactor.redact(exception)
        if record.stack_info:
            record.stack_info = redactor.redact(record.stack_info)
        return True


@dataclass(slots=True)
class _Window:
    """One (logger, event, vendor) key: where the window's first line came from, the count."""

    ends: float
    label: str
    origin: tuple[str, int, str, int, str | None]
    """name, level, path, line and function of the first record (not the record itself:
    that would keep its traceback and arguments alive for the whole window)."""
    context: dict[str, object]
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """Writes a repeated warning or error once, then one summary line per window.

    The first record of a key (logger, ``event`` — or the format string when there is no
    event — and ``vendor``) opens a window of `window_s`; records of the same key inside it
    are counted, not written. A window that ends with records counted yields one summary
    line (same logger, level, ``event`` and ``vendor``; ``count`` = records left out) and the
    next window follows on directly, so a flood costs one line per window. A window that
    ends with nothing counted is forgotten: the next occurrence is written in full again.

    Windows are closed lazily: on the next record to reach the handler (any key, any level:
    a clock read and a comparison) and on `flush()`, which the handler calls when logging
    shuts down, so a count is never lost.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        window_s: float = DEFAULT_REPEAT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        min_level: int = logging.WARNING,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._window_s = window_s
        self._clock = clock
        self._min_level = min_level
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._next_due = float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        due = self._close_windows(now) if now >= self._next_due else []
        keep = True
        if record.levelno >= self._min_level and _SUMMARY_MARK not in record.__dict__:
            keep = self._admit(record, now)
        for summary in due:  # before the record itself, so the lines stay in order
            self._emit(summary)
        return keep

    def flush(self) -> None:
        """Write the summary of every window that has records counted, now."""
        for summary in self._close_windows(float("inf")):
            self._emit(summary)

    def _admit(self, record: logging.LogRecord, now: float) -> bool:
        attributes = record.__dict__
        event = attributes.get("event")
        label = str(event) if event is not None else str(record.msg)
        key = (record.name, label, str(attributes.get("vendor", "")))
        with self._lock:
            window = self._windows.get(key)
            if window is not None:
                window.suppressed += 1
                return False
            self._windows[key] = _Window(
                ends=now + self._window_s,
                label=label,
                origin=(
                    record.name,
                    record.levelno,
                    record.pathname,
                    record.lineno,
                    record.funcName,
                ),
                context={name: attributes[name] for name in _SUMMARY_CONTEXT if name in attributes},
            )
            self._next_due = min(self._next_due, now + self._window_s)
        return True

    def _close_windows(self, now: float) -> list[logging.LogRecord]:
        summaries = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if window.ends > now:
                    continue
                if window.suppressed:
                    summaries.append(self._summary(window))
                    window.suppressed = 0
                    window.ends += self._window_s
                if window.ends <= now:
                    del self._windows[key]
            self._next_due = min((w.ends for w in self._windows.values()), default=float("inf"))
        return summaries

    def _summary(self, window: _Window) -> logging.LogRecord:
        name, level, path, line, function = window.origin
        summary = logging.LogRecord(
            name,
            level,
            path,
            line,
            "%s: %d more like this were not logged (repeats are logged once per %g s)",
            (window.label, window.suppressed, self._window_s),
            None,
            function,
        )
        summary.__dict__.update(window.context)
        summary.__dict__["count"] = window.suppressed
        summary.__dict__[_SUMMARY_MARK] = True
        return summary


def _timestamp(record: logging.LogRecord) -> str:
    """ISO-8601 UTC with milliseconds: 2024-05-01T12:00:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
        f".{int(record.msecs):03d}Z"
    )


def _exception_text(record: logging.LogRecord, formatter: logging.Formatter) -> str | None:
    _format_exception(record, formatter)
    parts = [text for text in (record.exc_text, record.stack_info) if text]
    return "\n".join(parts) if parts else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attributes = record.__dict__
        for name in extra_fields(record):
            document[name] = attributes[name]
        exception = _exception_text(record, self)
        if exception:
            document["exception"] = exception
        try:
            # default=str: an odd `extra` value is written as its text rather than failing.
            return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson cannot write even so (an int beyond 64 bits)
            return orjson.dumps({key: str(value) for key, value in document.items()}).decode()


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message key=value ...`` then the traceback, for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        attributes = record.__dict__
        context = " ".join(f"{name}={attributes[name]}" for name in extra_fields(record))
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if context:
            line = f"{line} {context}"
        exception = _exception_text(record, self)
        return f"{line}\n{exception}" if exception else line


class _BridgeHandler(logging.StreamHandler[TextIO]):
    """The stream handler with the two filters; closing it writes the pending summaries."""

    def __init__(self, stream: TextIO, window_s: float, clock: Callable[[], float]) -> None:
        super().__init__(stream)
        self.limiter = RepeatLimiter(self.handle, window_s=window_s, clock=clock)
        self.addFilter(self.limiter)
        self.addFilter(RedactionFilter())

    def close(self) -> None:
        self.limiter.flush()
        super().close()


_installed: _BridgeHandler | None = None


def configure_logging(
    settings: LogSettings,
    stream: TextIO | None = None,
    *,
    repeat_window_s: float = DEFAULT_REPEAT_WINDOW_S,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Send every log record to `stream` as JSON lines or text, redacted and rate limited.

    `stream` None means sys.stdout as it is at the call, not at import: under pytest's
    capture, an import-time sys.stdout is a buffer that is closed by the time logging runs.
    Replaces the handler a previous call installed, so calling it again (tests) is safe.
    """
    global _installed
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
        _installed.close()
    handler = _BridgeHandler(sys.stdout if stream is None else stream, repeat_window_s, clock)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.level)
    _installed = handler
