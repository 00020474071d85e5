"""Qubit stand-in, following ``qubit-offline-conversions.txt`` (QProtocol offline conversions):
``POST <base>/events/{trackingId}`` with ``{"events": [...]}``, answered with one result per
event, ``{"eventId", "eventType", "status": "success", "warnings"}`` or
``{"status": "failed", "error"}``; unexpected errors are ``{"status": <code>, "message"}``.

From the document: every event needs ``context.id``, ``meta.type`` and ``meta.ts``;
``meta.url`` is optional; ``meta.source`` flags the producer (its absence is the document's
example warning "Missing meta.source"). Transaction events need ``transaction.id`` and the
amount object named in the document's table (``basket.total``, ``betslip.total`` or
``package.total``) with both ``value`` and ``currency``. A type may carry a company prefix
(``someco.trPackageTransactionSummary``).

Sandbox choices where the document is silent (or contradicts itself):

- Accepted types: the six transaction summaries of the table, and ``ecView`` (named in the
  document) with only the common checks. Any other type fails, so a misspelt type is caught.
- A failed event has ``"status": "failed"`` as in the example reply (the prose says "error").
- ``meta.ts`` must be an integer of epoch milliseconds: values below 10^11 (seconds) or from
  10^14 (microseconds) fail. ``context.id`` and ``transaction.id`` are non-empty strings,
  ``value`` any JSON number, ``currency`` a 3-letter ISO code.
- Unknown fields inside events are ignored (QProtocol events carry many more); the envelope
  may hold only ``events``. An unknown trackingId is 404 ``{"status": 404, "message":
  "Not Found"}``; a body that is not ``{"events": [...]}`` is 400. An empty list is fine.
- ``eventId`` is random (from the sandbox's seeded generator), shaped like the example's.
- The document sends "Content-Type: application/json"; another Content-Type is answered 415
  ``{"status": 415, "message": ...}`` (the status is the sandbox's).
"""

from __future__ import annotations

import random
import re
from typing import Any

from .checks import Check, cite, is_json_content_type, json_type, sandbox_only
from .exchange import Credential, Credentials, Incoming, Outcome, VendorApi, refused, rejection

