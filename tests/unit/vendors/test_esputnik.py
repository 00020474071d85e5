from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import EventType
from bridge.vendors.base import ACCEPTED, Vendor

RecordMaker = Callable[..., dict[str, Any]]
VendorMaker = Callable[..., Vendor[Any]]


@pytest.fixture
def esputnik(vendor: VendorMaker) -> Vendor[Any]:
    return vendor("esputnik")


def _params(item: dict[str, Any]) -> dict[str, Any]:
    return {param["name"]: param["value"] for param in item["params"]}


@pytest.mark.parametrize(
    ("vendor_ids", "customer", "key_value"),
    [
        ({"esputnik": "77"}, {"customer_id": "c", "email": "e@x.io", "phone": "1"}, "77"),
        ({}, {"customer_id": "c", "email": "e@x.io", "phone": "1"}, "c"),
        ({}, {"email": "e@x.io", "phone": "1"}, "e@x.io"),
        ({}, {"phone": "+380501234567"}, "+380501234567"),
    ],
)
def test_key_value_is_the_highest_priority_locator(
    esputnik: Vendor[Any],
    order: RecordMaker,
    vendor_ids: dict[str, str],
    customer: dict[str, str],
    key_value: str,
) -> None:
    (item,) = esputnik.map(EventType.ORDER, order(vendor_ids=vendor_ids, customer=customer))
    assert item["keyValue"] == key_value


def test_every_locator_is_a_param(esputnik: Vendor[Any], order: RecordMaker) -> None:
    record = order(
        vendor_ids={"esputnik": "77"},
        customer={"customer_id": "c", "email": "e@x.io", "phone": "+380501234567"},
    )
    (item,) = esputnik.map(EventType.ORDER, record)
    names = [param["name"] for param in item["params"]]
    assert names[:4] == ["phone", "email", "externalCustomerId", "contactId"]
    assert {
        "contactId": "77",
        "externalCustomerId": "c",
        "email": "e@x.io",
        "phone": "+380501234567",
    }.items() <= (_params(item).items())


@pytest.mark.parametrize("event_type", list(EventType))
def test_record_without_any_locator_is_skipped(
    esputnik: Vendor[Any], order: RecordMaker, product_view: RecordMaker, event_type: EventType
) -> None:
    record = order(customer={"email": ""}) if event_type is EventType.ORDER else product_view()
    with pytest.raises(MappingError) as caught:
        esputnik.map(event_type, record)
    assert caught.value.reason == "missing_locator"


@pytest.mark.parametrize(
    ("phone", "country", "sent"),
    [
        pytest.param("380501234567", None, "+380501234567", id="document-example-digits"),
        pytest.param("+380 50 123 45 67", None, "+380501234567", id="spaced-international"),
        pytest.param("050 123 45 67", "UA", "+380501234567", id="national-in-country"),
        pytest.param("06-12345678", "nl", "+31612345678", id="national-lower-case-country"),
        pytest.param("0031 6 12345678", "NL", "+31612345678", id="international-prefix-00"),
    ],
)
def test_phone_is_sent_in_e164(
    esputnik: Vendor[Any], order: RecordMaker, phone: str, country: str | None, sent: str
) -> None:
    (item,) = esputnik.map(EventType.ORDER, order(customer={"phone": phone, "country": country}))
    assert _params(item)["phone"] == sent
    assert item["keyValue"] == sent


def test_phone_format_digits_writes_the_document_example_form(
    vendor: VendorMaker, order: RecordMaker
) -> None:
    # The document's pageViewed example: {"name": "phone", "value": "380501234567"}.
    esputnik = vendor("esputnik", phone_format="digits")
    (item,) = esputnik.map(EventType.ORDER, order(customer={"phone": "+380501234567"}))
    assert _params(item)["phone"] == "380501234567"


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        pytest.param("411786452", None, id="document-example-no-valid-reading"),
        pytest.param("0612345678", None, id="national-without-country"),
        pytest.param("0612345678", "Netherlands", id="country-not-a-code"),
        pytest.param("12", "NL", id="too-short"),
        pytest.param("call me", "NL", id="not-a-number"),
    ],
)
def test_phone_that_cannot_be_normalised_is_not_a_locator(
    esputnik: Vendor[Any], order: RecordMaker, phone: str, country: str | None
) -> None:
    with_email = order(customer={"phone": phone, "country": country, "email": "e@x.io"})
    (item,) = esputnik.map(EventType.ORDER, with_email)
    assert "phone" not in _params(item)
    assert item["keyValue"] == "e@x.io"
    with pytest.raises(MappingError) as caught:
        esputnik.map(EventType.ORDER, order(customer={"phone": phone, "country": country}))
    assert caught.value.reason == "missing_locator"


