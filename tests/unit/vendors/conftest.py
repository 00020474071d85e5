"""Shared makers for the vendor tests: vendors with test credentials, and complete records.

Records go through `bridge.commands.preview.validate_record`, so every record a test uses is one the
Avro schema accepts, with the defaults a decoded record would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from bridge.commands.preview import validate_record
from bridge.events import EventType
from bridge.vendors import build_vendor
from bridge.vendors.base import Vendor

TEST_SECRETS: dict[str, dict[str, str]] = {
    "quicklizard": {"client_key": "YOUR_CLIENT_KEY"},
    "vtmarketing": {"api_key": "vt-test-api-key"},
    "qubit": {},
    "esputnik": {"api_key": "es-test-api-key"},
    "squeezely": {"api_key": "sq-test-api-key"},
}
"""Credentials for tests; QuickLizard's is the document's placeholder, as it goes in the body."""

REQUIRED_SETTINGS: dict[str, dict[str, Any]] = {
    "qubit": {"tracking_id": "test-tracking-id"},
    "squeezely": {"account_id": "test-account"},
}

MINIMAL_ORDER: dict[str, Any] = {
    "event_id": "evt-1",
    "order_id": "order-1",
    "occurred_at": 1_700_000_000_000,
    "currency": "EUR",
    "total": 54.9,
    "customer": {"email": "jane@example.com"},
    "items": [{"product_id": "sku-1", "quantity": 2, "price": 24.95}],
}

MINIMAL_PRODUCT_VIEW: dict[str, Any] = {
    "event_id": "evt-2",
    "occurred_at": 1_700_000_000_000,
    "product_id": "sku-1",
    "price": 24.95,
    "url": "https://shop.example/sku-1",
}

VendorMaker = Callable[..., Vendor[Any]]
RecordMaker = Callable[..., dict[str, Any]]


def make_vendor(name: str, base_url: str | None = None, **settings: Any) -> Vendor[Any]:
    """The vendor with test credentials and required settings, overridden by `settings`."""
    secrets = {key: SecretStr(value) for key, value in TEST_SECRETS[name].items()}
    merged = {**secrets, **REQUIRED_SETTINGS.get(name, {}), **settings}
    return build_vendor(name, merged, base_url)


def make_record(event_type: EventType, base: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A complete record: `base` with top-level `fields` replaced, then schema defaults."""
    return validate_record({**base, **fields}, event_type)


@pytest.fixture(scope="session")
def vendor() -> VendorMaker:
    return make_vendor


@pytest.fixture(scope="session")
def record() -> Callable[..., dict[str, Any]]:
    """``record(event_type, base, **fields)``: see `make_record`."""
    return make_record


@pytest.fixture(scope="session")
def order() -> RecordMaker:
    """``order(**fields)``: a minimal valid order with `fields` replaced."""
    return lambda **fields: make_record(EventType.ORDER, MINIMAL_ORDER, **fields)


@pytest.fixture(scope="session")
def product_view() -> RecordMaker:
    """``product_view(**fields)``: a minimal valid product view with `fields` replaced."""
    return lambda **fields: make_record(EventType.PRODUCT_VIEW, MINIMAL_PRODUCT_VIEW, **fields)
