from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from bridge.errors import MappingError, RejectedDeliveryError
from bridge.events import EventType
from bridge.vendors.base import ACCEPTED, ItemResult, Vendor

RecordMaker = Callable[..., dict[str, Any]]


@pytest.fixture
def ql(vendor: Callable[..., Vendor[Any]]) -> Vendor[Any]:
    return vendor("quicklizard")


def _reply(**fields: Any) -> bytes:
    return orjson.dumps({"processed": [], "failed": [], "errors": [], **fields})


def _items(*product_ids: str) -> list[dict[str, Any]]:
    return [
        {"client_key": "k", "price": 1.5, "product_id": pid, "event": "conversion"}
        for pid in product_ids
    ]


def test_view_maps_shelf_price_and_url(ql: Vendor[Any], product_view: RecordMaker) -> None:
    (item,) = ql.map(EventType.PRODUCT_VIEW, product_view(price=9.5, url="https://s.example/p"))
    assert item == {
        "client_key": "YOUR_CLIENT_KEY",
        "price": 9.5,
        "product_id": "sku-1",
        "event": "view",
        "permalink": "https://s.example/p",
    }


@pytest.mark.parametrize(
    ("vendor_ids", "visitor_id", "vid"),
    [
        ({"quicklizard": "ql-vid"}, "own-visitor", "ql-vid"),
        ({"qubit": "other"}, "own-visitor", "own-visitor"),
        ({}, None, None),
    ],
)
def test_vid_prefers_vendor_id_then_visitor_id(
    ql: Vendor[Any],
    order: RecordMaker,
    vendor_ids: dict[str, str],
    visitor_id: str | None,
    vid: str | None,
) -> None:
    (item,) = ql.map(EventType.ORDER, order(vendor_ids=vendor_ids, visitor_id=visitor_id))
    assert item.get("vid") == vid
    assert ("vid" in item) is (vid is not None)


def test_order_maps_one_conversion_per_line_with_unit_price(
    ql: Vendor[Any], order: RecordMaker
) -> None:
    lines = [
        {"product_id": "a", "quantity": 3, "price": 2.5},
        {"product_id": "b", "quantity": 1, "price": 7.0},
    ]
    items = ql.map(EventType.ORDER, order(items=lines))
    assert [(i["event"], i["product_id"], i["price"]) for i in items] == [
        ("conversion", "a", 2.5),
        ("conversion", "b", 7.0),
    ]


@pytest.mark.parametrize("url", [None, "", "  "])
def test_view_without_url_is_skipped(
    ql: Vendor[Any], product_view: RecordMaker, url: str | None
) -> None:
    with pytest.raises(MappingError) as caught:
        ql.map(EventType.PRODUCT_VIEW, product_view(url=url))
    assert caught.value.reason == "missing_url"


def test_order_without_lines_is_skipped(ql: Vendor[Any], order: RecordMaker) -> None:
    with pytest.raises(MappingError) as caught:
        ql.map(EventType.ORDER, order(items=[]))
    assert caught.value.reason == "no_items"


def test_request_carries_the_client_key_as_a_secret(ql: Vendor[Any]) -> None:
    request = ql.build_request(_items("a", "b"))
    assert request.secrets == ("YOUR_CLIENT_KEY",)
    assert orjson.loads(request.body) == _items("a", "b")


def test_document_reply_with_everything_processed_accepts_all(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    assert ql.read_reply(_reply(processed=items), items) == [ACCEPTED, ACCEPTED]


def test_failed_event_takes_the_message_of_its_indexed_error(ql: Vendor[Any]) -> None:
    items = _items("a", "b", "c")
    body = _reply(
        processed=[items[0], items[2]],
        failed=[items[1]],
        errors=[{"index": 1, "error": "price must be a float"}],
    )
    assert ql.read_reply(body, items) == [
        ACCEPTED,
        ItemResult(ok=False, error="price must be a float"),
        ACCEPTED,
    ]


def test_failed_event_without_error_entry_fails_with_a_generic_message(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    assert ql.read_reply(_reply(failed=[items[0]]), items) == [
        ItemResult(ok=False, error="failed"),
        ACCEPTED,
    ]


def test_equal_events_fail_only_as_often_as_listed(ql: Vendor[Any]) -> None:
    items = _items("a", "a", "a")
    body = _reply(failed=[items[0]], errors=[{"index": 2, "error": "bad"}])
    assert ql.read_reply(body, items) == [ACCEPTED, ACCEPTED, ItemResult(ok=False, error="bad")]


def test_equal_events_listed_twice_both_fail(ql: Vendor[Any]) -> None:
    items = _items("a", "b", "a")
    results = ql.read_reply(_reply(failed=[items[0], items[2]]), items)
    assert [result.ok for result in results] == [False, True, False]


def test_failed_entries_match_as_json_values(ql: Vendor[Any]) -> None:
    items = [{"product_id": "a", "price": 2.0, "event": "view"}]
    echoed = b'{"processed": [], "failed": [{"event": "view", "price": 2, "product_id": "a"}]}'
    assert ql.read_reply(echoed, items) == [ItemResult(ok=False, error="failed")]


def test_true_does_not_match_one(ql: Vendor[Any]) -> None:
    items = [{"product_id": "a", "price": 1}]
    with pytest.raises(RejectedDeliveryError):
        ql.read_reply(_reply(failed=[{"product_id": "a", "price": True}]), items)


def test_several_errors_for_one_event_are_joined(ql: Vendor[Any]) -> None:
    items = _items("a")
    body = _reply(failed=items, errors=[{"index": 0, "error": "x"}, {"index": 0, "error": "y"}])
    assert ql.read_reply(body, items) == [ItemResult(ok=False, error="x; y")]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>oops</html>", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(_reply(failed={"a": 1}), id="failed-not-a-list"),
        pytest.param(_reply(errors=[{"error": "payload malformed"}]), id="error-without-index"),
        pytest.param(_reply(errors=[{"index": 7, "error": "x"}]), id="index-out-of-range"),
        pytest.param(_reply(errors=[{"index": True, "error": "x"}]), id="boolean-index"),
        pytest.param(_reply(errors=[{"index": 0, "error": "x"}]), id="error-on-processed-event"),
        pytest.param(_reply(failed=_items("zzz")), id="failed-event-never-sent"),
        pytest.param(_reply(failed=_items("a", "a")), id="failed-more-often-than-sent"),
    ],
)
def test_unattributable_reply_refuses_the_request(ql: Vendor[Any], body: bytes) -> None:
    with pytest.raises(RejectedDeliveryError):
        ql.read_reply(body, _items("a", "b"))
