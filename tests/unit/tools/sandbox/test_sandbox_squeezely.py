"""Squeezely stand-in, against squeezely-backend-purchase.txt and the README's API notes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials
from bridge.tools.sandbox import squeezely as standin
from bridge.tools.sandbox.checks import miscited

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send

CREDS = SandboxCredentials()
AUTH = {"X-AUTH-ACCOUNT": CREDS.squeezely_account_id, "X-AUTH-APIKEY": CREDS.squeezely_api_key}
PATH = "/squeezely/v1/track"
DOCS = Path(__file__).resolve().parents[4].parent / "shared" / "vendor-docs"


def purchase(**changes: Any) -> dict[str, Any]:
    """The README's purchase event, with the document's minimum fields filled in."""
    event = {
        "event": "Purchase",
        "email": "jane@example.com",
        "orderid": "ORD-1001",
        "products": [{"id": "SKU-1", "quantity": 2, "price": 9.95}],
        "currency": "EUR",
    }
    return {**event, **changes}


async def test_document_purchase_is_accepted(send: Send, sandbox: Sandbox) -> None:
    reply = await send(PATH, {"events": [purchase()]}, headers=AUTH)
    assert reply.status == 200
    assert reply.json == {"success": True, "ok": 1, "nok": 0, "errors": []}
    assert sandbox.received("squeezely")[-1]["accepted"] == [purchase()]


async def test_minimum_fields_only_with_language(send: Send) -> None:
    event = {
        "event": "Purchase",
        "email": "jane@example.com",
        "orderid": "1",
        "products": [{"id": "SKU-1", "quantity": 1, "language": "nl"}],
    }
    reply = await send(PATH, {"events": [event, purchase()]}, headers=AUTH)
    assert reply.json == {"success": True, "ok": 2, "nok": 0, "errors": []}


async def test_custom_fields_are_accepted(send: Send) -> None:
    event = purchase(custom_province="Utrecht", custom_loyalty_tier=3)
    reply = await send(PATH, {"events": [event]}, headers=AUTH)
    assert reply.status == 200


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"province": "Utrecht"},
            "event 0: unknown field province (field names are "
            "case-sensitive; extra fields must start with custom_)",
        ),
        (
            {"custom_": "x"},
            "event 0: unknown field custom_ (field names are case-sensitive; "
            "extra fields must start with custom_)",
        ),
        ({"email": "jane.example.com"}, "event 0: email is not a valid email address"),
        ({"orderid": 1001}, "event 0: orderid must be a string, got number"),
        ({"products": []}, "event 0: products must not be empty"),
        ({"products": [{"id": "SKU-1"}]}, "event 0: missing products[0].quantity"),
        (
            {"products": [{"id": "SKU-1", "quantity": 1, "sku": "x"}]},
            "event 0: unknown field products[0].sku (field names are case-sensitive)",
        ),
        ({"currency": "euro"}, "event 0: currency must be a 3-letter ISO 4217 code such as EUR"),
        ({"event": "purchase"}, "event 0: event name is case-sensitive: use 'Purchase'"),
    ],
)
async def test_invalid_purchase_is_400(send: Send, changes: dict[str, Any], error: str) -> None:
    reply = await send(PATH, {"events": [purchase(**changes)]}, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {"success": False, "errors": [error]}


async def test_one_invalid_event_refuses_the_whole_request(send: Send, sandbox: Sandbox) -> None:
    broken = purchase()
    del broken["email"]
    reply = await send(PATH, {"events": [purchase(), broken]}, headers=AUTH)
    assert reply.status == 400
    assert reply.json == {"success": False, "errors": ["event 1: missing email"]}
    record = sandbox.received("squeezely")[-1]
    assert record["accepted"] == []
    assert [r["error"] for r in record["rejected"]] == [
        "not stored: another event in the request is invalid",
        "missing email",
    ]
    assert sandbox.stats()["squeezely"]["accepted"] == 0


async def test_other_event_names_are_accepted(send: Send) -> None:
    view = {"event": "ViewContent", "products": [{"id": "SKU-1", "quantity": 1}]}
    reply = await send(PATH, {"events": [view]}, headers=AUTH)
    assert reply.json == {"success": True, "ok": 1, "nok": 0, "errors": []}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "missing X-AUTH-ACCOUNT or X-AUTH-APIKEY header"),
        (
            {"X-AUTH-ACCOUNT": CREDS.squeezely_account_id},
            "missing X-AUTH-ACCOUNT or X-AUTH-APIKEY header",
        ),
        ({**AUTH, "X-AUTH-APIKEY": "wrong"}, "invalid account or API key"),
        ({**AUTH, "X-AUTH-ACCOUNT": "other"}, "invalid account or API key"),
    ],
)
async def test_wrong_auth_is_401(send: Send, headers: dict[str, str], error: str) -> None:
    reply = await send(PATH, {"events": [purchase()]}, headers=headers)
    assert reply.status == 401
    assert reply.json == {"success": False, "errors": [error]}


@pytest.mark.parametrize(
    "raw", [b"[]", b'{"events": []}', b'{"events": "x"}', b"{", b'{"events": [], "more": 1}']
)
async def test_body_without_events_is_400(send: Send, raw: bytes) -> None:
    reply = await send(PATH, raw=raw, headers=AUTH)
    assert reply.status == 400
    assert reply.json["success"] is False
    assert len(reply.json["errors"]) == 1


@pytest.mark.parametrize("field", ["firstname", "lastname", "phone", "city", "country"])
async def test_fields_the_documents_do_not_name_are_refused(send: Send, field: str) -> None:
    # Sandbox-only strictness: neither document names these fields (nor does the README).
    reply = await send(PATH, {"events": [purchase(**{field: "x"})]}, headers=AUTH)
    assert reply.status == 400
    assert reply.json["errors"] == [
        f"event 0: unknown field {field} (field names are case-sensitive; "
        "extra fields must start with custom_)"
    ]


def test_every_rule_cites_the_document_line_it_enforces() -> None:
    document = DOCS / standin.DOCUMENT
    if not document.exists():
        pytest.skip(f"vendor documents not found at {DOCS}")
    readme = (DOCS / standin.README).read_text(encoding="utf-8")
    text = document.read_text(encoding="utf-8")
    assert miscited(standin.RULES, text, {standin.README: readme}) == []
    assert any(rule.sandbox_only for rule in standin.RULES)
