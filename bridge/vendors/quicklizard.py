"""QuickLizard: server-to-server SDK events.

Follows ``quicklizard-server-to-server.txt`` (vendor-docs). The body is a JSON array of event
objects ("The POST payload is a JSON-formatted array of event objects"), so one request
carries many.

Mapping:
- product view -> one ``"view"`` event: ``price`` is the shelf price, ``permalink`` the page
  URL (required: ``missing_url``).
- order -> ``"conversion"`` events at the line's unit sale ``price``: one per unit bought
  (``conversions: per_unit``, the default) or one per order line (``per_line``). The document
  has no quantity field and says "more than one product that was bought ... therefore will
  send multiple conversion events". Lines with a quantity below 1 bought nothing and send
  nothing; an order with nothing bought is skipped (``no_items``).
- ``vid`` is ``vendor_ids["quicklizard"]``, else ``visitor_id``; omitted when neither is set
  (the document calls it optional).
- ``client_key`` (a secret) goes in every event, as the document asks.

Reply, as the document shows it: ``{"processed": [...], "failed": [...], "errors": [...]}``,
``processed`` and ``failed`` holding event objects. Each event sent is matched to an equal
(as JSON) echoed entry, equal events with their multiplicity: one in ``processed`` is
delivered, one in ``failed`` fails with the ``errors`` that name it. ``errors`` entries may
carry an ``index`` (the event's position in the request), which then decides which of equal
events failed; entries without one are attached to the failed events as they are. An event
the reply does not account for is failed with an excerpt of the reply: it goes to the dead
letters and is never sent again, since QuickLizard events carry no id and a resend that had
been processed would count the conversion twice. Nothing here raises for a refusal: a raise
would make the engine split the batch and re-send events the reply counted as processed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import orjson

from bridge.errors import MappingError
from bridge.events import Event, EventType
from bridge.secrets import Secret
from bridge.vendors.base import (
    ACCEPTED,
    HttpRequest,
    Item,
    ItemResult,
    Vendor,
    VendorSettings,
    is_absent,
    money,
    post_json,
    required_text,
    unsupported_event_type,
    vendor_text,
)

MASK = "***"


class QuickLizardSettings(VendorSettings):
    client_key: Secret
    conversions: Literal["per_unit", "per_line"] = "per_unit"
    """One conversion event per unit bought, or one per order line whatever its quantity."""


class QuickLizard(Vendor[QuickLizardSettings]):
    name: ClassVar[str] = "quicklizard"
    document: ClassVar[str] = "quicklizard-server-to-server.txt"
    event_types: ClassVar[frozenset[EventType]] = frozenset(EventType)
    batches: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://evt.quicklizard.com"
    settings_model: ClassVar[type[VendorSettings]] = QuickLizardSettings

    def __init__(self, settings: QuickLizardSettings, base_url: str) -> None:
        super().__init__(settings, base_url)
        self._client_key = settings.client_key.get_secret_value()

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        vid = event["vendor_ids"].get("quicklizard") or event["visitor_id"]
        if event_type is EventType.PRODUCT_VIEW:
            url = required_text(event["url"], "missing_url")
            return [self._event("view", event["product_id"], event["price"], vid, url)]
        if event_type is EventType.ORDER:
            per_unit = self.settings.conversions == "per_unit"
            conversions = [
                self._event("conversion", line["product_id"], line["price"], vid)
                for line in event["items"]
                if line["quantity"] >= 1
                for _ in range(line["quantity"] if per_unit else 1)
            ]
            if not conversions:
                raise MappingError("no_items")
            return conversions
        raise unsupported_event_type(event_type)

    def _event(
        self, name: str, product_id: str, price: float, vid: str | None, url: str | None = None
    ) -> Item:
        # Built field by field rather than through `omit_absent`: it runs once per event.
        item: Item = {
            "client_key": self._client_key,
            "price": money(price),
            "product_id": product_id,
            "event": name,
        }
        if url is not None:  # `map` passed it through `required_text`: never blank
            item["permalink"] = url
        if not is_absent(vid):
            item["vid"] = vid
        return item

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        return post_json(
            f"{self.base_url}/events",
            list(items),
            secrets=(self.settings.client_key.get_secret_value(),),
        )

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        if _echoes_all(body, items):
            return [ACCEPTED] * len(items)
        try:
            reply = orjson.loads(body)
        except orjson.JSONDecodeError:
            reply = None
        processed, failed = _entries(reply, "processed"), _entries(reply, "failed")
        if processed is None or failed is None:
            text = body.decode("utf-8", "replace").strip() or "empty body"
            unreadable = ItemResult(ok=False, error=self._excerpt("unreadable reply", text))
            return [unreadable] * len(items)
        errors = _entries(reply, "errors") or []
        if not failed and not errors and orjson.dumps(processed) == orjson.dumps(list(items)):
            # Everything echoed as sent, in another layout than `_echoes_all` expects: compared
            # as JSON text in C (which keeps 1, 1.0 and true apart).
            return [ACCEPTED] * len(items)
        return self._attribute(processed, failed, errors, [_json_key(item) for item in items])

    def _attribute(
        self, processed: list[Any], failed: list[Any], errors: list[Any], keys: list[Any]
    ) -> list[ItemResult]:
        named: dict[int, list[str]] = {}
        loose: list[str] = []
        for error in errors:
            index = error.get("index") if isinstance(error, dict) else None
            if type(index) is int and 0 <= index < len(keys):
                named.setdefault(index, []).append(_error_text(error))
            else:
                loose.append(_error_text(error))
        # Events an indexed error names take the failed entries equal to them first, so that
        # of equal events the named one fails; then equal events in request order.
        failed_left = Counter(_json_key(entry) for entry in failed)
        failed_at: set[int] = set()
        for index in [*named, *range(len(keys))]:
            if index not in failed_at and failed_left[keys[index]] > 0:
                failed_left[keys[index]] -= 1
                failed_at.add(index)
        processed_left = Counter(_json_key(entry) for entry in processed)
        unlisted = self._unlisted(processed, failed, keys, loose)
        results: list[ItemResult] = []
        for index, key in enumerate(keys):
            if index not in failed_at and processed_left[key] > 0:
                processed_left[key] -= 1
                # Counted by QuickLizard: delivered, whatever an error entry says beside it.
                warnings = tuple(named.get(index, ()))
                results.append(ItemResult(ok=True, warnings=warnings) if warnings else ACCEPTED)
            elif index in failed_at or index in named:
                messages = named.get(index) or loose or ["failed"]
                results.append(ItemResult(ok=False, error=vendor_text("; ".join(messages))))
            else:
                results.append(ItemResult(ok=False, error=unlisted))
        return results

    def _unlisted(
        self, processed: list[Any], failed: list[Any], keys: list[Any], loose: list[str]
    ) -> str:
        """The message for an event the reply does not account for: counts, then what the
        reply lists that matches nothing sent (an echo QuickLizard changed, say)."""
        sent = Counter(keys)
        strangers = []
        for entry in [*failed, *processed]:
            key = _json_key(entry)
            if sent[key] > 0:
                sent[key] -= 1
            else:
                strangers.append(entry)
        what = (
            f"reply lists {len(processed)} processed and {len(failed)} failed of "
            f"{len(keys)} events sent, not this one"
        )
        return self._excerpt(what, {"unmatched": strangers, "errors": loose})

    def _excerpt(self, what: str, reply: Any) -> str:
        """`what` and the start of the reply, without the client key the reply may echo."""
        text = reply if isinstance(reply, str) else orjson.dumps(_masked(reply)).decode()
        key = self.settings.client_key.get_secret_value()
        return vendor_text(f"{what}: {text.replace(key, MASK) if key else text}")


_ECHO_HEAD = b'{"processed":'
_ECHO_TAIL = b',"failed":[],"errors":[]}'


def _echoes_all(body: bytes, items: Sequence[Item]) -> bool:
    """True when `body` is the reply that processed every event as sent, written compactly in
    the document's field order: then the events are compared as bytes, without parsing the
    reply (which would build every echoed event as a Python object). Any other reply is
    parsed and read event by event."""
    end = len(body) - len(_ECHO_TAIL)
    return (
        body.startswith(_ECHO_HEAD)
        and body.endswith(_ECHO_TAIL)
        and memoryview(body)[len(_ECHO_HEAD) : end] == orjson.dumps(list(items))
    )


def _entries(reply: Any, name: str) -> list[Any] | None:
    """The reply's array `name`; [] when the object leaves it out, None when not an object."""
    if not isinstance(reply, dict):
        return None
    value = reply.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("error") or error.get("message")
        if isinstance(message, str) and message.strip():
            return vendor_text(message)
        error = {key: value for key, value in error.items() if key != "index"}
    return vendor_text(_masked(error))


def _masked(value: Any) -> Any:
    """`value` with every ``client_key`` replaced, for messages quoting echoed events."""
    if isinstance(value, dict):
        return {k: MASK if k == "client_key" else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


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