TRANSACTION_AMOUNT_FIELD: dict[str, str] = {
    "ecBasketTransactionSummary": "basket",
    "egBetslipTransactionSummary": "betslip",
    "pbBasketTransactionSummary": "basket",
    "loBasketTransactionSummary": "basket",
    "trPackageTransactionSummary": "package",
    "fiBasketTransactionSummary": "basket",
}
OTHER_TYPES = frozenset({"ecView"})
DOCUMENT = "qubit-offline-conversions.txt"
RULES = (
    cite("post", 3, "Called via a POST request:"),
    cite("endpoint", 4, "https://offline-conversions.qubit.com/events/:trackingId"),
    cite("content_type", 10, "Content-Type: application/json"),
    cite("events", 35, "any number of QProtocol events in a Jolt style JSON wrapper"),
    cite("context_id", 37, "the Qubit visitor cookie id"),
    cite("meta_type", 38, "type of event, needs to conform to vertical and schema requirements"),
    cite("meta_ts", 43, "the timestamp the event was generated"),
    cite("meta_url", 44, "optionally, the url on which the event was generated"),
    cite("meta_source", 45, "a way to flag the event producer"),
    cite("transaction_id", 48, "unique identifier for the transaction is required"),
    cite("total", 49, "both value and currency fields are required"),
    cite("vertical_table", 52, "eCommerce | ecBasketTransactionSummary | basket.total"),
    cite("company_prefix", 41, "someco.trPackageTransactionSummary"),
    cite("result_per_event", 73, "A result object for each event sent/ingested:"),
    cite("source_warning", 80, "'Missing meta.source'"),
    cite("failed_status", 83, "'status': 'failed'"),
    cite("success_status", 87, "Successfully ingested events will have status success"),
    cite("upstream_error", 90, "A status message in the event of an unexpected error."),
    sandbox_only("known_types", "types outside the table (and ecView) fail, to catch typos"),
    sandbox_only("ts_millis", "meta.ts is epoch milliseconds: 10^11 <= ts < 10^14"),
    sandbox_only("currency_shape", "a currency is 3 capital letters"),
    sandbox_only("envelope", "only events beside events; not {events: [...]} is a 400"),
    sandbox_only("content_type_status", "another Content-Type is answered 415"),
)
MIN_TS_MS = 10**11
MAX_TS_MS = 10**14
_TYPE = re.compile(r"(?:[A-Za-z0-9_-]+\.)?(?P<name>[A-Za-z]+)")
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def error_reply(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def base_type(event_type: str) -> str | None:
    """The type without its company prefix, or None if it is not one the sandbox accepts."""
    match = _TYPE.fullmatch(event_type)
    if match is None:
        return None
    name = match["name"]
    return name if name in TRANSACTION_AMOUNT_FIELD or name in OTHER_TYPES else None


def _capitalised(message: str) -> str:
    # As the document's "Missing context.id", but a leading field path keeps its case.
    first_word = message.split(" ", 1)[0]
    return message if "." in first_word else message[:1].upper() + message[1:]


def validate_event(event: Any) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for one event."""
    if not isinstance(event, dict):
        return [f"Event must be an object, got {json_type(event)}"], []
    check = Check()
    warnings: list[str] = []
    context = check.section(event, "context")
    if context is not None:
        check.string(context, "id", at="context")
    meta = check.section(event, "meta")
    name: str | None = None
    if meta is not None:
        event_type = check.string(meta, "type", at="meta")
        if event_type is not None:
            name = base_type(event_type)
            if name is None:
                check.fail(f"unsupported meta.type {event_type!r}")
        ts = check.integer(meta, "ts", at="meta")
        if ts is not None and not MIN_TS_MS <= ts < MAX_TS_MS:
            check.fail("meta.ts must be epoch milliseconds")
        check.string(meta, "url", at="meta", required=False)
        if "source" in meta:
            check.string(meta, "source", at="meta")
        else:
            warnings.append("Missing meta.source")
    amount_field = TRANSACTION_AMOUNT_FIELD.get(name or "")
    if amount_field is not None:
        transaction = check.section(event, "transaction")
        if transaction is not None:
            check.string(transaction, "id", at="transaction")
        holder = check.section(event, amount_field)
        total = None if holder is None else check.obj(holder, "total", at=amount_field)
        if total is not None:
            at = f"{amount_field}.total"
            check.number(total, "value", at=at)
            check.currency(total, "currency", at=at, required=True)
    return [_capitalised(error) for error in check.errors], warnings


def new_event_id(rng: random.Random) -> str:
    return "-".join(
        "".join(rng.choice(_ID_ALPHABET) for _ in range(length)) for length in (11, 9, 7)
    )


def handle(incoming: Incoming, credentials: Credentials, rng: random.Random) -> Outcome:
    if incoming.path_params.get("trackingId") != credentials.qubit_tracking_id:
        return Outcome(status=404, reply=error_reply(404, "Not Found"), error="unknown trackingId")
    # Rules content_type, content_type_status.
    if not is_json_content_type(incoming.headers.get("Content-Type")):
        return refused(error_reply, 415, "Content-Type must be application/json")
    if not incoming.json_ok:
        return refused(error_reply, 400, f"Body is not valid JSON: {incoming.json_error}")
    body = incoming.body
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return refused(error_reply, 400, 'Body must be an object {"events": [...]}')
    extra = sorted(key for key in body if key != "events")
    if extra:
        return refused(error_reply, 400, f"Unknown field(s) {', '.join(extra)} beside events")

    results: list[dict[str, Any]] = []
    accepted: list[Any] = []
    rejected: list[dict[str, Any]] = []
    for event in body["events"]:
        errors, warnings = validate_event(event)
        if errors:
            message = "; ".join(errors)
            results.append({"status": "failed", "error": message})
            rejected.append(rejection(event, message))
            continue
        results.append(
            {
                "eventId": new_event_id(rng),
                "eventType": event["meta"]["type"],
                "status": "success",
                "warnings": warnings,
            }
        )
        accepted.append(event)
    return Outcome(status=200, reply={"results": results}, accepted=accepted, rejected=rejected)


API = VendorApi(
    name="qubit",
    path="/events/{trackingId}",
    handle=handle,
    error_reply=error_reply,
    credentials=(Credential("tracking_id", default="sandbox-tracking"),),
)
