"""Qubit: QProtocol offline conversion events.

Follows ``qubit-offline-conversions.txt`` (vendor-docs). ``POST /events/{tracking_id}`` with
``{"events": [...]}``: one request carries many events.

Mapping (orders only), one transaction summary event per order:
- ``context.id``: ``vendor_ids["qubit"]``, the Qubit visitor cookie id (required:
  ``missing_visitor_id``; our own ``visitor_id`` is not Qubit's and is not used).
- ``meta.type``: ``type_prefix`` + the vertical's transaction event (table below);
  ``meta.ts``: ``occurred_at`` (epoch ms); ``meta.url``: ``page_url`` when set;
  ``meta.source``: the ``source`` setting.
- ``transaction.id``: ``order_id``.
- ``<amount field>.total``: ``{"value": total, "currency": currency}``.

Reply: ``{"results": [...]}``, one per event in order. ``status`` ``"success"`` is accepted
(with its ``warnings``); ``"failed"`` (the example) and ``"error"`` (the text) fail the
event with its ``error``. A reply without a results list of the right length refuses the
request; a ``{"status": 5xx, "message": ...}`` reply (an upstream failure, per the document)
is a transient error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from bridge import __version__
from bridge.errors import TRANSIENT_STATUSES, RejectedDeliveryError, TransientDeliveryError
from bridge.events import Event, EventType
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

Vertical = Literal["ecommerce", "egaming", "publisher", "logistics", "travel", "finance"]

TRANSACTIONS: dict[str, tuple[str, str]] = {
    "ecommerce": ("ecBasketTransactionSummary", "basket"),
    "egaming": ("egBetslipTransactionSummary", "betslip"),
    "publisher": ("pbBasketTransactionSummary", "basket"),
    "logistics": ("loBasketTransactionSummary", "basket"),
    "travel": ("trPackageTransactionSummary", "package"),
    "finance": ("fiBasketTransactionSummary", "basket"),
}
"""Vertical -> (transaction event, transaction amount field), the document's table."""


class QubitSettings(VendorSettings):
    tracking_id: str = Field(min_length=1)
    vertical: Vertical = "ecommerce"
    type_prefix: str = ""
    """A company prefix such as ``someco.`` (``someco.trPackageTransactionSummary``)."""
    source: str = Field(default=f"bridge@{__version__}", min_length=1)

    @field_validator("type_prefix")
    @classmethod
    def _prefix_ends_with_dot(cls, value: str) -> str:
        if value and not value.endswith("."):
            raise ValueError('must be empty or end with "." (for example "someco.")')
        return value


class Qubit(Vendor[QubitSettings]):
    name: ClassVar[str] = "qubit"
    document: ClassVar[str] = "qubit-offline-conversions.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset({EventType.ORDER})
    batches: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://offline-conversions.qubit.com"
    settings_model: ClassVar[type[VendorSettings]] = QubitSettings

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        if event_type is not EventType.ORDER:
            raise unsupported_event_type(event_type)
        visitor = required_text(event["vendor_ids"].get("qubit"), "missing_visitor_id")
        transaction_event, amount_field = TRANSACTIONS[self.settings.vertical]
        meta = omit_absent(
            {
                "type": self.settings.type_prefix + transaction_event,
                "ts": event["occurred_at"],
                "url": event["page_url"],
                "source": self.settings.source,
            }
        )
        return [
            {
                "context": {"id": visitor},
                "meta": meta,
                "transaction": {"id": event["order_id"]},
                amount_field: {
                    "total": {"value": money(event["total"]), "currency": event["currency"]}
                },
            }
        ]

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        tracking_id = quote(self.settings.tracking_id, safe="")
        return post_json(f"{self.base_url}/events/{tracking_id}", {"events": list(items)})

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        reply = parse_reply(body)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list):
            status = reply.get("status") if isinstance(reply, dict) else None
            message = f"reply without results: {vendor_text(reply)}"
            if isinstance(status, int) and (status >= 500 or status in TRANSIENT_STATUSES):
                raise TransientDeliveryError(message, status=status)
            raise RejectedDeliveryError(message, status=status if isinstance(status, int) else None)
        if len(results) != len(items):
            raise RejectedDeliveryError(f"{len(results)} results for {len(items)} events")
        return [_result(entry) for entry in results]


def _result(entry: Any) -> ItemResult:
    if not isinstance(entry, dict):
        raise RejectedDeliveryError(f"result is not an object: {vendor_text(entry)}")
    warnings = entry.get("warnings") or []
    if not isinstance(warnings, list):
        warnings = [warnings]
    if entry.get("status") == "success":
        if not warnings:
            return ACCEPTED
        return ItemResult(ok=True, warnings=tuple(vendor_text(text) for text in warnings))
    return ItemResult(
        ok=False, error=vendor_text(entry.get("error") or entry.get("status") or "failed")
    )
