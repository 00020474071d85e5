"""eSputnik stand-in, following ``esputnik-generate-event.txt`` (Generate event v2) and the
README's notes (HTTP Basic auth, any user name, the API key as password):
``POST <base>/api/v2/event`` with ``{"eventTypeKey", "keyValue", "params": [{"name",
"value"}]}``, answered 200 with an empty body.

From the document: ``eventTypeKey`` is required (an unknown one creates a new event type);
without ``keyValue`` the key is taken from the params ``contactId``, ``externalCustomerId``,
``email``, ``phone``, ``pushToken`` in that order, and an event with none of them is refused.
Structured params (``product``, ``products``, ``page``, ``category``) are JSON *strings*; each
documented event type's required params and their fields are checked as its table says:

- ``productViewed``, ``productAddedToWishlist``: ``product`` = object with ``productId``
  (string), ``price`` (number), optional ``isInStock`` 0|1; optional ``currencyCode``.
- ``cartUpdated``: ``recycleStateId``; ``products`` (optional: an empty cart sends none) =
  list of objects with ``productId``, ``quantity`` and ``price``.
- ``productImpressions``: ``recomVariantId`` (``r{recomId}v{variantId}``) and ``products`` =
  list of objects with ``productId``.
- ``pageViewed``: ``page`` = object with ``location``. ``productCategoryViewed``: ``category``
  = object with ``productCategoryId``. ``searchRequest``: ``search``, optional ``isFound`` 0|1.

A ``phone`` param, in every event type, is a "Phone number in the international format":
digits with the country code, optionally after ``+`` (``380501234567``, ``+380501234567``);
a national number (``0501234567``) or one with spaces or dashes is refused. The exact shape
(8 to 15 digits, no leading 0) is the sandbox's reading of those words and of the document's
examples. Any other event type takes arbitrary params ("The parameter keys are arbitrary"):
the sandbox checks their shape and locators, nothing of their contents.

Sandbox choices where the document is silent:

- Param values are strings or numbers; an object or array value is refused with a hint to
  send it as a JSON string. Param names must be unique. No other fields are allowed in the
  body or in a param.
- ``keyValue``, when sent, is a non-empty string. A locator param counts only with a non-empty
  value; an ``email`` param must look like an address; ``currencyCode`` is a 3-letter code.
- Errors are 400 (401 for auth) with ``{"error": "<problems joined by '; '>"}``.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from collections.abc import Callable
from typing import Any

from .checks import Check, cite, is_number, json_type, parse_json, sandbox_only
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

LOCATORS = ("contactId", "externalCustomerId", "email", "phone", "pushToken")
DOCUMENT = "esputnik-generate-event.txt"
README = "README.md"
RULES = (
    cite("endpoint", 11, "in the request body to https://esputnik.com/api/v2/event"),
    cite("event_type_key", 19, "Required parameter. Event type ID key."),
    cite("new_event_type", 19, "If no such event type exists with such a key, a new one is"),
    cite("locators", 21, "automatically taken from the request's Params object"),
    cite("locator_needed", 30, "An event without one of these parameters or a passed keyValue"),
    cite("params", 34, 'array of "key" - "value" pairs'),
    cite("arbitrary_params", 34, "The parameter keys are arbitrary."),
    cite("phone_international", 82, "Phone number in the international format."),
    cite("page_location", 94, "Page URL or deep link. Required to create an event."),
    cite("product_required", 137, "Required. Product data."),
    cite("product_id", 141, "Required. Product ID."),
    cite("price", 145, "Required. Price of a product item."),
    cite("in_stock", 154, "0 - out of stock"),
    cite("currency", 164, "Currency code in the ISO 4217 format."),
    cite("category_id", 215, "Category ID. Required to create an event."),
    cite("cart_quantity", 263, "Required. Quantity of items in the cart."),
    cite("recycle_state", 291, "Required. A unique ID connecting the cart events and purchases."),
    cite("recom_variant", 339, "r{recomId}v{variantId} format"),
    cite("search", 469, "Required. A value entered in the search box."),
    cite("basic_auth", 16, "the API uses HTTP Basic authentication", README),
    sandbox_only("phone_shape", "8 to 15 digits with the country code, optional +, no leading 0"),
    sandbox_only("email_shape", "an email param must look like an address"),
    sandbox_only("param_values", "values are strings or numbers; objects go as JSON strings"),
    sandbox_only("unique_params", "a param name appears once"),
    sandbox_only("known_fields", "no fields beside eventTypeKey, keyValue, params"),
    sandbox_only("error_reply", 'errors are 400 {"error": ...}, success 200 with no body'),
)
_RECOM_VARIANT = re.compile(r"r[^v\s]+v\S+")


def error_reply(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def _basic_password(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep else None


def _read_params(check: Check, body: dict[str, Any]) -> dict[str, Any]:
    """The params as ``{name: value}``, after checking each pair's shape."""
    params: dict[str, Any] = {}
    for path, param in check.objects(body, "params", required=False):
        check.known_keys(param, ("name", "value"), at=path)
        name = check.string(param, "name", at=path)
        if "value" not in param:
            check.fail(f"missing {path}.value")
        elif not (isinstance(param["value"], str) or is_number(param["value"])):
            check.fail(
                f"{path}.value must be a string or number, got {json_type(param['value'])}"
                " (objects and lists are sent as JSON strings)"
            )
        if name is None:
            continue
        if name in params:
            check.fail(f"duplicate param {name!r}")
        params[name] = param.get("value")
    return params


def _locator_present(params: dict[str, Any]) -> bool:
    for name in LOCATORS:
        value = params.get(name)
        if (isinstance(value, str) and value.strip()) or is_number(value):
            return True
    return False


