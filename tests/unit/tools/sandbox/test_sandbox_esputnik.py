"""eSputnik stand-in, against esputnik-generate-event.txt and the README's auth note."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials
from bridge.tools.sandbox import esputnik as standin
from bridge.tools.sandbox.checks import miscited

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


KEY = SandboxCredentials().esputnik_api_key
AUTH = {"Authorization": basic("any-user-name", KEY)}
PATH = "/esputnik/api/v2/event"
DOCS = Path(__file__).resolve().parents[4].parent / "shared" / "vendor-docs"


def param(name: str, value: Any) -> dict[str, Any]:
    """A param; objects and lists become JSON strings, as the document's examples show."""
    return {"name": name, "value": value if isinstance(value, str | int | float) else js(value)}


def js(value: Any) -> str:
    return orjson.dumps(value).decode()


def event(event_type: str, *params: dict[str, Any], key: str | None = "example@email.com") -> Any:
    body: dict[str, Any] = {"eventTypeKey": event_type, "params": list(params)}
    if key is not None:
        body["keyValue"] = key
    return body


# The document's examples. Its productViewed "product" string ends in a stray "]}" that makes it
# invalid JSON; the object it plainly means is used instead.
DOCUMENT_EXAMPLES = {
    "pageViewed": event(
        "pageViewed",
        param("phone", "380501234567"),
        param("email", "example@email.com"),
        param("page", {"location": "https://example.com"}),
    ),
    "productViewed": event(
        "productViewed",
        param("phone", "411786452"),
        param("email", "example@email.com"),
        param(
            "product",
            {
                "productId": "WS01-L-Green",
                "price": 45.5,
                "isInStock": 1,
                "someProductProperty": ["green"],
            },
        ),
        param("currencyCode", "USD"),
    ),
    "productCategoryViewed": event(
        "productCategoryViewed",
        param("phone", "7411324763"),
        param("email", "example@email.com"),
        param("category", {"productCategoryId": "Mugs"}),
    ),
    "cartUpdated": event(
        "cartUpdated",
        param("phone", "73456712"),
        param("email", "example@email.com"),
        param("products", [{"productId": "WS01-L-Green", "quantity": 1, "price": 45.5}]),
        param("currencyCode", "USD"),
        param("recycleStateId", "d59c6e6d-4123-4b0e-8c32-15f0656a8c60"),
    ),
    # The next three examples have placeholders (Phone, string, int); filled in here.
    "productImpressions": event(
        "productImpressions",
        param("phone", "380501234567"),
        param("recomVariantId", "r12v3"),
        param("products", [{"productId": "WS01-L-Green"}]),
        key="380501234567",
    ),
    "productAddedToWishlist": event(
        "productAddedToWishlist",
        param("phone", "380501234567"),
        param("product", {"productId": "WS01", "price": 10.25, "isInStock": 0}),
        param("currencyCode", "EUR"),
        key="380501234567",
    ),
    "searchRequest": event(
        "searchRequest",
        param("phone", "380501234567"),
        param("search", "green mug"),
        param("isFound", 0),
        key="380501234567",
    ),
}


@pytest.mark.parametrize("name", sorted(DOCUMENT_EXAMPLES))
async def test_document_examples_are_accepted(send: Send, sandbox: Sandbox, name: str) -> None:
    reply = await send(PATH, DOCUMENT_EXAMPLES[name], headers=AUTH)
    assert (reply.status, reply.text) == (200, "")
    assert sandbox.received("esputnik")[-1]["accepted"] == [DOCUMENT_EXAMPLES[name]]


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "HTTP Basic authentication required"),
        ({"Authorization": f"Bearer {KEY}"}, "HTTP Basic authentication required"),
        ({"Authorization": "Basic %%%"}, "HTTP Basic authentication required"),
        ({"Authorization": basic(KEY, "wrong")}, "invalid API key"),
    ],
)
async def test_wrong_auth_is_401(send: Send, headers: dict[str, str], error: str) -> None:
    reply = await send(PATH, DOCUMENT_EXAMPLES["productViewed"], headers=headers)
    assert reply.status == 401
    assert reply.json == {"error": error}


async def test_product_param_must_be_a_json_string(send: Send, sandbox: Sandbox) -> None:
    body = event(
        "productViewed",
        {"name": "product", "value": {"productId": "WS01", "price": 45.5}},
    )
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {
        "error": "params[0].value must be a string or number, got object (objects and lists "
        "are sent as JSON strings)"
    }
    record = sandbox.received("esputnik")[-1]
    assert record["accepted"] == []
    assert record["rejected"] == [{"item": body, "error": reply.json["error"]}]


@pytest.mark.parametrize(
    ("product", "error"),
    [
        ('{"productId": "WS01"}', "missing product.price"),
        ('{"productId": "WS01", "price": "45.5"}', "product.price must be a number, got string"),
        ('{"productId": 1, "price": 45.5}', "product.productId must be a string, got number"),
        (
            '{"productId": "WS01", "price": 1, "isInStock": true}',
            "product.isInStock must be an integer, got boolean",
        ),
        (
            '{"productId": "WS01", "price": 1, "isInStock": 2}',
            "product.isInStock must be 0 or 1, got 2",
        ),
        ('["WS01"]', "param 'product' must hold an object, got array"),
    ],
)
async def test_product_contents_are_checked(send: Send, product: str, error: str) -> None:
    reply = await send(PATH, event("productViewed", param("product", product)), headers=AUTH)
    assert reply.status == 400
    assert reply.json == {"error": error}


