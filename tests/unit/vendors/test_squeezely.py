from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import EventType
from bridge.vendors.base import ACCEPTED, Vendor

RecordMaker = Callable[..., dict[str, Any]]


@pytest.fixture
def squeezely(vendor: Callable[..., Vendor[Any]]) -> Vendor[Any]:
    return vendor("squeezely")


def _purchase(squeezely: Vendor[Any], record: dict[str, Any]) -> dict[str, Any]:
    (item,) = squeezely.map(EventType.ORDER, record)
    return item


@pytest.mark.parametrize(
    ("customer_field", "field"),
    [
        ("first_name", "firstname"),
        ("last_name", "lastname"),
        ("phone", "phone"),
        ("city", "city"),
        ("country", "country"),
    ],
)
def test_profile_field_is_sent_only_when_set(
    squeezely: Vendor[Any], order: RecordMaker, customer_field: str, field: str
) -> None:
    with_field = _purchase(squeezely, order(customer={"email": "a@x.io", customer_field: "V"}))
    without = _purchase(squeezely, order(customer={"email": "a@x.io"}))
    assert with_field[field] == "V"
    assert field not in without
    assert set(without) == {"event", "email", "orderid", "products", "currency"}


@pytest.mark.parametrize(("language", "expected"), [("de", {"language": "de"}), (None, {})])
def test_products_carry_the_language_when_set(
    squeezely: Vendor[Any], order: RecordMaker, language: str | None, expected: dict[str, str]
) -> None:
    lines = [
        {"product_id": "a", "quantity": 2, "price": 3.5},
        {"product_id": "b", "quantity": 1, "price": 10.0},
    ]
    purchase = _purchase(squeezely, order(items=lines, language=language))
    assert purchase["products"] == [
        {"id": "a", "quantity": 2, "price": 3.5, **expected},
        {"id": "b", "quantity": 1, "price": 10.0, **expected},
    ]


def test_attributes_become_custom_fields(squeezely: Vendor[Any], order: RecordMaker) -> None:
    record = order(attributes={"province": "Utrecht", "custom_tier": "gold"})
    purchase = _purchase(squeezely, record)
    assert purchase["custom_province"] == "Utrecht"
    assert purchase["custom_tier"] == "gold"
    assert "province" not in purchase
    assert "custom_custom_tier" not in purchase


@pytest.mark.parametrize("email", [None, "", " "])
def test_order_without_email_is_skipped(
    squeezely: Vendor[Any], order: RecordMaker, email: str | None
) -> None:
    with pytest.raises(MappingError) as caught:
        squeezely.map(EventType.ORDER, order(customer={"email": email}))
    assert caught.value.reason == "missing_email"


def test_order_without_lines_is_skipped(squeezely: Vendor[Any], order: RecordMaker) -> None:
    with pytest.raises(MappingError) as caught:
        squeezely.map(EventType.ORDER, order(items=[]))
    assert caught.value.reason == "no_items"


def test_product_view_is_not_taken(squeezely: Vendor[Any], product_view: RecordMaker) -> None:
    assert squeezely.event_types == {EventType.ORDER}
    with pytest.raises(MappingError) as caught:
        squeezely.map(EventType.PRODUCT_VIEW, product_view(customer={"email": "a@x.io"}))
    assert caught.value.reason == "unsupported_event_type"


def test_request_authenticates_with_account_and_key_headers(squeezely: Vendor[Any]) -> None:
    request = squeezely.build_request([{"n": 1}, {"n": 2}])
    assert request.url == "https://api.squeezely.tech/v1/track"
    assert request.headers == {
        "Content-Type": "application/json",
        "X-AUTH-ACCOUNT": "test-account",
        "X-AUTH-APIKEY": "sq-test-api-key",
    }
    assert request.secrets == ("sq-test-api-key",)
    assert orjson.loads(request.body) == {"events": [{"n": 1}, {"n": 2}]}


@pytest.mark.parametrize(
    "body", [b'{"success": true, "ok": 2, "nok": 0, "errors": []}', b"", b'{"success": true}']
)
def test_successful_reply_accepts_every_event(squeezely: Vendor[Any], body: bytes) -> None:
    assert squeezely.read_reply(body, [{}, {}]) == [ACCEPTED, ACCEPTED]


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": false, "errors": ["event 1: email is not an address"]}',
        b'{"success": false}',
        b'{"errors": ["event 0: products must not be empty"]}',
    ],
)
def test_refusing_reply_refuses_the_request(squeezely: Vendor[Any], body: bytes) -> None:
    with pytest.raises(RejectedDeliveryError):
        squeezely.read_reply(body, [{}, {}])