def _json_param(check: Check, params: dict[str, Any], name: str, kind: type) -> Any:
    """The decoded value of a param that must hold a JSON string of an object or a list."""
    value = params[name]
    label = "an object" if kind is dict else "a list"
    if not isinstance(value, str):
        # Objects and lists were already reported with a hint by _read_params.
        if is_number(value):
            check.fail(f"param {name!r} must be a JSON string holding {label}, got number")
        return None
    ok, decoded, error = parse_json(value)
    if not ok:
        check.fail(f"param {name!r} is not valid JSON: {error}")
        return None
    if not isinstance(decoded, kind):
        check.fail(f"param {name!r} must hold {label}, got {json_type(decoded)}")
        return None
    return decoded


def _product(check: Check, product: dict[str, Any], at: str) -> None:
    check.string(product, "productId", at=at)
    check.number(product, "price", at=at)
    check.flag(product, "isInStock", at=at)


def _product_list(check: Check, products: list[Any], at: str, *, priced: bool) -> None:
    # Wrapped so that Check.objects reports element paths as "<param>[i]".
    for path, product in check.objects({at: products}, at):
        check.string(product, "productId", at=path)
        if priced:
            check.number(product, "quantity", at=path)
            check.number(product, "price", at=path)


def _required(check: Check, params: dict[str, Any], name: str) -> bool:
    if name not in params:
        check.fail(f"missing param {name!r}")
        return False
    return True


def _string_param(check: Check, params: dict[str, Any], name: str) -> None:
    if _required(check, params, name):
        check.string(params, name, at="param")


def _check_viewed_product(check: Check, params: dict[str, Any]) -> None:
    if _required(check, params, "product"):
        product = _json_param(check, params, "product", dict)
        if product is not None:
            _product(check, product, "product")
    check.currency(params, "currencyCode", at="param")


def _check_cart(check: Check, params: dict[str, Any]) -> None:
    _string_param(check, params, "recycleStateId")
    if "products" in params:
        products = _json_param(check, params, "products", list)
        if products is not None:
            _product_list(check, products, "products", priced=True)
    check.currency(params, "currencyCode", at="param")


def _check_impressions(check: Check, params: dict[str, Any]) -> None:
    if _required(check, params, "recomVariantId"):
        variant = params["recomVariantId"]
        if not isinstance(variant, str) or _RECOM_VARIANT.fullmatch(variant) is None:
            check.fail("param 'recomVariantId' must look like r{recomId}v{variantId}")
    if _required(check, params, "products"):
        products = _json_param(check, params, "products", list)
        if products is not None:
            _product_list(check, products, "products", priced=False)


def _check_object_param(name: str, field: str) -> Callable[[Check, dict[str, Any]], None]:
    def check_param(check: Check, params: dict[str, Any]) -> None:
        if _required(check, params, name):
            value = _json_param(check, params, name, dict)
            if value is not None:
                check.string(value, field, at=name)

    return check_param


def _check_search(check: Check, params: dict[str, Any]) -> None:
    _string_param(check, params, "search")
    check.flag(params, "isFound", at="param")


def _check_other(check: Check, params: dict[str, Any]) -> None:
    """Rule arbitrary_params: an event type the document does not describe."""


EVENT_RULES: dict[str, Callable[[Check, dict[str, Any]], None]] = {
    "productViewed": _check_viewed_product,
    "productAddedToWishlist": _check_viewed_product,
    "cartUpdated": _check_cart,
    "productImpressions": _check_impressions,
    "pageViewed": _check_object_param("page", "location"),
    "productCategoryViewed": _check_object_param("category", "productCategoryId"),
    "searchRequest": _check_search,
}


def validate_event(body: Any) -> list[str]:
    """Problems with one Generate event request body; empty when it is valid."""
    if not isinstance(body, dict):
        return [f"body must be an event object, got {json_type(body)}"]
    check = Check()
    check.known_keys(body, ("eventTypeKey", "keyValue", "params"))
    event_type = check.string(body, "eventTypeKey")
    key_value = check.string(body, "keyValue", required=False)
    params = _read_params(check, body)
    if key_value is None and "keyValue" not in body and not _locator_present(params):
        check.fail(f"no keyValue and no locator param (one of {', '.join(LOCATORS)})")
    if "email" in params:
        check.email(params, "email", at="param")  # rule email_shape
    if "phone" in params:
        check.phone(params, "phone", at="param")  # rules phone_international, phone_shape
    if event_type is not None:
        EVENT_RULES.get(event_type, _check_other)(check, params)
    return check.errors


def handle(incoming: Incoming, credentials: Credentials, rng: random.Random) -> Outcome:
    password = _basic_password(incoming.headers.get("Authorization"))
    if password is None:
        return refused(error_reply, 401, "HTTP Basic authentication required")
    if not same_secret(password, credentials.esputnik_api_key):
        return refused(error_reply, 401, "invalid API key")
    if not incoming.json_ok:
        return refused(error_reply, 400, f"body is not valid JSON: {incoming.json_error}")
    problems = validate_event(incoming.body)
    if problems:
        message = "; ".join(problems)
        return Outcome(
            status=400,
            reply=error_reply(400, message),
            rejected=[rejection(incoming.body, message)],
        )
    return Outcome(status=200, reply=None, accepted=[incoming.body])


API = VendorApi(
    name="esputnik",
    path="/api/v2/event",
    handle=handle,
    error_reply=error_reply,
    credentials=(Credential("api_key", default="es-sandbox-key", secret=True),),
)