async def test_product_that_is_not_json_is_400(send: Send) -> None:
    reply = await send(
        PATH, event("productViewed", param("product", "{productId: 1}")), headers=AUTH
    )
    assert reply.status == 400
    assert reply.json["error"].startswith("param 'product' is not valid JSON")


async def test_product_viewed_needs_product(send: Send) -> None:
    reply = await send(PATH, event("productViewed", param("currencyCode", "USD")), headers=AUTH)
    assert reply.json == {"error": "missing param 'product'"}


async def test_locator_comes_from_params_without_key_value(send: Send) -> None:
    product = param("product", {"productId": "WS01", "price": 1})
    with_phone = event("productViewed", param("phone", "380501234567"), product, key=None)
    assert (await send(PATH, with_phone, headers=AUTH)).status == 200
    without = event("productViewed", product, key=None)
    reply = await send(PATH, without, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {
        "error": "no keyValue and no locator param (one of contactId, externalCustomerId, "
        "email, phone, pushToken)"
    }


async def test_email_locator_must_look_like_an_email(send: Send) -> None:
    body = event(
        "pageViewed", param("email", "example.email.com"), param("page", {"location": "x"})
    )
    reply = await send(PATH, body, headers=AUTH)
    assert reply.json == {"error": "param.email is not a valid email address"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"keyValue": "k", "params": []}, "missing eventTypeKey"),
        ({"eventTypeKey": "x", "keyValue": ""}, "keyValue must not be empty"),
        (
            {"eventTypeKey": "x", "keyValue": "k", "param": []},
            "unknown field param (field names are case-sensitive)",
        ),
        (
            {"eventTypeKey": "x", "keyValue": "k", "params": [{"name": "a"}]},
            "missing params[0].value",
        ),
        (
            {
                "eventTypeKey": "x",
                "keyValue": "k",
                "params": [{"name": "a", "value": 1}, {"name": "a", "value": 2}],
            },
            "duplicate param 'a'",
        ),
        ([{"eventTypeKey": "x"}], "body must be an event object, got array"),
    ],
)
async def test_malformed_body_is_400(send: Send, body: Any, error: str) -> None:
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {"error": error}


async def test_new_event_type_takes_arbitrary_params(send: Send) -> None:
    body = event(
        "orderCompleted",
        param("externalOrderId", "o-1"),
        param("totalCost", 12.5),
        param("purchasedItems", [{"productId": "A", "price": 10, "quantity": 1}]),
    )
    assert (await send(PATH, body, headers=AUTH)).status == 200


@pytest.mark.parametrize("name", ["purchasedItems", "products", "currencyCode"])
async def test_params_of_other_events_are_arbitrary(send: Send, name: str) -> None:
    # "The parameter keys are arbitrary": nothing of an undocumented event's params is checked.
    body = event("orderCompleted", param(name, "anything at all"))
    assert (await send(PATH, body, headers=AUTH)).status == 200


@pytest.mark.parametrize("phone", ["380501234567", "+380501234567", "73456712", "411786452"])
async def test_phone_in_the_international_format_is_accepted(send: Send, phone: str) -> None:
    body = event("orderCompleted", param("phone", phone), key=None)
    assert (await send(PATH, body, headers=AUTH)).status == 200


@pytest.mark.parametrize(
    "phone",
    ["0501234567", "+380 50 123 45 67", "380-50-123-45-67", "(050) 1234567", "12345", "phone"],
)
@pytest.mark.parametrize("event_type", ["orderCompleted", "productViewed", "pageViewed"])
async def test_phone_not_in_the_international_format_is_400(
    send: Send, phone: str, event_type: str
) -> None:
    body = event(event_type, param("phone", phone), key=None)
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert (
        "param.phone must be a phone number in the international format, digits with the "
        "country code such as 380501234567"
    ) in reply.json["error"]


async def test_phone_must_be_a_string(send: Send) -> None:
    reply = await send(PATH, event("orderCompleted", param("phone", 380501234567)), headers=AUTH)
    assert reply.json == {"error": "param.phone must be a string, got number"}


def test_every_rule_cites_the_document_line_it_enforces() -> None:
    document = DOCS / standin.DOCUMENT
    if not document.exists():
        pytest.skip(f"vendor documents not found at {DOCS}")
    readme = (DOCS / standin.README).read_text(encoding="utf-8")
    text = document.read_text(encoding="utf-8")
    assert miscited(standin.RULES, text, {standin.README: readme}) == []
    assert any(rule.sandbox_only for rule in standin.RULES)


async def test_cart_updated_needs_recycle_state_id(send: Send) -> None:
    body = event("cartUpdated", param("products", []))
    reply = await send(PATH, body, headers=AUTH)
    assert reply.json == {"error": "missing param 'recycleStateId'"}


async def test_invalid_json_is_400(send: Send) -> None:
    reply = await send(PATH, raw=b'{"eventTypeKey": ', headers=AUTH)
    assert reply.status == 400
    assert reply.json["error"].startswith("body is not valid JSON")
