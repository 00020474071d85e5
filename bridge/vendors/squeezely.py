"""Squeezely: backend purchase events.

Follows ``squeezely-backend-purchase.txt`` (vendor-docs) for the fields, and the facts in
vendor-docs ``README.md`` for the wire: ``POST /v1/track`` with ``X-AUTH-ACCOUNT`` and
``X-AUTH-APIKEY`` headers and ``{"events": [...]}``, so one request carries many events.

Mapping (orders only), one ``Purchase`` event per order:
- ``email`` (required: ``missing_email``), ``orderid``, ``currency``: the document's minimum
  fields and "Are multiple currencies used? → add currency to the event".
- ``products``: ``{"id", "quantity", "price"}`` per line (``price`` from the README's facts),
  plus ``language`` (the order's) when set, as the document asks for shops with several
  languages. ``products`` is one of the document's minimum fields: an order without lines is
  skipped (``no_items``).
- custom fields only as configured: ``custom_fields`` maps an ``attributes`` key to a
  Squeezely field ``custom_<name>`` ("First you need to create the custom data fields in
  Squeezely"); none by default, since attributes may hold data meant to stay in-house.
- ``firstname``, ``lastname``, ``phone``, ``city``, ``country`` from ``customer`` only with
  ``profile_fields: true`` (off by default): neither the document nor the README names these
  fields, so they are an assumption about Squeezely's field overview, which we do not have.

Reply: ``"success": false`` or a non-empty ``errors`` list refuses the request, and so does a
reply whose counts do not say every event was stored (``ok`` equal to the number sent,
``nok`` 0) or that has no counts at all: an event not accounted for is not delivered. The
engine splits the batch and sends the halves again, down to single events; a purchase sent
again is not counted twice, since Squeezely merges purchases "based on the order id".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import Event, EventType
from bridge.secrets import Secret
from bridge.vendors.base import (
    ACCEPTED,
    HttpRequest,
    Item,
    ItemResult,
    Vendor,
    VendorSettings,
    money,
    omit_absent,
    parse_reply,
    post_json,
    refusal,
    required_text,
    unsupported_event_type,
    vendor_text,
)

CUSTOM_PREFIX = "custom_"


class SqueezelySettings(VendorSettings):
    account_id: str = Field(min_length=1)
    api_key: Secret
    custom_fields: dict[str, str] = Field(default_factory=dict)
    """``attributes`` key -> Squeezely custom field (``custom_<name>``); only these are sent."""
    profile_fields: bool = False
    """Send ``firstname``, ``lastname``, ``phone``, ``city``, ``country``: not in the documents."""

    @field_validator("custom_fields")
    @classmethod
    def _custom_names(cls, fields: dict[str, str]) -> dict[str, str]:
        for target in fields.values():
            if not target.startswith(CUSTOM_PREFIX) or len(target) == len(CUSTOM_PREFIX):
                raise ValueError(f"Squeezely custom fields are named {CUSTOM_PREFIX}<name>")
        if len(set(fields.values())) != len(fields):
            raise ValueError("two attributes map to the same Squeezely field")
        return fields


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
        attributes = event["attributes"]
        custom = {
            target: attributes.get(source) for source, target in self.settings.custom_fields.items()
        }
        profile = (
            {
                "firstname": customer["first_name"],
                "lastname": customer["last_name"],
                "phone": customer["phone"],
                "city": customer["city"],
                "country": customer["country"],
            }
            if self.settings.profile_fields
            else {}
        )
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
        reply = parse_reply(body)
        reason = refusal(reply)
        if reason is not None:
            raise RejectedDeliveryError(f"vendor refused the request: {reason}")
        ok, nok = _count(reply, "ok"), _count(reply, "nok")
        if ok is None or nok is None:
            raise RejectedDeliveryError(f"reply does not count the events: {vendor_text(reply)}")
        if ok != len(items) or nok != 0:
            raise RejectedDeliveryError(f"stored {ok} of {len(items)} events (nok {nok})")
        return [ACCEPTED] * len(items)


def _count(reply: Any, name: str) -> int | None:
    value = reply.get(name) if isinstance(reply, dict) else None
    return value if type(value) is int and value >= 0 else None
