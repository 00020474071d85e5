"""eSputnik: Generate event v2 (site activity events).

Follows ``esputnik-generate-event.txt`` (vendor-docs) and, for authentication, the facts in
vendor-docs ``README.md``: HTTP Basic with any user name and the API key as password. One
event per request: ``{"eventTypeKey", "keyValue", "params": [{"name", "value"}, ...]}``.

Locators, in the document's priority order: ``contactId`` (``vendor_ids["esputnik"]``),
``externalCustomerId`` (``customer.customer_id``), ``email``, ``phone``. Every locator present
is sent as a param; ``keyValue`` is the highest-priority one; none: ``missing_locator``.
Locator params are listed lowest priority first, as in the document's examples (``phone``
before ``email``).

``phone`` is sent "in the international format", as the document asks: normalised with
``phonenumbers`` to E.164 (``+380501234567``; ``phone_format: digits`` drops the ``+``, as
the document's example ``380501234567`` is written). A number without a country code is read
in the customer's ``country`` (an ISO 3166 alpha-2 code), else in ``phone_default_region``;
bare digits that are no valid national number are then read as international digits, as the
document writes them. A phone that cannot be read as a valid number is not used as a locator
at all.

Param values are typed as the document types them: the top-level values are strings (locators,
``currencyCode``, ``externalOrderId``), and structured values (``product``,
``purchasedItems``) are JSON *strings* whose inner numbers are numbers (``price`` a double,
``isInStock`` 1 or 0, ``quantity`` a number). ``totalCost`` is a number (money is a number
everywhere; the document does not cover purchases).

- product view -> ``productViewed``: ``product`` = ``{"productId", "price", "isInStock"}``
  (``isInStock`` only when ``in_stock`` is known), ``currencyCode`` when set.
- order -> ``order_event_type_key`` (default ``purchasedItems``): ``externalOrderId``,
  ``totalCost``, ``currencyCode``, ``purchasedItems`` = ``[{"productId", "price", "quantity"}]``.
  The document has no purchase event; of an unknown key it says "If no such event type exists
  with such a key, a new one is created", so a misspelt key silently makes a new event type.

Reply: any 2xx accepts, unless its JSON body carries ``error`` or ``errors``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import orjson
import phonenumbers
from pydantic import Field, field_validator

from bridge.errors import MappingError
from bridge.events import Event, EventType
from bridge.secrets import Secret
from bridge.vendors.base import (
    HttpRequest,
    Item,
    ItemResult,
    Vendor,
    VendorSettings,
    accept_unless_refused,
    money,
    omit_absent,
    post_json,
    unsupported_event_type,
)


class ESputnikSettings(VendorSettings):
    api_key: Secret
    user: str = Field(default="bridge", min_length=1)
    """The Basic user name: eSputnik ignores it."""
    order_event_type_key: str = Field(default="purchasedItems", min_length=1)
    phone_format: Literal["e164", "digits"] = "e164"
    """``e164``: ``+380501234567``; ``digits``: ``380501234567``, as the document's example."""
    phone_default_region: str | None = None
    """Region (e.g. ``NL``) for numbers without a country code when ``customer.country`` is
    not a region code; None: such numbers are not sent."""

    @field_validator("phone_default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be an ISO 3166 alpha-2 region code, e.g. NL")
        return region


class ESputnik(Vendor[ESputnikSettings]):
    name: ClassVar[str] = "esputnik"
    document: ClassVar[str] = "esputnik-generate-event.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset(EventType)
    batches: ClassVar[bool] = False
    default_base_url: ClassVar[str] = "https://esputnik.com"
    settings_model: ClassVar[type[VendorSettings]] = ESputnikSettings

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        if event_type is EventType.PRODUCT_VIEW:
            product = {"productId": event["product_id"], "price": money(event["price"])}
            if event["in_stock"] is not None:
                product["isInStock"] = int(event["in_stock"])
            currency = omit_absent({"currencyCode": event["currency"]})
            params = {"product": _json_text(product), **currency}
            return [self._event("productViewed", event, params)]
        if event_type is EventType.ORDER:
            lines = [
                {
                    "productId": line["product_id"],
                    "price": money(line["price"]),
                    "quantity": line["quantity"],
                }
                for line in event["items"]
            ]
            params = {
                "externalOrderId": event["order_id"],
                "totalCost": money(event["total"]),
                "currencyCode": event["currency"],
                "purchasedItems": _json_text(lines),
            }
            return [self._event(self.settings.order_event_type_key, event, params)]
        raise unsupported_event_type(event_type)

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        (item,) = items
        key = self.settings.api_key.get_secret_value()
        token = base64.b64encode(f"{self.settings.user}:{key}".encode()).decode()
        return post_json(
            f"{self.base_url}/api/v2/event",
            item,
            headers={"Authorization": f"Basic {token}"},
            secrets=(key, token),
        )

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        return accept_unless_refused(body, items)

    def _event(self, event_type_key: str, event: Event, params: Mapping[str, Any]) -> Item:
        customer = event["customer"] or {}
        locators = omit_absent(
            {
                "contactId": event["vendor_ids"].get("esputnik"),
                "externalCustomerId": customer.get("customer_id"),
                "email": customer.get("email"),
                "phone": self._phone(customer.get("phone"), customer.get("country")),
            }
        )
        if not locators:
            raise MappingError("missing_locator")
        named = {**dict(reversed(locators.items())), **params}
        return {
            "eventTypeKey": event_type_key,
            "keyValue": next(iter(locators.values())),
            "params": [{"name": name, "value": value} for name, value in named.items()],
        }

    def _phone(self, raw: str | None, country: str | None) -> str | None:
        """`raw` in the international format, or None if it is not a valid phone number."""
        if raw is None or not raw.strip():
            return None
        region = _region(country) or self.settings.phone_default_region
        text = raw.strip()
        # Bare digits not starting with a trunk 0 may be the international format as the
        # document writes it ("380501234567"): tried after the national reading fails.
        readings = [text, "+" + text] if text.isdigit() and text[0] != "0" else [text]
        for reading in readings:
            try:
                number = phonenumbers.parse(reading, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                return e164 if self.settings.phone_format == "e164" else e164.lstrip("+")
        return None


def _region(country: str | None) -> str | None:
    code = country.strip().upper() if isinstance(country, str) else ""
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()
