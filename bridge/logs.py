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
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO

import orjson

from bridge.redaction import REDACTOR, Redactor

if TYPE_CHECKING:
    from bridge.config import LogSettings

LABEL_FIELDS: Final = frozenset({"vendor", "topic", "event", "error_class"})
"""Context the code sets from bounded names (the metric labels), never from data: not scanned."""

DEFAULT_REPEAT_WINDOW_S: Final = 10.0
# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SUMMARY_MARK: Final = "_bridge_repeat_summary"
_SUMMARY_CONTEXT: Final = ("vendor", "event", "topic", "error_class")


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

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
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
