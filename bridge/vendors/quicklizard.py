"""QuickLizard: server-to-server SDK events.

Follows ``quicklizard-server-to-server.txt`` (vendor-docs). The body is a JSON array of event
objects, so one request carries many.

Mapping:
- product view -> one ``"view"`` event: ``price`` is the shelf price, ``permalink`` the page
  URL (required: ``missing_url``).
- order -> one ``"conversion"`` event per order line with the line's unit sale ``price``;
  an order without lines is skipped (``no_items``).
- ``vid`` is ``vendor_ids["quicklizard"]``, else ``visitor_id``; omitted when neither is set
  (the document calls it optional).
- ``client_key`` (a secret) goes in every event, as the document asks.

Reply: ``{"processed": [...], "failed": [...], "errors": [...]}``. ``processed`` and
``failed`` echo event objects as received; ``errors`` entries are ``{"index": i, "error":
msg}`` with ``i`` the event's position in the request (our sandbox's shape; the document
leaves the entries unspecified). An item equal to an entry of ``failed`` failed; since equal
events may legitimately repeat in a batch, entries are matched with their multiplicity. A
reply that cannot be read, or whose ``failed``/``errors`` cannot be attributed to items of
the request, refuses the request as a whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

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
    required_text,
    unsupported_event_type,
    vendor_text,
)


class QuickLizardSettings(VendorSettings):
    client_key: Secret


class QuickLizard(Vendor[QuickLizardSettings]):
    name: ClassVar[str] = "quicklizard"
    document: ClassVar[str] = "quicklizard-server-to-server.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset(EventType)
    batches: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://evt.quicklizard.com"
    settings_model: ClassVar[type[VendorSettings]] = QuickLizardSettings

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        vid = event["vendor_ids"].get("quicklizard") or event["visitor_id"]
        if event_type is EventType.PRODUCT_VIEW:
            url = required_text(event["url"], "missing_url")
            return [self._event("view", event["product_id"], event["price"], vid, url)]
        if event_type is EventType.ORDER:
            if not event["items"]:
                raise MappingError("no_items")
            return [
                self._event("conversion", line["product_id"], line["price"], vid)
                for line in event["items"]
            ]
        raise unsupported_event_type(event_type)

    def _event(
        self, name: str, product_id: str, price: float, vid: str | None, url: str | None = None
    ) -> Item:
        return {
            "client_key": self.settings.client_key.get_secret_value(),
            "price": money(price),
            "product_id": product_id,
            "event": name,
            **omit_absent({"permalink": url, "vid": vid}),
        }

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        return post_json(
            f"{self.base_url}/events",
            list(items),
            secrets=(self.settings.client_key.get_secret_value(),),
        )

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        reply = parse_reply(body)
        if not isinstance(reply, dict):
            raise RejectedDeliveryError("reply is not a JSON object")
        failed = reply.get("failed") or []
        errors = reply.get("errors") or []
        if not isinstance(failed, list) or not isinstance(errors, list):
            raise RejectedDeliveryError("reply without failed and errors lists")
        if not failed and not errors:
            return [ACCEPTED] * len(items)  # the common case; matching costs per item
        unmatched = Counter(_json_key(entry) for entry in failed)
        keys = [_json_key(item) for item in items]
        messages: dict[int, list[str]] = {}
        # Errors name their event by index: those events take their failed entries first.
        for error in errors:
            index = error.get("index") if isinstance(error, dict) else None
            if type(index) is not int or not 0 <= index < len(items):
                raise RejectedDeliveryError(f"error not attributable: {vendor_text(error)}")
            if index not in messages:
                if unmatched[keys[index]] == 0:
                    raise RejectedDeliveryError(f"error on a processed event: {vendor_text(error)}")
                unmatched[keys[index]] -= 1
                messages[index] = []
            messages[index].append(vendor_text(error.get("error") or "failed"))
        # The remaining failed entries fall to equal events in request order.
        for index, key in enumerate(keys):
            if index not in messages and unmatched[key] > 0:
                unmatched[key] -= 1
                messages[index] = ["failed"]
        if +unmatched:
            raise RejectedDeliveryError("reply lists failed events that were not sent")
        return [
            ItemResult(ok=False, error=vendor_text("; ".join(messages[index])))
            if index in messages
            else ACCEPTED
            for index in range(len(items))
        ]


def _json_key(value: Any) -> Any:
    """A hashable key equal for equal JSON values (1 equals 1.0; true does not equal 1)."""
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)
