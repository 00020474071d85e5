"""Squeezely stand-in, following ``squeezely-backend-purchase.txt`` (Backend purchase) and the
README's notes (``POST <base>/v1/track``, headers ``X-AUTH-ACCOUNT`` and ``X-AUTH-APIKEY``,
body ``{"events": [...]}``).

From the documents: a ``Purchase`` event has at least ``event``, ``email``, ``orderid`` and
``products`` (each with ``id`` and ``quantity``; ``language`` when several languages are used);
``currency`` is added when several currencies are used; extra data fields are sent as
``custom_<name>``.

Sandbox choices where the documents are silent:

- Purchase fields: ``email`` must look like an address; ``orderid`` a non-empty string;
  ``products`` a non-empty list of ``{"id": string, "quantity": number, "price": number
  (optional), "language": string (optional)}`` and nothing else; ``currency`` a 3-letter code.
  Any other top-level field must start with ``custom_`` and have a name after it: the
  document's overview of further data fields is a link we do not have, so a field neither
  document names (``firstname``, ``phone``, ...) is refused here (sandbox-only strictness;
  the real API may take the fields of its Data Plan).
- Event names are case-sensitive: ``purchase`` is refused with a hint. Other event names are
  accepted; only the fields above that they carry are type-checked.
- All or nothing: if any event is invalid the whole request is refused with 400
  ``{"success": false, "errors": ["event <i>: <problem>", ...]}`` and none of its events is
  stored as accepted. Success is 200 ``{"success": true, "ok": n, "nok": 0, "errors": []}``
  (the document's example replies are images missing from the text; this shape is ours).
- Bad credentials are 401 ``{"success": false, "errors": ["..."]}``; an empty ``events`` list,
  or fields beside ``events``, are 400.
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

PURCHASE = "Purchase"
PURCHASE_FIELDS = ("event", "email", "orderid", "products", "currency")
PRODUCT_FIELDS = ("id", "quantity", "price", "language")
CUSTOM_PREFIX = "custom_"
REFUSED_WITH_OTHERS = "not stored: another event in the request is invalid"
DOCUMENT = "squeezely-backend-purchase.txt"
README = "README.md"
RULES = (
    cite("minimum", 39, "the following fields will be sent as a minimum"),
    cite("event_purchase", 51, "Purchase"),
    cite("email", 55, "Email address of the profile"),
    cite("orderid", 59, "Id of the order"),
    cite("products", 61, "products"),
    cite("product_id", 65, "Id of the purchased product"),
    cite("quantity", 69, "Number of the purchased product"),
    cite("language", 75, "Then also send language into the product array"),
    cite("currency", 77, "add currency to the event"),
    cite("custom_create_first", 87, "First you need to create the custom data fields"),
    cite("custom_prefix", 89, "custom_(name of the field)"),
    cite("endpoint", 15, "POST https://api.squeezely.tech/v1/track", README),
    cite("auth_headers", 15, "X-AUTH-ACCOUNT` (the account id) and `X-AUTH-APIKEY`", README),
    cite("events_body", 15, '{"events": [ {...}, ... ]}', README),
    cite("product_price", 15, '"products": [{"id": ..., "quantity": ..., "price": ...}]', README),
    sandbox_only("unknown_field", "fields neither document names are refused (see docstring)"),
    sandbox_only("email_shape", "an email must look like an address"),
    sandbox_only("currency_shape", "a currency is 3 capital letters (the document says nothing)"),
    sandbox_only("case", '"purchase" is refused with a hint, as a typo'),
    sandbox_only("all_or_nothing", "one invalid event refuses the request (400)"),
    sandbox_only("reply_counts", 'success reply {"success", "ok", "nok", "errors"}'),
)


def error_reply(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [message]}


def validate_event(event: Any) -> list[str]:
    """Problems with one event; a Purchase is held to the document, others to field types."""
    if not isinstance(event, dict):
        return [f"event must be an object, got {json_type(event)}"]
    check = Check()
    name = check.string(event, "event")
    purchase = name == PURCHASE
    if name is not None and not purchase and name.lower() == PURCHASE.lower():
        check.fail(f"event name is case-sensitive: use {PURCHASE!r}")
    if purchase:  # rules unknown_field, custom_prefix
        check.known_keys(event, PURCHASE_FIELDS, extra_prefix=CUSTOM_PREFIX)
    check.email(event, "email", required=purchase)  # rules minimum, email, email_shape
    check.string(event, "orderid", required=purchase)  # rules minimum, orderid
    check.currency(event, "currency")  # rules currency, currency_shape
    # Rules minimum, products, product_id, quantity, product_price, language.
    for path, product in check.objects(event, "products", required=purchase, non_empty=purchase):
        check.known_keys(product, PRODUCT_FIELDS, at=path)
        check.string(product, "id", at=path)
        check.number(product, "quantity", at=path)
        check.number(product, "price", at=path, required=False)
        check.string(product, "language", at=path, required=False)
    return check.errors


def _auth_problem(incoming: Incoming, credentials: Credentials) -> str | None:
    account = incoming.headers.get("X-AUTH-ACCOUNT")
    key = incoming.headers.get("X-AUTH-APIKEY")
    if not account or not key:
        return "missing X-AUTH-ACCOUNT or X-AUTH-APIKEY header"
    if not (
        same_secret(account, credentials.squeezely_account_id)
        and same_secret(key, credentials.squeezely_api_key)
    ):
        return "invalid account or API key"
    return None


def handle(incoming: Incoming, credentials: Credentials, rng: random.Random) -> Outcome:
    problem = _auth_problem(incoming, credentials)
    if problem is not None:
        return refused(error_reply, 401, problem)
    if not incoming.json_ok:
        return refused(error_reply, 400, f"body is not valid JSON: {incoming.json_error}")
    body = incoming.body
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return refused(error_reply, 400, 'body must be an object {"events": [...]}')
    extra = sorted(key for key in body if key != "events")
    if extra:
        return refused(error_reply, 400, f"unknown field(s) {', '.join(extra)} beside events")
    events: list[Any] = body["events"]
    if not events:
        return refused(error_reply, 400, "events must not be empty")

    errors: list[str] = []
    rejected: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        problems = validate_event(event)
        errors.extend(f"event {index}: {problem}" for problem in problems)
        rejected.append(rejection(event, "; ".join(problems) or REFUSED_WITH_OTHERS))
    if errors:
        reply = {"success": False, "errors": errors}
        return Outcome(status=400, reply=reply, rejected=rejected)
    reply = {"success": True, "ok": len(events), "nok": 0, "errors": []}
    return Outcome(status=200, reply=reply, accepted=list(events))


API = VendorApi(
    name="squeezely",
    path="/v1/track",
    handle=handle,
    error_reply=error_reply,
    credentials=(
        Credential("account_id", default="sandbox-account"),
        Credential("api_key", default="sq-sandbox-key", secret=True),
    ),
)
