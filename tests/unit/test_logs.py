"""bridge.logs: JSON and text lines, redaction, and the limit on repeated errors."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson
import pytest

from bridge.config import LogSettings
from bridge.logs import RedactionFilter, configure_logging
from bridge.redaction import clear_secrets, redact, register_secret

SECRET = "s3cr3t-Value-42"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Output:
    """What the configured handler wrote, as text or as parsed JSON lines."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def configure(clock: FakeClock) -> Iterator[Callable[..., Output]]:
    """configure_logging into a fresh buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(
        fmt: Literal["json", "text"] = "json",
        level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
    ) -> Output:
        output = Output()
        configure_logging(LogSettings(format=fmt, level=level), output.stream, clock=clock)
        return output

    yield configure
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    clear_secrets()


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("bridge.pipeline")


def test_json_line_has_the_documented_shape(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    log.warning(
        "delivery to %s failed with %d",
        "qubit",
        503,
        extra={
            "vendor": "qubit",
            "topic": "orders",
            "partition": 3,
            "offset": 12,
            "event": "delivery_failed",
            "error_class": "TransientDeliveryError",
            "status": 503,
        },
    )
    (line,) = output.lines()
    assert ISO_UTC.match(line.pop("ts"))
    assert line == {
        "level": "WARNING",
        "logger": "bridge.pipeline",
        "message": "delivery to qubit failed with 503",
        "vendor": "qubit",
        "topic": "orders",
        "partition": 3,
        "offset": 12,
        "event": "delivery_failed",
        "error_class": "TransientDeliveryError",
        "status": 503,
    }


def test_json_line_carries_the_traceback(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    try:
        raise RuntimeError("broken pipe")
    except RuntimeError:
        log.exception("commit failed", extra={"event": "commit_failed"})
    (line,) = output.lines()
    assert line["message"] == "commit failed"
    assert line["exception"].startswith("Traceback")
    assert "RuntimeError: broken pipe" in line["exception"]


def test_text_line_has_the_same_fields(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure("text")
    log.error("giving up on %s", "batch", extra={"vendor": "esputnik", "count": 7})
    (line,) = output.text.splitlines()
    ts, level, logger, rest = line.split(maxsplit=3)
    assert ISO_UTC.match(ts)
    assert (level, logger) == ("ERROR", "bridge.pipeline:")
    assert rest == "giving up on batch vendor=esputnik count=7"


def test_level_setting_drops_records_below_it(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure(level="WARNING")
    log.info("progress")
    log.warning("trouble")
    assert [line["message"] for line in output.lines()] == ["trouble"]


def test_a_broken_format_string_does_not_raise_in_the_filter() -> None:
    # Called on the record directly: pytest's own capture handler would raise on it first.
    record = logging.LogRecord("bridge", logging.INFO, __file__, 1, "%d records", ("many",), None)
    assert RedactionFilter().filter(record)
    assert record.getMessage() == "%d records ('many',)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer jane.doe+x@example.co.uk ordered", "customer <email> ordered"),
        ("call +49 30 1234567 or 555-123-4567.", "call <phone> or <phone>."),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
        ("authorization=Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "authorization=***"),
        (
            "headers {'X-AUTH-APIKEY': 'k 1', 'Accept': 'application/json'}",
            "headers {'X-AUTH-APIKEY': '***', 'Accept': 'application/json'}",
        ),
        ('{"api_key": "abc", "password":"two words"}', '{"api_key": "***", "password":"***"}'),
        ('{\\"client_key\\": \\"ck-1\\"}', '{\\"client_key\\": \\"***\\"}'),
        ("GET /track?api_key=xyz&sku=1", "GET /track?api_key=***&sku=1"),
        ("sent with Bearer eyJhbGciOiJIUzI1NiJ9.e30", "sent with Bearer ***"),
        ("retrying with Basic dXNlcjpwYXNz=", "retrying with Basic ***"),
    ],
)
def test_redact_masks_personal_data_and_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "occurred_at 2024-01-15T10:00:00Z",
        "event 550e8400-e29b-41d4-a716-446655440000",
        "took 1234567.89 ms",
        "sku AB12345678",
        "delivered 100 records in 0.25 s (status 200)",
        "basic validation failed; expected a Bearer token",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_secret_is_masked_everywhere(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    register_secret(SECRET)
    try:
        raise ValueError(f"vendor refused token {SECRET}")
    except ValueError:
        log.info(
            "message %s, args %s",
            SECRET,
            {"token": SECRET},
            extra={"detail": f"x{SECRET}x", "nested": {"inner": [SECRET]}},
            exc_info=True,
        )
    (line,) = output.lines()
    assert SECRET not in output.text
    assert line["message"] == "message ***, args {'token': '***'}"
    assert line["detail"] == "x***x"
    assert line["nested"] == {"inner": ["***"]}
    assert "vendor refused token ***" in line["exception"]


def test_a_short_secret_is_not_registered() -> None:
    register_secret("abc")
    try:
        assert redact("abc def") == "abc def"
    finally:
        clear_secrets()


def test_redaction_covers_message_args_extra_and_traceback(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    try:
        raise RuntimeError("reply for bob@example.com: api_key=k-9")
    except RuntimeError:
        log.exception(
            "rejected %s with %s",
            "alice@example.com",
            "+44 20 7946 0958",
            extra={"reply": "password: hunter2", "offset": 123456789},
        )
    (line,) = output.lines()
    for leaked in ("alice@", "bob@", "7946", "hunter2", "k-9"):
        assert leaked not in output.text
    assert line["message"] == "rejected <email> with <phone>"
    assert line["reply"] == "password: ***"
    assert line["offset"] == 123456789, "numbers in extra are kept, not scanned"
    assert "reply for <email>: api_key=***" in line["exception"]


def _fail(log: logging.Logger, vendor: str = "qubit", times: int = 1) -> None:
    for attempt in range(times):
        log.error(
            "delivery failed (attempt %d)",
            attempt,
            extra={"vendor": vendor, "event": "delivery_failed", "status": 503},
        )


def test_repeated_error_is_written_once_then_summarised_per_window(
    configure: Callable[..., Output], log: logging.Logger, clock: FakeClock
) -> None:
    output = configure()
    _fail(log, times=100)
    assert [line.get("count") for line in output.lines()] == [None]

    clock.advance(10)
    _fail(log, times=5)  # closes the first window: its summary, then these are counted
    clock.advance(10)
    log.info("progress")  # any record closes a window that is due

    first, summary, second_summary, progress = output.lines()
    assert first["message"] == "delivery failed (attempt 0)"
    assert summary["count"] == 99
    assert summary["level"] == "ERROR"
    assert (summary["vendor"], summary["event"]) == ("qubit", "delivery_failed")
    assert summary["message"] == (
        "delivery_failed: 99 more like this were not logged (repeats are logged once per 10 s)"
    )
    assert second_summary["count"] == 5
    assert progress["message"] == "progress"


def test_error_after_a_quiet_window_is_written_in_full(
    configure: Callable[..., Output], log: logging.Logger, clock: FakeClock
) -> None:
    output = configure()
    _fail(log)
    clock.advance(10)
    _fail(log)  # the first window had no repeats: forgotten, so this one opens a new window
    clock.advance(5)
    _fail(log)
    assert [line.get("count") for line in output.lines()] == [None, None]


def test_each_vendor_and_event_is_limited_on_its_own(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    _fail(log, "qubit", times=3)
    _fail(log, "esputnik", times=3)
    log.error("commit failed", extra={"vendor": "qubit", "event": "commit_failed"})
    log.warning("no event name %s", 1)
    log.warning("no event name %s", 2)  # same format string: the same warning
    assert [(line.get("vendor"), line["message"]) for line in output.lines()] == [
        ("qubit", "delivery failed (attempt 0)"),
        ("esputnik", "delivery failed (attempt 0)"),
        ("qubit", "commit failed"),
        (None, "no event name 1"),
    ]


def test_info_records_are_never_limited(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    for _ in range(3):
        log.info("batch delivered", extra={"vendor": "qubit", "event": "delivered"})
    assert len(output.lines()) == 3


def test_pending_summary_is_written_when_logging_shuts_down(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    _fail(log, times=4)
    configure()  # replacing the handler closes the old one, as logging.shutdown() does
    assert [line.get("count") for line in output.lines()] == [None, 3]


def test_odd_extra_values_still_make_a_json_line(
    configure: Callable[..., Output], log: logging.Logger
) -> None:
    output = configure()
    log.info("odd", extra={"by_partition": {3: "lagging"}, "when": object})
    log.info("huge", extra={"big": 2**70})
    odd, huge = output.lines()
    assert odd["by_partition"] == {"3": "lagging"}
    assert odd["when"] == "<class 'object'>"
    assert huge["big"] == str(2**70)
