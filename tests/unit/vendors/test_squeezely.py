from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

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
def test_profile_field_is_sent_only_when_switched_on_and_set(
    vendor: Callable[..., Vendor[Any]], order: RecordMaker, customer_field: str, field: str
) -> None:
    on = vendor("squeezely", profile_fields=True)
    with_field = _purchase(on, order(customer={"email": "a@x.io", customer_field: "V"}))
    without = _purchase(on, order(customer={"email": "a@x.io"}))
    assert with_field[field] == "V"
    assert field not in without
    assert set(without) == {"event", "email", "orderid", "products", "currency"}


def test_profile_fields_are_off_by_default(squeezely: Vendor[Any], order: RecordMaker) -> None:
    customer = {
        "email": "a@x.io",
        "first_name": "Ana",
        "last_name": "Jansen",
        "phone": "+31612345678",
        "city": "Utrecht",
        "country": "NL",
    }
    purchase = _purchase(squeezely, order(customer=customer))
    assert set(purchase) == {"event", "email", "orderid", "products", "currency"}


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


def test_attributes_are_not_sent_by_default(squeezely: Vendor[Any], order: RecordMaker) -> None:
    record = order(attributes={"province": "Utrecht", "custom_tier": "gold", "margin": "0.4"})
    purchase = _purchase(squeezely, record)
    assert set(purchase) == {"event", "email", "orderid", "products", "currency"}


def test_only_allowlisted_attributes_become_custom_fields(
    vendor: Callable[..., Vendor[Any]], order: RecordMaker
) -> None:
    # The document's example: "in the case of the custom data field custom_province,
    # custom_province must be sent along".
    squeezely = vendor("squeezely", custom_fields={"province": "custom_province"})
    record = order(attributes={"province": "Utrecht", "margin": "0.4"})
    purchase = _purchase(squeezely, record)
    assert purchase["custom_province"] == "Utrecht"
    assert set(purchase) == {"event", "email", "orderid", "products", "currency", "custom_province"}


def test_allowlisted_attribute_missing_from_the_order_is_left_out(
    vendor: Callable[..., Vendor[Any]], order: RecordMaker
) -> None:
    squeezely = vendor("squeezely", custom_fields={"province": "custom_province"})
    assert "custom_province" not in _purchase(squeezely, order(attributes={}))


@pytest.mark.parametrize(
    "custom_fields",
    [{"province": "province"}, {"province": "custom_"}, {"a": "custom_x", "b": "custom_x"}],
)
def test_custom_field_names_must_be_squeezely_custom_fields(
    vendor: Callable[..., Vendor[Any]], custom_fields: dict[str, str]
) -> None:
    with pytest.raises(ValidationError):
        vendor("squeezely", custom_fields=custom_fields)


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


def test_reply_counting_every_event_stored_accepts_all(squeezely: Vendor[Any]) -> None:
    body = b'{"success": true, "ok": 2, "nok": 0, "errors": []}'
    assert squeezely.read_reply(body, [{}, {}]) == [ACCEPTED, ACCEPTED]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"success": true, "ok": 1, "nok": 1, "errors": []}', id="nok-without-errors"
        ),
        pytest.param(b'{"success": true, "ok": 1, "nok": 0, "errors": []}', id="one-unaccounted"),
        pytest.param(b'{"success": true, "ok": 3, "nok": 0, "errors": []}', id="more-than-sent"),
        pytest.param(b'{"success": true}', id="no-counts"),
        pytest.param(b'{"success": true, "ok": "2", "nok": 0}', id="count-not-a-number"),
        pytest.param(b'{"success": true, "ok": true, "nok": 0}', id="count-boolean"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"OK", id="not-json"),
    ],
)
def test_reply_not_accounting_for_every_event_refuses_the_request(
    squeezely: Vendor[Any], body: bytes
) -> None:
    with pytest.raises(RejectedDeliveryError):
        squeezely.read_reply(body, [{}, {}])


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": false, "errors": ["event 1: email is not an address"]}',
        b'{"success": false}',
        b'{"errors": ["event 0: products must not be empty"]}',
        b'{"success": true, "ok": 2, "nok": 0, "errors": ["event 1: unknown product"]}',
    ],
)
def test_refusing_reply_refuses_the_request(squeezely: Vendor[Any], body: bytes) -> None:
    with pytest.raises(RejectedDeliveryError):
        squeezely.read_reply(body, [{}, {}])
