"""VTmarketing: server-side order confirmation events.

Follows ``vtmarketing-server-side.txt`` (vendor-docs). One order per request; field names are
case-sensitive and written exactly as documented (``orderId``, ``total_shipping``).

Mapping (orders only):
- ``user``: ``email`` (required: ``missing_email``), ``tel``, ``firstname``, ``lastname``,
  ``country``, ``city`` from ``customer``.
- ``event.confirmation.generic``: ``orderId``, ``total`` (including shipping, as in our
  schema), ``status``, ``coupons`` (omitted when empty), ``phone`` (``customer.phone``: our
  schema has no separate order phone), ``currency``, ``total_shipping`` (``shipping_total``).
- ``currency``: "Format is 3 letter ISO code": upper-cased (``eur`` -> ``EUR``); anything
  else that is not three letters skips the order (``invalid_currency``) rather than sending a
  value VTmarketing cannot read.
- ``event.confirmation.items``: ``{"id", "quantity"}`` per line; omitted when the order has
  none (the document calls the list optional).

Authentication: ``Authorization: <api key>``, the key itself with no scheme.

Reply: "Any status code other than 200 indicates an error occurred", so ``accepted_statuses``
is ``{200}``: the delivery client treats another 2xx as a refusal of the request (the event
goes to the dead letters, not sent again, since VTmarketing may have stored it). A 200 whose
JSON body still carries ``errors`` refuses the request too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

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
    required_text,
    unsupported_event_type,
)

_ISO_CURRENCY = re.compile(r"[A-Z]{3}")


class VTmarketingSettings(VendorSettings):
    api_key: Secret


class VTmarketing(Vendor[VTmarketingSettings]):
    name: ClassVar[str] = "vtmarketing"
    document: ClassVar[str] = "vtmarketing-server-side.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset({EventType.ORDER})
    batches: ClassVar[bool] = False
    default_base_url: ClassVar[str] = "https://api.vtcdn.net"
    settings_model: ClassVar[type[VendorSettings]] = VTmarketingSettings
    accepted_statuses: ClassVar[frozenset[int]] = frozenset({200})

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        if event_type is not EventType.ORDER:
            raise unsupported_event_type(event_type)
        customer = event["customer"]
        user = {
            "email": required_text(customer["email"], "missing_email"),
            **omit_absent(
                {
                    "tel": customer["phone"],
                    "firstname": customer["first_name"],
                    "lastname": customer["last_name"],
                    "country": customer["country"],
                    "city": customer["city"],
                }
            ),
        }
        generic = {
            "orderId": event["order_id"],
            "total": money(event["total"]),
            **omit_absent(
                {
                    "status": event["status"],
                    "coupons": event["coupons"],
                    "phone": customer["phone"],
                    "currency": _currency(event["currency"]),
                    "total_shipping": money(event["shipping_total"]),
                }
            ),
        }
        lines = [
            {"id": line["product_id"], "quantity": line["quantity"]} for line in event["items"]
        ]
        confirmation = {"generic": generic, **omit_absent({"items": lines})}
        return [{"user": user, "event": {"confirmation": confirmation}}]

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        (item,) = items
        key = self.settings.api_key.get_secret_value()
        return post_json(
            f"{self.base_url}/v1/event/", item, headers={"Authorization": key}, secrets=(key,)
        )

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        return accept_unless_refused(body, items)


def _currency(value: str) -> str:
    """The order's currency as the document's "3 letter ISO code", else `invalid_currency`."""
    code = value.strip().upper()
    if _ISO_CURRENCY.fullmatch(code) is None:
        raise MappingError("invalid_currency", "currency is not a 3-letter ISO code")
    return code
