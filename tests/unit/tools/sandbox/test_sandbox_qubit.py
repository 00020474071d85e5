"""Qubit stand-in, against qubit-offline-conversions.txt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials
from bridge.tools.sandbox import qubit as standin
from bridge.tools.sandbox.checks import miscited

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send

PATH = f"/qubit/events/{SandboxCredentials().qubit_tracking_id}"
DOCS = Path(__file__).resolve().parents[4].parent / "shared" / "vendor-docs"
EVENT_ID = re.compile(r"[0-9a-z]{11}-[0-9a-z]{9}-[0-9a-z]{7}")


def first_example() -> dict[str, Any]:
    """The document's first request body (with meta.url)."""
    return {
        "context": {"id": "6o2diu81w9o-0irxltk5b-u9t1cv4"},
        "meta": {
            "type": "ecBasketTransactionSummary",
            "ts": 1479377213928,
            "url": "http://example.com/page",
            "source": "company-x@1.0.0",
        },
        "basket": {"total": {"value": 9.99, "currency": "USD"}},
        "transaction": {"id": "unique-id"},
    }


def required_fields_example(event_type: str, amount_field: str) -> dict[str, Any]:
    """The document's "Required fields are" examples, one per vertical."""
    return {
        "context": {"id": "hb1ntvmfpug-0iqmaqq7e-glmdos0"},
        "meta": {"type": event_type, "source": "yourco@1.0.0", "ts": 1479471022498},
        amount_field: {"total": {"value": 80.5, "currency": "GBP"}},
        "transaction": {"id": "uniqueId-1"},
    }


def assert_success(result: dict[str, Any], event_type: str, warnings: list[str]) -> None:
    assert set(result) == {"eventId", "eventType", "status", "warnings"}
    assert EVENT_ID.fullmatch(result["eventId"])
    assert result["eventType"] == event_type
    assert result["status"] == "success"
    assert result["warnings"] == warnings


async def test_document_first_example_succeeds(send: Send, sandbox: Sandbox) -> None:
    reply = await send(PATH, {"events": [first_example()]})
    assert reply.status == 200
    [result] = reply.json["results"]
    assert_success(result, "ecBasketTransactionSummary", [])
    assert sandbox.received("qubit")[-1]["accepted"] == [first_example()]


@pytest.mark.parametrize(
    ("event_type", "amount_field"),
    [
        ("ecBasketTransactionSummary", "basket"),
        ("egBetslipTransactionSummary", "betslip"),
        ("trPackageTransactionSummary", "package"),
        ("pbBasketTransactionSummary", "basket"),
        ("loBasketTransactionSummary", "basket"),
        ("fiBasketTransactionSummary", "basket"),
        ("someco.trPackageTransactionSummary", "package"),
    ],
)
async def test_each_vertical_transaction_succeeds(
    send: Send, event_type: str, amount_field: str
) -> None:
    reply = await send(PATH, {"events": [required_fields_example(event_type, amount_field)]})
    assert reply.status == 200
    assert_success(reply.json["results"][0], event_type, [])


async def test_amount_must_be_under_the_field_the_type_requires(send: Send) -> None:
    event = required_fields_example("trPackageTransactionSummary", "basket")
    reply = await send(PATH, {"events": [event]})
    assert reply.json == {"results": [{"status": "failed", "error": "Missing package.total"}]}


async def test_missing_source_is_a_warning(send: Send) -> None:
    event = first_example()
    del event["meta"]["source"]
    reply = await send(PATH, {"events": [event]})
    assert_success(reply.json["results"][0], "ecBasketTransactionSummary", ["Missing meta.source"])


