"""QuickLizard stand-in, following ``quicklizard-server-to-server.txt`` (QL SDK - Server to
Server): ``POST <base>/events`` with a JSON array of view and conversion events, answered with
``{"processed": [...], "failed": [...], "errors": [...]}``.

From the document: every event needs ``client_key``, ``price`` (a float: any JSON number, not a
string or boolean), ``product_id`` (string) and ``event`` (``view`` or ``conversion``); views
also need ``permalink``; ``vid`` is optional. The payload is an array of one or more events.

Sandbox choices where the document is silent:

- Auth: the document has no header auth, only the ``client_key`` inside each event. If any
  event carries a string ``client_key`` other than the expected one the whole request gets 403
  ``{"errors": [{"error": "unknown client_key"}]}``. A missing or non-string ``client_key`` is
  a structural problem of that event and makes it fail like any other missing field.
- ``processed`` and ``failed`` echo the events exactly as received; ``errors`` holds one
  ``{"error": "<problems joined by '; '>"}`` per failed event, in the order of ``failed``. The
  document shows the entries only as ``{...}``, so they carry a message and nothing a client
  could rely on to find its event (no index): a client has to read ``processed`` and
  ``failed``, as the document does.
- A body that is not JSON, not an array, or an empty array gets 400
  ``{"errors": [{"error": "..."}]}``.
- Fields outside the document's list fail the event, so a misspelt field name is caught rather
  than silently dropped. ``permalink`` is allowed (not required) on conversions.
- ``permalink`` must be an absolute http(s) URL, as in the document's example; strings must
  not be empty (an absent optional ``vid`` should be left out, not sent as "").
"""

from __future__ import annotations

import random
from typing import Any

from .checks import Check, cite, json_type, sandbox_only
from .exchange import (
    Credential,
    Credentials,
    Incoming,
    Outcome,
    VendorApi,
    refused,
    rejection,
    same_secret,
)

EVENT_NAMES = ("view", "conversion")
FIELDS = ("client_key", "price", "product_id", "event", "permalink", "vid")
DOCUMENT = "quicklizard-server-to-server.txt"
RULES = (
    cite("array", 75, "The POST payload is a JSON-formatted array of event objects"),
    cite("one_or_more", 49, "supports sending one or more events, as an array of JSON objects"),
    cite("required", 22, "All other fields are required"),
    cite("price_float", 25, "field must be a valid float"),
    cite("event_view", 15, '"event": "view"'),
    cite("event_conversion", 35, '"event": "conversion"'),
    cite("vid_optional", 22, "field is completely optional"),
    cite("reply", 77, "3 array fields for processed events, failed events and processing errors"),
    cite("processed", 79, "events that were successfully parsed and sent to our backends"),
    cite("failed", 80, "events that were not parsed due to errors in event structure"),
    sandbox_only("errors_entry", 'the document shows errors entries as "{...}" only'),
    sandbox_only("unknown_field", "the document lists the fields; others fail so typos show"),
    sandbox_only("permalink_url", "absolute http(s) URL, as the document's example"),
    sandbox_only("non_empty", "strings must not be empty: leave an absent vid out"),
    sandbox_only("client_key", "an event with another client_key refuses the request (403)"),
)


def error_reply(status: int, message: str) -> dict[str, Any]:
    return {"errors": [{"error": message}]}


def validate_event(event: Any) -> list[str]:
    """Problems with one event (its ``client_key`` value is the caller's business)."""
    if not isinstance(event, dict):
        return [f"event must be an object, got {json_type(event)}"]
    check = Check()
    check.known_keys(event, FIELDS)  # rule unknown_field
    check.string(event, "client_key")  # rules required, non_empty
    check.number(event, "price")  # rule price_float
    check.string(event, "product_id")  # rule required
    name = check.string(event, "event")  # rules event_view, event_conversion
    if name is not None and name not in EVENT_NAMES:
        check.fail(f"event must be one of {', '.join(EVENT_NAMES)}, got {name!r}")
    # Rule required: a view's permalink (line 16 of the view payload); rule permalink_url.
    permalink = check.string(event, "permalink", required=name == "view")
    if permalink is not None and not permalink.startswith(("http://", "https://")):
        check.fail("permalink must be an absolute http(s) URL")
    check.string(event, "vid", required=False)  # rule vid_optional
    return check.errors


def _foreign_key(events: list[Any], expected: str) -> bool:
    return any(
        isinstance(event, dict)
        and isinstance(event.get("client_key"), str)
        and not same_secret(event["client_key"], expected)
        for event in events
    )


def handle(incoming: Incoming, credentials: Credentials, rng: random.Random) -> Outcome:
    if not incoming.json_ok:
        return refused(error_reply, 400, f"body is not valid JSON: {incoming.json_error}")
    events = incoming.body
    if not isinstance(events, list):
        return refused(error_reply, 400, "body must be a JSON array of event objects")
    if not events:
        return refused(error_reply, 400, "body must hold one or more events")
    if _foreign_key(events, credentials.quicklizard_client_key):
        return refused(error_reply, 403, "unknown client_key")

    processed: list[Any] = []
    failed: list[Any] = []
    errors: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for event in events:
        problems = validate_event(event)
        if problems:
            message = "; ".join(problems)
            failed.append(event)
            errors.append({"error": message})  # rule errors_entry
            rejected.append(rejection(event, message))
        else:
            processed.append(event)
    reply = {"processed": processed, "failed": failed, "errors": errors}
    return Outcome(status=200, reply=reply, accepted=processed, rejected=rejected)


API = VendorApi(
    name="quicklizard",
    path="/events",
    handle=handle,
    error_reply=error_reply,
    credentials=(Credential("client_key", default="ql-sandbox-key", secret=True),),
)