def test_default_region_reads_national_numbers_without_a_country_code(
    vendor: VendorMaker, order: RecordMaker
) -> None:
    esputnik = vendor("esputnik", phone_default_region="nl")
    for country in (None, "Netherlands"):
        record = order(customer={"phone": "0612345678", "country": country})
        (item,) = esputnik.map(EventType.ORDER, record)
        assert _params(item)["phone"] == "+31612345678"
    # The customer's own country code wins over the default region.
    (item,) = esputnik.map(
        EventType.ORDER, order(customer={"phone": "050 123 45 67", "country": "UA"})
    )
    assert _params(item)["phone"] == "+380501234567"


@pytest.mark.parametrize("settings", [{"phone_default_region": "XX"}, {"phone_format": "plus"}])
def test_invalid_phone_settings_are_refused(vendor: VendorMaker, settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        vendor("esputnik", **settings)


@pytest.mark.parametrize(
    ("in_stock", "product"),
    [
        (True, {"productId": "sku-1", "price": 24.95, "isInStock": 1}),
        (False, {"productId": "sku-1", "price": 24.95, "isInStock": 0}),
        (None, {"productId": "sku-1", "price": 24.95}),
    ],
)
def test_product_param_is_a_json_string_with_stock_as_one_or_zero(
    esputnik: Vendor[Any], product_view: RecordMaker, in_stock: bool | None, product: Any
) -> None:
    record = product_view(in_stock=in_stock, customer={"email": "e@x.io"})
    (item,) = esputnik.map(EventType.PRODUCT_VIEW, record)
    assert item["eventTypeKey"] == "productViewed"
    value = _params(item)["product"]
    assert isinstance(value, str)
    assert orjson.loads(value) == product
    assert type(orjson.loads(value).get("isInStock", 0)) is int


@pytest.mark.parametrize("currency", ["UAH", None])
def test_currency_code_is_sent_only_when_set(
    esputnik: Vendor[Any], product_view: RecordMaker, currency: str | None
) -> None:
    record = product_view(currency=currency, customer={"email": "e@x.io"})
    (item,) = esputnik.map(EventType.PRODUCT_VIEW, record)
    assert _params(item).get("currencyCode") == currency
    assert ("currencyCode" in _params(item)) is (currency is not None)


def test_order_params_carry_totals_and_purchased_items(
    esputnik: Vendor[Any], order: RecordMaker
) -> None:
    lines = [
        {"product_id": "a", "quantity": 2, "price": 3.5},
        {"product_id": "b", "quantity": 1, "price": 10.0},
    ]
    (item,) = esputnik.map(EventType.ORDER, order(items=lines, total=17.0, currency="UAH"))
    params = _params(item)
    assert item["eventTypeKey"] == "purchasedItems"
    assert params["externalOrderId"] == "order-1"
    assert params["totalCost"] == 17.0
    assert params["currencyCode"] == "UAH"
    assert isinstance(params["purchasedItems"], str)
    assert orjson.loads(params["purchasedItems"]) == [
        {"productId": "a", "price": 3.5, "quantity": 2},
        {"productId": "b", "price": 10.0, "quantity": 1},
    ]


def test_order_event_type_key_comes_from_settings(vendor: VendorMaker, order: RecordMaker) -> None:
    (item,) = vendor("esputnik", order_event_type_key="orderPlaced").map(EventType.ORDER, order())
    assert item["eventTypeKey"] == "orderPlaced"


def test_basic_auth_carries_the_api_key_as_password(vendor: VendorMaker) -> None:
    request = vendor("esputnik", user="shop").build_request([{"eventTypeKey": "x"}])
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == "shop:es-test-api-key"
    assert set(request.secrets) == {"es-test-api-key", token}
    assert request.url == "https://esputnik.com/api/v2/event"


@pytest.mark.parametrize("body", [b"", b"{}", b'{"id": 1}', b"accepted"])
def test_any_reply_without_an_error_accepts(esputnik: Vendor[Any], body: bytes) -> None:
    assert esputnik.read_reply(body, [{}]) == [ACCEPTED]


@pytest.mark.parametrize(
    "body", [b'{"error": "email: invalid address"}', b'{"errors": ["keyValue missing"]}']
)
def test_reply_with_an_error_refuses_the_request(esputnik: Vendor[Any], body: bytes) -> None:
    with pytest.raises(RejectedDeliveryError):
        esputnik.read_reply(body, [{}])