async def test_per_event_failure_in_order(send: Send, sandbox: Sandbox) -> None:
    broken = first_example()
    del broken["context"]
    reply = await send(PATH, {"events": [first_example(), broken, first_example()]})
    assert reply.status == 200
    results = reply.json["results"]
    assert [r["status"] for r in results] == ["success", "failed", "success"]
    assert results[1] == {"status": "failed", "error": "Missing context.id"}
    assert results[0]["eventId"] != results[2]["eventId"]
    record = sandbox.received("qubit")[-1]
    assert record["accepted"] == [first_example(), first_example()]
    assert record["rejected"] == [{"item": broken, "error": "Missing context.id"}]


@pytest.mark.parametrize(
    ("section", "key", "value", "error"),
    [
        ("meta", "ts", 1479377213, "meta.ts must be epoch milliseconds"),
        ("meta", "ts", "1479377213928", "meta.ts must be an integer, got string"),
        ("meta", "ts", 1479377213928.5, "meta.ts must be an integer, got number"),
        (
            "meta",
            "type",
            "ecBasketTransactionSumary",
            "Unsupported meta.type 'ecBasketTransactionSumary'",
        ),
        ("meta", "url", 7, "meta.url must be a string, got number"),
        ("context", "id", "", "context.id must not be empty"),
        ("transaction", "id", None, "transaction.id must be a string, got null"),
        (
            "basket",
            "total",
            {"value": "9.99", "currency": "USD"},
            "basket.total.value must be a number, got string",
        ),
        ("basket", "total", {"value": 9.99}, "Missing basket.total.currency"),
    ],
)
async def test_invalid_fields_fail_the_event(
    send: Send, section: str, key: str, value: Any, error: str
) -> None:
    event = first_example()
    event[section][key] = value
    reply = await send(PATH, {"events": [event]})
    assert reply.json == {"results": [{"status": "failed", "error": error}]}


async def test_view_event_needs_no_transaction(send: Send) -> None:
    event = {"context": {"id": "v1"}, "meta": {"type": "ecView", "ts": 1479377213928}}
    reply = await send(PATH, {"events": [event]})
    assert_success(reply.json["results"][0], "ecView", ["Missing meta.source"])


async def test_unknown_tracking_id_is_404(send: Send) -> None:
    reply = await send("/qubit/events/someone-else", {"events": [first_example()]})
    assert reply.status == 404
    assert reply.json == {"status": 404, "message": "Not Found"}


@pytest.mark.parametrize(
    "raw", [b"[]", b'{"event": []}', b'{"events": {}}', b"not json", b'{"events": [], "x": 1}']
)
async def test_body_without_events_list_is_400(send: Send, raw: bytes) -> None:
    reply = await send(PATH, raw=raw)
    assert reply.status == 400
    assert reply.json["status"] == 400
    assert isinstance(reply.json["message"], str)
    assert reply.json["message"]


async def test_seeded_sandboxes_generate_the_same_ids(http: Any) -> None:
    ids = []
    for _ in range(2):
        async with Sandbox(credentials=SandboxCredentials(), seed=99) as sb:
            url = sb.base_url("qubit") + f"/events/{sb.credentials.qubit_tracking_id}"
            async with http.post(url, json={"events": [first_example()]}) as resp:
                ids.append((await resp.json())["results"][0]["eventId"])
    assert ids[0] == ids[1]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
async def test_request_without_json_content_type_is_415(
    send: Send, sandbox: Sandbox, content_type: str
) -> None:
    # "Content-Type: application/json body:"
    reply = await send(PATH, {"events": []}, headers={"Content-Type": content_type})
    assert reply.status == 415
    assert reply.json == {"status": 415, "message": "Content-Type must be application/json"}


async def test_json_content_type_with_charset_is_accepted(send: Send) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    reply = await send(PATH, {"events": []}, headers=headers)
    assert reply.status == 200


def test_every_rule_cites_the_document_line_it_enforces() -> None:
    document = DOCS / standin.DOCUMENT
    if not document.exists():
        pytest.skip(f"vendor documents not found at {DOCS}")
    assert miscited(standin.RULES, document.read_text(encoding="utf-8")) == []
    assert any(rule.sandbox_only for rule in standin.RULES)
