"""What a vendor module provides.

A vendor module holds one `Vendor` subclass and nothing else of consequence: which event types
it takes, whether its API takes batches, how a decoded event becomes the vendor's JSON
(`map`, pure: no clock, no environment, no network), how a list of mapped items becomes one
HTTP request (`build_request`), and how a 2xx reply is read into one result per item
(`read_reply`). Everything with I/O (sending, retrying, dead-lettering) belongs to the engine.

Adding a vendor means adding a module in `bridge/vendors/` with a `Vendor` subclass and a
config block under `vendors:`; the registry finds it by itself.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, overload

import orjson
from pydantic import BaseModel, ConfigDict

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import Event, EventType

Item = dict[str, Any]
"""One JSON object in the vendor's wire format. A record maps to one or more items."""


class VendorSettings(BaseModel):
    """Base of each vendor's own settings block (credentials and options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """Exactly what goes on the wire; `secrets` lists values to mask wherever it is shown."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What the vendor said of one item of a request."""

    ok: bool
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())


ACCEPTED = ItemResult(ok=True)

SettingsT = TypeVar("SettingsT", bound=VendorSettings)


class Vendor(ABC, Generic[SettingsT]):
    """One marketing vendor's HTTP API."""

    name: ClassVar[str]
    """Config key and metric label, e.g. ``qubit``."""
    document: ClassVar[str]
    """The vendor's own API document this module follows."""
    event_types: ClassVar[frozenset[EventType]]
    batches: ClassVar[bool]
    """True when one request carries many items."""
    default_base_url: ClassVar[str]
    settings_model: ClassVar[type[VendorSettings]]
    accepted_statuses: ClassVar[frozenset[int]] = frozenset(range(200, 300))
    """The statuses whose body `read_reply` reads; any other 2xx is an error of the request
    (a vendor whose document says so, e.g. "Any status code other than 200 indicates an error")."""

    def __init__(self, settings: SettingsT, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def map(self, event_type: EventType, event: Event) -> list[Item]:
        """The vendor's items for one event; raise `MappingError(reason)` if it cannot take it."""

    @abstractmethod
    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        """One HTTP request carrying `items` (exactly one item for non-batching vendors)."""

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        """One result per item, read from a 2xx reply's body.

        Raise `RejectedDeliveryError` when the body refuses the request as a whole (the engine
        then splits the batch). The default accepts every item: for vendors whose 2xx says
        nothing per item.
        """
        return [ACCEPTED] * len(items)


# Small pure helpers shared by the vendor modules: building items, requests and reading replies.


def is_absent(value: Any) -> bool:
    """True for None, a blank string, an empty list and an empty object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return bool(value == [] or value == {})


def omit_absent(fields: Mapping[str, Any]) -> Item:
    """`fields` without the absent ones (`is_absent`): vendors never receive nulls."""
    return {key: value for key, value in fields.items() if not is_absent(value)}


def required_text(value: Any, reason: str) -> str:
    """`value` if it is a non-blank string, else `MappingError(reason)`."""
    if isinstance(value, str) and not is_absent(value):
        return value
    raise MappingError(reason)


@overload
def money(value: float) -> float: ...
@overload
def money(value: float | None) -> float | None: ...
def money(value: float | None) -> float | None:
    """`value` if it is absent or a finite amount, else a `MappingError`.

    JSON has no NaN or infinity: orjson would write them as null.
    """
    if value is not None and not math.isfinite(value):
        raise MappingError("invalid_amount")
    return value


def unsupported_event_type(event_type: EventType) -> MappingError:
    """The error for an event type the vendor does not take."""
    return MappingError("unsupported_event_type", f"no mapping for {event_type.value} events")


def post_json(
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (),
) -> HttpRequest:
    """A POST of `payload` encoded as JSON, with `headers` added to the Content-Type."""
    return HttpRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=orjson.dumps(payload),
        secrets=secrets,
    )


_MAX_VENDOR_TEXT = 200


def vendor_text(value: Any) -> str:
    """A vendor's message, as a string of bounded length (it goes to logs and headers)."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _MAX_VENDOR_TEXT else text[: _MAX_VENDOR_TEXT - 3] + "..."


def parse_reply(body: bytes) -> Any:
    """A reply body's JSON value; `RejectedDeliveryError` if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RejectedDeliveryError("reply body is not JSON") from None


def refusal(reply: Any) -> str | None:
    """What a JSON reply says against the request as a whole, or None if it says nothing.

    A reply refuses with a non-empty ``errors`` (a list, usually) or ``error``, or with
    ``"success": false``.
    """
    if not isinstance(reply, Mapping):
        return None
    for key in ("errors", "error"):
        said = reply.get(key)
        if said is not False and not is_absent(said):
            return vendor_text(said[0] if isinstance(said, list) else said)
    if reply.get("success") is False:
        return vendor_text(reply.get("message") or "success: false")
    return None


def accept_unless_refused(body: bytes, items: Sequence[Item]) -> list[ItemResult]:
    """Every item accepted, unless the body is JSON that refuses the request (`refusal`).

    For vendors whose 2xx reply says nothing per item; an empty or non-JSON body accepts.
    """
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        reply = None
    reason = refusal(reply)
    if reason is not None:
        raise RejectedDeliveryError(f"vendor refused the request: {reason}")
    return [ACCEPTED] * len(items)
