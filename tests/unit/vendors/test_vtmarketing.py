from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import EventType
from bridge.vendors.base import ACCEPTED, Vendor

RecordMaker = Callable[..., dict[str, Any]]

DOCUMENT_SUCCESS = b"""{
  "results": {
    "message": "Event created",
    "email": "Event was created for the specified user"
  }
}"""
DOCUMENT_ERROR = b"""{
  "errors": [
    {
      "message": "Missing event information",
      "description": "Please send event information along with user"
    }
  ]
}"""


@pytest.fixture
def vt(vendor: Callable[..., Vendor[Any]]) -> Vendor[Any]:
    return vendor("vtmarketing")


def _body(vt: Vendor[Any], record: dict[str, Any]) -> dict[str, Any]:
    (item,) = vt.map(EventType.ORDER, record)
    body: dict[str, Any] = orjson.loads(vt.build_request([item]).body)
    return body


@pytest.mark.parametrize(
    ("customer_field", "user_field"),
    [
        ("phone", "tel"),
        ("first_name", "firstname"),
        ("last_name", "lastname"),
        ("country", "country"),
        ("city", "city"),
    ],
)
def test_optional_user_field_is_sent_only_when_set(
    vt: Vendor[Any], order: RecordMaker, customer_field: str, user_field: str
) -> None:
    with_field = _body(vt, order(customer={"email": "a@example.com", customer_field: "X"}))
    without = _body(vt, order(customer={"email": "a@example.com"}))
    assert with_field["user"] == {"email": "a@example.com", user_field: "X"}
    assert without["user"] == {"email": "a@example.com"}


@pytest.mark.parametrize(
    ("fields", "generic"),
    [
        ({"status": "paid"}, {"status": "paid"}),
        ({"coupons": ["A10", "FREESHIP"]}, {"coupons": ["A10", "FREESHIP"]}),
        ({"shipping_total": 4.95}, {"total_shipping": 4.95}),
        ({"shipping_total": 0.0}, {"total_shipping": 0.0}),
        ({"customer": {"email": "a@example.com", "phone": "0760000000"}}, {"phone": "0760000000"}),
    ],
)
def test_optional_generic_field_is_sent_only_when_set(
    vt: Vendor[Any], order: RecordMaker, fields: dict[str, Any], generic: dict[str, Any]
) -> None:
    required = {"orderId": "order-1", "total": 54.9, "currency": "EUR"}
    assert _body(vt, order(**fields))["event"]["confirmation"]["generic"] == {
        **required,
        **generic,
    }
    assert _body(vt, order())["event"]["confirmation"]["generic"] == required


def test_lines_map_to_id_and_quantity(vt: Vendor[Any], order: RecordMaker) -> None:
    lines = [
        {"product_id": "a", "quantity": 1, "price": 2.0},
        {"product_id": "b", "quantity": 3, "price": 5.0},
    ]
    confirmation = _body(vt, order(items=lines))["event"]["confirmation"]
    assert confirmation["items"] == [{"id": "a", "quantity": 1}, {"id": "b", "quantity": 3}]


def test_order_without_lines_leaves_items_out(vt: Vendor[Any], order: RecordMaker) -> None:
    assert "items" not in _body(vt, order(items=[]))["event"]["confirmation"]


@pytest.mark.parametrize("email", [None, ""])
def test_order_without_email_is_skipped(
    vt: Vendor[Any], order: RecordMaker, email: str | None
) -> None:
    with pytest.raises(MappingError) as caught:
        vt.map(EventType.ORDER, order(customer={"email": email, "phone": "1"}))
    assert caught.value.reason == "missing_email"


def test_product_view_is_not_taken(vt: Vendor[Any], product_view: RecordMaker) -> None:
    assert vt.event_types == {EventType.ORDER}
    with pytest.raises(MappingError) as caught:
        vt.map(EventType.PRODUCT_VIEW, product_view())
    assert caught.value.reason == "unsupported_event_type"


def test_api_key_is_the_authorization_header_as_is(vt: Vendor[Any], order: RecordMaker) -> None:
    request = vt.build_request(vt.map(EventType.ORDER, order()))
    assert request.url == "https://api.vtcdn.net/v1/event/"
    assert request.headers["Authorization"] == "vt-test-api-key"
    assert request.headers["Content-Type"] == "application/json"
    assert request.secrets == ("vt-test-api-key",)


@pytest.mark.parametrize("body", [DOCUMENT_SUCCESS, b"", b"OK", b'{"errors": []}'])
def test_reply_without_errors_accepts(vt: Vendor[Any], body: bytes) -> None:
    assert vt.read_reply(body, [{}]) == [ACCEPTED]


def test_document_error_body_refuses_the_request(vt: Vendor[Any]) -> None:
    with pytest.raises(RejectedDeliveryError, match="Missing event information"):
        vt.read_reply(DOCUMENT_ERROR, [{}])


@pytest.mark.parametrize(("currency", "sent"), [("RON", "RON"), ("eur", "EUR"), (" usd ", "USD")])
def test_currency_is_sent_as_an_upper_case_iso_code(
    vt: Vendor[Any], order: RecordMaker, currency: str, sent: str
) -> None:
    # "generic.currency ... Format is 3 letter ISO code: "USD", "EUR", "RON""
    assert (
        _body(vt, order(currency=currency))["event"]["confirmation"]["generic"]["currency"] == sent
    )


@pytest.mark.parametrize("currency", ["", "€", "EURO", "E1R", "US"])
def test_order_whose_currency_is_no_iso_code_is_skipped(
    vt: Vendor[Any], order: RecordMaker, currency: str
) -> None:
    with pytest.raises(MappingError) as caught:
        vt.map(EventType.ORDER, order(currency=currency))
    assert caught.value.reason == "invalid_currency"


def test_only_200_is_success() -> None:
    # "Any status code other than 200 indicates an error occurred."
    from bridge.vendors.vtmarketing import VTmarketing

    assert VTmarketing.accepted_statuses == frozenset({200})


def test_other_vendors_take_any_2xx() -> None:
    from bridge.vendors import vendor_classes

    others = {name: cls.accepted_statuses for name, cls in vendor_classes().items()}
    del others["vtmarketing"]
    assert set(others.values()) == {frozenset(range(200, 300))}
