"""VTmarketing stand-in, against vtmarketing-server-side.txt."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials
from bridge.tools.sandbox import vtmarketing as standin
from bridge.tools.sandbox.checks import miscited

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send

AUTH = {"Authorization": SandboxCredentials().vtmarketing_api_key}
PATH = "/vtmarketing/v1/event/"
DOCS = Path(__file__).resolve().parents[4].parent / "shared" / "vendor-docs"
SUCCESS = {
    "results": {"message": "Event created", "email": "Event was created for the specified user"}
}


def order() -> dict[str, Any]:
    """The document's "Example requests" payload.

    The published page shows the email as "[email protected]" (a web page's address obfuscation,
    not an address), so a real-looking address stands in for it.
    """
    return {
        "user": {"email": "john.doe@example.com", "tel": "07650000000"},
        "event": {
            "confirmation": {
                "generic": {
                    "orderId": "unique_order_id",
                    "total": 400.33,
                    "status": "order_status",
                    "coupons": ["coupon1", "coupon2"],
                    "phone": "phone number",
                    "currency": "RON",
                    "total_shipping": 22.00,
                },
                "items": [{"id": "12345", "quantity": 1}, {"id": "amnsdf", "quantity": 3}],
            }
        },
    }


def descriptions(reply_json: Any) -> list[str]:
    return [entry["description"] for entry in reply_json["errors"]]


async def test_document_example_is_created(send: Send, sandbox: Sandbox) -> None:
    reply = await send(PATH, order(), headers=AUTH)
    assert reply.status == 200
    assert reply.json == SUCCESS
    assert sandbox.received("vtmarketing")[-1]["accepted"] == [order()]


async def test_minimal_order_with_all_optional_user_fields(send: Send) -> None:
    body = {
        "user": {
            "email": "john@example.com",
            "tel": "0760000000",
            "firstname": "John",
            "lastname": "Doe",
            "country": "United States",
            "city": "Boston",
        },
        "event": {"confirmation": {"generic": {"orderId": "knssf22", "total": 435}}},
    }
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 200, reply.text


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ({}, "Missing Authorization header"),
        ({"Authorization": "wrong"}, "Invalid API key"),
        (
            {"Authorization": f"Bearer {AUTH['Authorization']}"},
            "Invalid API key (send the key itself in Authorization, without 'Bearer')",
        ),
    ],
)
async def test_wrong_auth_is_401(
    send: Send, sandbox: Sandbox, headers: dict[str, str], description: str
) -> None:
    reply = await send(PATH, order(), headers=headers)
    assert reply.status == 401
    assert reply.json == {"errors": [{"message": "Unauthorized", "description": description}]}
    assert sandbox.received("vtmarketing")[-1]["accepted"] == []


async def test_missing_event_uses_the_documents_error(send: Send) -> None:
    body = order()
    del body["event"]
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {
        "errors": [
            {
                "message": "Missing event information",
                "description": "Please send event information along with user",
            }
        ]
    }


async def test_field_names_are_case_sensitive(send: Send, sandbox: Sandbox) -> None:
    body = order()
    generic = body["event"]["confirmation"]["generic"]
    generic["orderid"] = generic.pop("orderId")
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert descriptions(reply.json) == [
        "unknown field event.confirmation.generic.orderid (field names are case-sensitive)",
        "missing event.confirmation.generic.orderId",
    ]
    assert {e["message"] for e in reply.json["errors"]} == {"Invalid payload"}
    record = sandbox.received("vtmarketing")[-1]
    assert record["accepted"] == []
    assert record["rejected"] == [{"item": body, "error": "; ".join(descriptions(reply.json))}]


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "description"),
    [
        ("user.email", "not-an-email", "user.email is not a valid email address"),
        ("user.email", "a@b@example.com", "user.email is not a valid email address"),
        ("user.tel", None, "user.tel must be a string, got null"),
        (
            "event.confirmation.generic.total",
            "400.33",
            "event.confirmation.generic.total must be a number, got string",
        ),
        (
            "event.confirmation.generic.total",
            True,
            "event.confirmation.generic.total must be a number, got boolean",
        ),
        (
            "event.confirmation.generic.currency",
            "lei",
            "event.confirmation.generic.currency must be a 3-letter ISO 4217 code such as EUR",
        ),
        (
            "event.confirmation.generic.coupons",
            ["ok", 10],
            "event.confirmation.generic.coupons[1] must be a non-empty string",
        ),
        (
            "event.confirmation.items.0.id",
            12345,
            "event.confirmation.items[0].id must be a string, got number",
        ),
        (
            "event.confirmation.items.1.quantity",
            "3",
            "event.confirmation.items[1].quantity must be a number, got string",
        ),
        ("event.purchase", {}, "unknown field event.purchase (field names are case-sensitive)"),
    ],
)
async def test_wrong_types_are_400(send: Send, path: str, value: Any, description: str) -> None:
    body = _set(copy.deepcopy(order()), path, value)
    reply = await send(PATH, body, headers=AUTH)
    assert reply.status == 400
    assert descriptions(reply.json) == [description]


async def test_one_order_per_request(send: Send) -> None:
    reply = await send(PATH, [order(), order()], headers=AUTH)
    assert reply.status == 400
    assert descriptions(reply.json) == ["body must be one order object, got array"]


async def test_invalid_json_is_400(send: Send) -> None:
    reply = await send(PATH, raw=b"{'user': 1}", headers=AUTH)
    assert reply.status == 400
    [entry] = reply.json["errors"]
    assert entry["message"] == "Bad Request"
    assert entry["description"].startswith("body is not valid JSON")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_json_content_type_is_accepted(send: Send, content_type: str) -> None:
    reply = await send(PATH, order(), headers={**AUTH, "Content-Type": content_type})
    assert reply.status == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
async def test_request_without_json_content_type_is_415(
    send: Send, sandbox: Sandbox, content_type: str
) -> None:
    # "HeadersContent-Type: application/json"
    reply = await send(PATH, order(), headers={**AUTH, "Content-Type": content_type})
    assert reply.status == 415
    assert descriptions(reply.json) == ["Content-Type must be application/json"]
    assert sandbox.received("vtmarketing")[-1]["accepted"] == []


def test_every_rule_cites_the_document_line_it_enforces() -> None:
    document = DOCS / standin.DOCUMENT
    if not document.exists():
        pytest.skip(f"vendor documents not found at {DOCS}")
    assert miscited(standin.RULES, document.read_text(encoding="utf-8")) == []
    assert any(rule.sandbox_only for rule in standin.RULES)
