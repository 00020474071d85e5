"""VTmarketing stand-in, following ``vtmarketing-server-side.txt`` (ServerSide Integration):
``POST <base>/v1/event/`` with header ``Authorization: <api key>`` and one order confirmation
``{"user": {...}, "event": {"confirmation": {"generic": {...}, "items": [...]}}}``.

From the document: ``user.email`` is required, ``tel``/``firstname``/``lastname``/``country``/
``city`` are optional strings; ``event`` has the single key ``confirmation``, whose ``generic``
object needs ``orderId`` (string) and ``total`` (float) and may have ``coupons`` (strings),
``currency`` (3-letter ISO code), ``total_shipping`` (float), ``phone``; ``items`` is an
optional list of ``{"id", "quantity"}``. Field names are case-sensitive. The request carries
``Content-Type: application/json`` (a request without it is a 415). Success is 200 with
``{"results": {"message": "Event created", ...}}``, failure
``{"errors": [{"message": ..., "description": ...}]}``.

Sandbox choices where the document is silent (or contradicts itself):

- ``orderId`` is required, as the field table says, although a note says a missing one "won't
  generate an error": an order without it cannot be matched, which is what should be caught.
- ``status`` appears only in the example payload; it is accepted as an optional string.
- Any field the document does not name, and ``null`` anywhere, is a 400; strings must not be
  empty; ``email`` must look like an address (one ``@`` and a dot in the domain);
  ``items[].id`` must be a string (the example's ids are strings), ``quantity`` any number.
- The key goes in ``Authorization`` as is; ``Bearer <key>`` is a 401 (with a hint saying so).
- One order per request: a JSON array is a 400. All problems of a payload are reported, one
  entry each in ``errors``.
- The Content-Type may carry parameters (``application/json; charset=utf-8``); the status
  415 for another one is the sandbox's (the document names no status but 200).
"""

from __future__ import annotations

import random
from typing import Any

from .checks import Check, cite, is_json_content_type, json_type, sandbox_only
from .exchange import (
    Credential,
    Credentials,
    Incoming,
    Outcome,
    VendorApi,
    reason_phrase,
    refused,
    rejection,
    same_secret,
)

USER_OPTIONAL = ("tel", "firstname", "lastname", "country", "city")
DOCUMENT = "vtmarketing-server-side.txt"
RULES = (
    cite("endpoint", 21, "https://api.vtcdn.net/v1/event/"),
    cite("post", 22, "POST"),
    cite("authorization", 23, "Authorization: api_key"),
    cite("content_type", 24, "Content-Type: application/json"),
    cite("case_sensitive", 17, "parameters and field names are case-sensitive"),
    cite("user_and_event", 34, "It has 2 mandatory parameters: user and event"),
    cite("email", 61, "emailUser email address[string]"),
    cite("confirmation", 70, "It has a single key: “confirmation”"),
    cite("generic", 73, "genericObject with extra information for the event[object]required"),
    cite("order_id", 74, "generic.orderIdUnique order ID[string] knssf22required"),
    cite("total", 75, "generic.totalTotal value of the purchase, including shipping. [float]"),
    cite("coupons", 76, "generic.couponsList of coupon codes used, as strings"),
    cite("currency", 77, "generic.currencyCurrency. Format is 3 letter ISO code"),
    cite("total_shipping", 78, "generic.total_shippingTotal value paid for shipping[float]"),
    cite("items", 80, "itemsList of items that were purchased and their quantity."),
    cite("success", 93, "The server responds with 200 status code if data was successfully"),
    cite("errors", 102, "Any status code other than 200 indicates an error occurred."),
    cite("missing_event", 107, "Missing event information"),
    sandbox_only("order_id_required", "required, though a note says a missing one is no error"),
    sandbox_only("unknown_field", "fields the document does not name, and null, are a 400"),
    sandbox_only("non_empty", "strings must not be empty; email must look like an address"),
    sandbox_only("bearer", "Bearer <key> is a 401 with a hint"),
    sandbox_only("one_order", "a JSON array is a 400"),
    sandbox_only("content_type_status", "another Content-Type is answered 415"),
)
GENERIC_FIELDS = (
    "orderId",
    "total",
    "status",
    "coupons",
    "phone",
    "currency",
    "total_shipping",
)
SUCCESS = {
    "results": {
        "message": "Event created",
        "email": "Event was created for the specified user",
    }
}
MISSING_USER = ("Missing user information", "Please send user information along with event")
MISSING_EVENT = ("Missing event information", "Please send event information along with user")


