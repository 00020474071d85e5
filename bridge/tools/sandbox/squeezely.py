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
  (optional), "language": string (optional)}`` and nothing else; ``currency`` a 3-letter code;
  ``firstname``, ``lastname``, ``phone``, ``city``, ``country`` optional strings. Any other
  top-level field must start with ``custom_`` and have a name after it.
- Event names are case-sensitive: ``purchase`` is refused with a hint. Other event names are
  accepted; only the fields above that they carry are type-checked.
- All or nothing: if any event is invalid the whole request is refused with 400
  ``{"success": false, "errors": ["event <i>: <problem>", ...]}`` and none of its events is
  stored as accepted. Success is 200 ``{"success": true, "ok": n, "nok": 0, "errors": []}``.
- Bad credentials are 401 ``{"success": false, "errors": ["..."]}``; an empty ``events`` list,
  or fields beside ``events``, are 400.
"""

from __future__ import annotations

import random
from typing import Any

from .checks import Check, json_type
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
PROFILE_FIELDS = ("firstname", "lastname", "phone", "city", "country")
PURCHASE_FIELDS = ("event", "email", "orderid", "products", "currency", *PROFILE_FIELDS)
PRODUCT_FIELDS = ("id", "quantity", "price", "language")
CUSTOM_PREFIX = "custom_"
REFUSED_WITH_OTHERS = "not stored: another event in the request is invalid"


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
    if purchase:
        check.known_keys(event, PURCHASE_FIELDS, extra_prefix=CUSTOM_PREFIX)
    check.email(event, "email", required=purchase)
    check.string(event, "orderid", required=purchase)
    check.currency(event, "currency")
    for key in PROFILE_FIELDS:
        check.string(event, key, required=False)
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
