"""Squeezely: backend purchase events.

Follows ``squeezely-backend-purchase.txt`` (vendor-docs) for the fields, and the facts in
vendor-docs ``README.md`` for the wire: ``POST /v1/track`` with ``X-AUTH-ACCOUNT`` and
``X-AUTH-APIKEY`` headers and ``{"events": [...]}``, so one request carries many events.

Mapping (orders only), one ``Purchase`` event per order:
- ``email`` (required: ``missing_email``), ``orderid``, ``currency``; ``firstname``,
  ``lastname``, ``phone``, ``city``, ``country`` from ``customer`` when set.
- ``products``: ``{"id", "quantity", "price"}`` per line, plus ``language`` (the order's)
  when set, as the document asks for shops with several languages. ``products`` is one of
  the document's minimum fields: an order without lines is skipped (``no_items``).
- each ``attributes`` entry as ``custom_<name>`` (a name already starting with ``custom_`` is
  kept as is); Squeezely drops custom fields not created in its Data Plan.

Reply: ``"success": false`` or a non-empty ``errors`` list refuses the request (the engine
splits the batch to find the event it refuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

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
    required_text,
    unsupported_event_type,
)

CUSTOM_PREFIX = "custom_"


class SqueezelySettings(VendorSettings):
    account_id: str = Field(min_length=1)
    api_key: Secret


class Squeezely(Vendor[SqueezelySettings]):
    name: ClassVar[str] = "squeezely"
    document: ClassVar[str] = "squeezely-backend-purchase.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset({EventType.ORDER})
    batches: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://api.squeezely.tech"
    settings_model: ClassVar[type[VendorSettings]] = SqueezelySettings

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        if event_type is not EventType.ORDER:
            raise unsupported_event_type(event_type)
        customer = event["customer"]
        email = required_text(customer["email"], "missing_email")
        if not event["items"]:
            raise MappingError("no_items")
        language = omit_absent({"language": event["language"]})
        products = [
            {
                "id": line["product_id"],
                "quantity": line["quantity"],
                "price": money(line["price"]),
                **language,
            }
            for line in event["items"]
        ]
        custom = {_custom_name(name): value for name, value in event["attributes"].items()}
        profile = {
            "firstname": customer["first_name"],
            "lastname": customer["last_name"],
            "phone": customer["phone"],
            "city": customer["city"],
            "country": customer["country"],
        }
        return [
            {
                "event": "Purchase",
                "email": email,
                "orderid": event["order_id"],
                "products": products,
                "currency": event["currency"],
                **omit_absent({**profile, **custom}),
            }
        ]

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        key = self.settings.api_key.get_secret_value()
        return post_json(
            f"{self.base_url}/v1/track",
            {"events": list(items)},
            headers={"X-AUTH-ACCOUNT": self.settings.account_id, "X-AUTH-APIKEY": key},
            secrets=(key,),
        )

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        return accept_unless_refused(body, items)


def _custom_name(name: str) -> str:
    already = name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)
    return name if already else CUSTOM_PREFIX + name
