from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from bridge.errors import MappingError
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
    for item in ql.map(EventType.ORDER, order(vendor_ids=vendor_ids, visitor_id=visitor_id)):
        assert item.get("vid") == vid
        assert ("vid" in item) is (vid is not None)


LINES = [
    {"product_id": "a", "quantity": 3, "price": 2.5},
    {"product_id": "b", "quantity": 1, "price": 7.0},
]


def test_order_maps_one_conversion_per_unit_bought_by_default(
    ql: Vendor[Any], order: RecordMaker
) -> None:
    items = ql.map(EventType.ORDER, order(items=LINES))
    assert [(i["event"], i["product_id"], i["price"]) for i in items] == [
        ("conversion", "a", 2.5),
        ("conversion", "a", 2.5),
        ("conversion", "a", 2.5),
        ("conversion", "b", 7.0),
    ]


def test_order_maps_one_conversion_per_line_when_configured(
    vendor: Callable[..., Vendor[Any]], order: RecordMaker
) -> None:
    ql = vendor("quicklizard", conversions="per_line")
    items = ql.map(EventType.ORDER, order(items=LINES))
    assert [(i["product_id"], i["price"]) for i in items] == [("a", 2.5), ("b", 7.0)]


def test_unknown_conversions_setting_is_refused(vendor: Callable[..., Vendor[Any]]) -> None:
    with pytest.raises(ValidationError):
        vendor("quicklizard", conversions="per_order")


@pytest.mark.parametrize("conversions", ["per_unit", "per_line"])
def test_lines_with_nothing_bought_send_nothing(
    vendor: Callable[..., Vendor[Any]], order: RecordMaker, conversions: str
) -> None:
    ql = vendor("quicklizard", conversions=conversions)
    lines = [{"product_id": "gone", "quantity": 0, "price": 1.0}, *LINES[1:]]
    assert [i["product_id"] for i in ql.map(EventType.ORDER, order(items=lines))] == ["b"]
    with pytest.raises(MappingError) as caught:
        ql.map(EventType.ORDER, order(items=lines[:1]))
    assert caught.value.reason == "no_items"


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


def test_processed_echoed_with_other_spacing_accepts_all(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    body = orjson.dumps({"errors": [], "processed": items}, option=orjson.OPT_INDENT_2)
    assert ql.read_reply(body, items) == [ACCEPTED, ACCEPTED]


def test_compact_echo_of_other_events_fails_them(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    assert [result.ok for result in ql.read_reply(_reply(processed=_items("a", "c")), items)] == [
        True,
        False,
    ]


def test_processed_echoed_in_another_order_accepts_all(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    assert ql.read_reply(_reply(processed=items[::-1]), items) == [ACCEPTED, ACCEPTED]


def test_document_reply_shape_fails_only_the_failed_event(ql: Vendor[Any]) -> None:
    # The document: "processed" and "failed" hold event objects, "errors" entries are {...}.
    items = _items("a", "b", "c")
    body = _reply(
        processed=[items[0], items[2]],
        failed=[items[1]],
        errors=[{"error": "price must be a float"}],
    )
    assert ql.read_reply(body, items) == [
        ACCEPTED,
        ItemResult(ok=False, error="price must be a float"),
        ACCEPTED,
    ]


def test_errors_without_index_go_to_every_failed_event(ql: Vendor[Any]) -> None:
    items = _items("a", "b", "c")
    body = _reply(processed=[items[1]], failed=[items[0], items[2]], errors=["bad a", "bad c"])
    results = ql.read_reply(body, items)
    assert results[1] == ACCEPTED
    assert results[0] == results[2] == ItemResult(ok=False, error="bad a; bad c")


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
    assert ql.read_reply(_reply(processed=[items[1]], failed=[items[0]]), items) == [
        ItemResult(ok=False, error="failed"),
        ACCEPTED,
    ]


def test_index_decides_which_of_equal_events_failed(ql: Vendor[Any]) -> None:
    items = _items("a", "a", "a")
    body = _reply(processed=items[:2], failed=[items[0]], errors=[{"index": 2, "error": "bad"}])
    assert ql.read_reply(body, items) == [ACCEPTED, ACCEPTED, ItemResult(ok=False, error="bad")]


def test_equal_events_listed_twice_both_fail(ql: Vendor[Any]) -> None:
    items = _items("a", "b", "a")
    body = _reply(processed=[items[1]], failed=[items[0], items[2]])
    assert [result.ok for result in ql.read_reply(body, items)] == [False, True, False]


def test_indexed_error_without_failed_entry_fails_an_unprocessed_event(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    body = _reply(processed=[items[0]], errors=[{"index": 1, "error": "bad b"}])
    assert ql.read_reply(body, items) == [ACCEPTED, ItemResult(ok=False, error="bad b")]


def test_processed_event_stays_delivered_when_an_error_names_it(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    body = _reply(processed=items, errors=[{"index": 0, "error": "odd"}])
    assert ql.read_reply(body, items) == [ItemResult(ok=True, warnings=("odd",)), ACCEPTED]


def test_failed_entries_match_as_json_values(ql: Vendor[Any]) -> None:
    items = [{"product_id": "a", "price": 2.0, "event": "view"}]
    echoed = b'{"processed": [], "failed": [{"event": "view", "price": 2, "product_id": "a"}]}'
    assert ql.read_reply(echoed, items) == [ItemResult(ok=False, error="failed")]


def test_true_does_not_match_one(ql: Vendor[Any]) -> None:
    items = [{"product_id": "a", "price": 1}]
    (result,) = ql.read_reply(_reply(processed=[{"product_id": "a", "price": True}]), items)
    assert not result.ok


def test_several_errors_for_one_event_are_joined(ql: Vendor[Any]) -> None:
    items = _items("a")
    body = _reply(failed=items, errors=[{"index": 0, "error": "x"}, {"index": 0, "error": "y"}])
    assert ql.read_reply(body, items) == [ItemResult(ok=False, error="x; y")]


def test_event_the_reply_does_not_list_is_failed_with_the_reply(ql: Vendor[Any]) -> None:
    items = _items("a", "b")
    body = _reply(processed=[items[0]], failed=_items("zzz"))
    first, second = ql.read_reply(body, items)
    assert first == ACCEPTED
    assert not second.ok
    assert second.error is not None
    assert "1 processed and 1 failed of 2 events sent" in second.error
    assert "zzz" in second.error


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>oops</html>", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(_reply(processed={"a": 1}), id="processed-not-a-list"),
        pytest.param(_reply(failed="all"), id="failed-not-a-list"),
        pytest.param(b'{"errors": [{"error": "payload malformed"}]}', id="errors-only"),
        pytest.param(_reply(failed=_items("a", "a")), id="failed-more-often-than-sent"),
    ],
)
def test_unattributable_reply_dead_letters_without_resending(ql: Vendor[Any], body: bytes) -> None:
    # Never a RejectedDeliveryError: the engine would split the batch and send it again.
    results = ql.read_reply(body, _items("a", "b"))
    assert len(results) == 2
    assert not any(result.ok for result in results)
    assert all(result.error for result in results)


def test_reply_excerpt_masks_the_echoed_client_key(ql: Vendor[Any]) -> None:
    sent = [{"client_key": "YOUR_CLIENT_KEY", "price": 1.0, "product_id": "p", "event": "view"}]
    echoed = [{**sent[0], "price": 9.0}]
    for body in (_reply(processed=echoed), b"bad key YOUR_CLIENT_KEY"):
        (result,) = ql.read_reply(body, sent)
        assert result.error is not None
        assert "YOUR_CLIENT_KEY" not in result.error
