"""eSputnik: Generate event v2 (site activity events).

Follows ``esputnik-generate-event.txt`` (vendor-docs) and, for authentication, the facts in
vendor-docs ``README.md``: HTTP Basic with any user name and the API key as password. One
event per request: ``{"eventTypeKey", "keyValue", "params": [{"name", "value"}, ...]}``.

Locators, in the document's priority order: ``contactId`` (``vendor_ids["esputnik"]``),
``externalCustomerId`` (``customer.customer_id``), ``email``, ``phone``. Every locator present
is sent as a param; ``keyValue`` is the highest-priority one; none: ``missing_locator``.
Locator params are listed lowest priority first, as in the document's examples (``phone``
before ``email``).

Param values are typed as the document types them: the top-level values are strings (locators,
``currencyCode``, ``externalOrderId``), and structured values (``product``,
``purchasedItems``) are JSON *strings* whose inner numbers are numbers (``price`` a double,
``isInStock`` 1 or 0, ``quantity`` a number). ``totalCost`` is a number (money is a number
everywhere; the document does not cover purchases).

- product view -> ``productViewed``: ``product`` = ``{"productId", "price", "isInStock"}``
  (``isInStock`` only when ``in_stock`` is known), ``currencyCode`` when set.
- order -> ``order_event_type_key`` (default ``purchasedItems``): ``externalOrderId``,
  ``totalCost``, ``currencyCode``, ``purchasedItems`` = ``[{"productId", "price", "quantity"}]``.

Reply: any 2xx accepts, unless its JSON body carries ``error`` or ``errors``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson
from pydantic import Field

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
            return [_event("productViewed", event, {"product": _json_text(product), **currency})]
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
            return [_event(self.settings.order_event_type_key, event, params)]
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


def _event(event_type_key: str, event: Event, params: Mapping[str, Any]) -> Item:
    customer = event["customer"] or {}
    locators = omit_absent(
        {
            "contactId": event["vendor_ids"].get("esputnik"),
            "externalCustomerId": customer.get("customer_id"),
            "email": customer.get("email"),
            "phone": customer.get("phone"),
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


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()
