"""QuickLizard stand-in, against quicklizard-server-to-server.txt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials
from bridge.tools.sandbox import quicklizard as standin
from bridge.tools.sandbox.checks import miscited

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send

KEY = SandboxCredentials().quicklizard_client_key
DOCS = Path(__file__).resolve().parents[4].parent / "shared" / "vendor-docs"
PATH = "/quicklizard/events"


def view(**changes: Any) -> dict[str, Any]:
    """The document's product page view example, with the sandbox's client key."""
    event = {
        "client_key": KEY,
        "price": 123.41,
        "product_id": "123-AA-X23",
        "event": "view",
        "permalink": "https://yourstore.com/123-AA-X23/",
        "vid": "DASDAS-#CCCC-NA",
    }
    return {**event, **changes}


def conversions() -> list[dict[str, Any]]:
    """The document's payment confirmation example: two conversion events."""
    return [
        {
            "client_key": KEY,
            "price": 123.41,
            "product_id": "123-AA-X23",
            "event": "conversion",
            "vid": "DASDAS-#CCCC-NA",
        },
        {
            "client_key": KEY,
            "price": 92.41,
            "product_id": "455DD-AA-X23",
            "event": "conversion",
            "vid": "DASDAS-#CCCC-NA",
        },
    ]


async def test_document_view_example_is_processed(send: Send, sandbox: Sandbox) -> None:
    reply = await send(PATH, [view()])
    assert reply.status == 200
    assert reply.json == {"processed": [view()], "failed": [], "errors": []}
    assert sandbox.received("quicklizard")[-1]["accepted"] == [view()]


async def test_document_conversion_example_is_processed(send: Send) -> None:
    reply = await send(PATH, conversions())
    assert reply.status == 200
    assert reply.json == {"processed": conversions(), "failed": [], "errors": []}


async def test_body_is_read_whatever_the_content_type(send: Send) -> None:
    # The document's curl example sends -d without a JSON Content-Type.
    reply = await send(
        PATH,
        raw=b'[{"client_key": "ql-sandbox-key", "price": 1, "product_id": "A", "event": '
        b'"conversion"}]',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200
    assert len(reply.json["processed"]) == 1


async def test_unknown_client_key_refuses_the_whole_request(send: Send, sandbox: Sandbox) -> None:
    events = [view(), view(client_key="someone-else")]
    reply = await send(PATH, events)
    assert reply.status == 403
    assert reply.json == {"errors": [{"error": "unknown client_key"}]}
    record = sandbox.received("quicklizard")[-1]
    assert record["accepted"] == []
    assert record["status"] == 403


async def test_missing_required_field_fails_that_event_only(send: Send) -> None:
    broken = conversions()[1]
    del broken["product_id"]
    reply = await send(PATH, [conversions()[0], broken])
    assert reply.status == 200
    assert reply.json == {
        "processed": [conversions()[0]],
        "failed": [broken],
        "errors": [{"error": "missing product_id"}],
    }


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"price": "123.41"}, "price must be a number, got string"),
        ({"price": True}, "price must be a number, got boolean"),
        ({"price": None}, "price must be a number, got null"),
        ({"product_id": ""}, "product_id must not be empty"),
        ({"product_id": 123}, "product_id must be a string, got number"),
        ({"event": "purchase"}, "event must be one of view, conversion, got 'purchase'"),
        ({"permalink": "/123-AA-X23/"}, "permalink must be an absolute http(s) URL"),
        ({"vid": 5}, "vid must be a string, got number"),
        ({"productId": "x"}, "unknown field productId (field names are case-sensitive)"),
    ],
)
async def test_malformed_event_is_failed_with_its_error(
    send: Send, changes: dict[str, Any], error: str
) -> None:
    event = view(**changes)
    reply = await send(PATH, [event])
    assert reply.status == 200
    assert reply.json == {
        "processed": [],
        "failed": [event],
        "errors": [{"error": error}],
    }


async def test_view_needs_permalink_but_conversion_does_not(send: Send) -> None:
    no_link = view()
    del no_link["permalink"]
    reply = await send(PATH, [no_link, conversions()[0]])
    assert reply.json["errors"] == [{"error": "missing permalink"}]
    assert reply.json["processed"] == [conversions()[0]]


async def test_every_problem_of_an_event_is_reported(send: Send) -> None:
    reply = await send(PATH, [{"client_key": KEY, "event": "view"}])
    assert reply.json["errors"] == [
        {"error": "missing price; missing product_id; missing permalink"}
    ]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"client_key": "ql-sandbox-key"}', "JSON array"),
        (b"[]", "one or more events"),
        (b"[{", "not valid JSON"),
    ],
)
async def test_body_that_is_not_an_array_of_events_is_400(
    send: Send, raw: bytes, fragment: str
) -> None:
    reply = await send(PATH, raw=raw)
    assert reply.status == 400
    [entry] = reply.json["errors"]
    assert fragment in entry["error"]


async def test_non_object_element_fails(send: Send) -> None:
    reply = await send(PATH, [view(), "view"])
    assert reply.json["failed"] == ["view"]
    assert reply.json["errors"] == [{"error": "event must be an object, got string"}]


def test_every_rule_cites_the_document_line_it_enforces() -> None:
    document = DOCS / standin.DOCUMENT
    if not document.exists():
        pytest.skip(f"vendor documents not found at {DOCS}")
    assert miscited(standin.RULES, document.read_text(encoding="utf-8")) == []
    assert [rule.name for rule in standin.RULES if rule.sandbox_only]


def test_miscitation_is_caught() -> None:
    wrong = standin.RULES[0].__class__("array", 1, "The POST payload is a JSON-formatted array")
    assert miscited([wrong], "first line\nThe POST payload is a JSON-formatted array\n") != []


async def test_errors_entries_name_no_index_so_clients_read_failed(send: Send) -> None:
    # The document shows errors entries as {...}: the sandbox gives a message, no position.
    first, second = conversions()
    del second["price"]
    reply = await send(PATH, [second, first])
    assert reply.json == {
        "processed": [first],
        "failed": [second],
        "errors": [{"error": "missing price"}],
    }