def _entry(message: str, description: str) -> dict[str, str]:
    return {"message": message, "description": description}


def error_reply(status: int, message: str) -> dict[str, Any]:
    return {"errors": [_entry(reason_phrase(status), message)]}


def _check_user(check: Check, user: dict[str, Any]) -> None:
    check.known_keys(user, ("email", *USER_OPTIONAL), at="user")
    check.email(user, "email", at="user")
    for key in USER_OPTIONAL:
        check.string(user, key, at="user", required=False)


def _check_confirmation(check: Check, event: dict[str, Any]) -> None:
    check.known_keys(event, ("confirmation",), at="event")
    confirmation = check.obj(event, "confirmation", at="event")
    if confirmation is None:
        return
    at = "event.confirmation"
    check.known_keys(confirmation, ("generic", "items"), at=at)
    generic = check.obj(confirmation, "generic", at=at)
    if generic is not None:
        at_generic = f"{at}.generic"
        check.known_keys(generic, GENERIC_FIELDS, at=at_generic)
        check.string(generic, "orderId", at=at_generic)
        check.number(generic, "total", at=at_generic)
        check.string(generic, "status", at=at_generic, required=False)
        check.strings(generic, "coupons", at=at_generic, required=False)
        check.string(generic, "phone", at=at_generic, required=False)
        check.currency(generic, "currency", at=at_generic)
        check.number(generic, "total_shipping", at=at_generic, required=False)
    for path, item in check.objects(confirmation, "items", at=at, required=False):
        check.known_keys(item, ("id", "quantity"), at=path)
        check.string(item, "id", at=path)
        check.number(item, "quantity", at=path)


def validate_order(body: Any) -> list[dict[str, str]]:
    """The ``errors`` entries for one order payload; empty when it is valid."""
    if not isinstance(body, dict):
        return [_entry("Invalid payload", f"body must be one order object, got {json_type(body)}")]
    entries: list[dict[str, str]] = []
    if "user" not in body:
        entries.append(_entry(*MISSING_USER))
    if "event" not in body:
        entries.append(_entry(*MISSING_EVENT))
    check = Check()
    check.known_keys(body, ("user", "event"))
    user = check.obj(body, "user", required=False)
    if user is not None:
        _check_user(check, user)
    event = check.obj(body, "event", required=False)
    if event is not None:
        _check_confirmation(check, event)
    entries.extend(_entry("Invalid payload", problem) for problem in check.errors)
    return entries


def _auth_problem(header: str | None, expected: str) -> str | None:
    if not header:
        return "Missing Authorization header"
    if same_secret(header, expected):
        return None
    if header.lower().startswith("bearer "):
        return "Invalid API key (send the key itself in Authorization, without 'Bearer')"
    return "Invalid API key"


def handle(incoming: Incoming, credentials: Credentials, rng: random.Random) -> Outcome:
    problem = _auth_problem(incoming.headers.get("Authorization"), credentials.vtmarketing_api_key)
    if problem is not None:
        reply = {"errors": [_entry("Unauthorized", problem)]}
        return Outcome(status=401, reply=reply, error=problem)
    # Rules content_type, content_type_status.
    if not is_json_content_type(incoming.headers.get("Content-Type")):
        return refused(error_reply, 415, "Content-Type must be application/json")
    if not incoming.json_ok:
        return refused(error_reply, 400, f"body is not valid JSON: {incoming.json_error}")
    entries = validate_order(incoming.body)
    if entries:
        message = "; ".join(entry["description"] for entry in entries)
        return Outcome(
            status=400,
            reply={"errors": entries},
            rejected=[rejection(incoming.body, message)],
        )
    return Outcome(status=200, reply=SUCCESS, accepted=[incoming.body])


API = VendorApi(
    name="vtmarketing",
    path="/v1/event/",
    handle=handle,
    error_reply=error_reply,
    credentials=(Credential("api_key", default="vt-sandbox-key", secret=True),),
)
