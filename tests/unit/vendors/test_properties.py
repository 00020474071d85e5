"""Properties over generated records, for every vendor."""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.commands.preview import preview, render
from bridge.errors import MappingError
from bridge.events import EventType
from bridge.vendors import vendor_classes
from bridge.vendors.base import HttpRequest, Item, Vendor

VendorMaker = Callable[..., Vendor[Any]]
RecordMaker = Callable[..., dict[str, Any]]

KNOWN_REASONS = {
    "missing_email",
    "missing_visitor_id",
    "missing_locator",
    "missing_url",
    "no_items",
    "unsupported_event_type",
}
JSON_STRING_PARAMS = {"product", "purchasedItems"}

text = st.text(max_size=12)
optional_text = st.none() | text
amounts = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
customers = st.fixed_dictionaries(
    {},
    optional={
        name: optional_text
        for name in ("customer_id", "email", "phone", "first_name", "last_name", "country", "city")
    },
)
vendor_ids = st.dictionaries(st.sampled_from([*vendor_classes(), "other"]), text, max_size=3)
lines = st.lists(
    st.fixed_dictionaries(
        {
            "product_id": text,
            "quantity": st.integers(min_value=1, max_value=1000),
            "price": amounts,
        },
        optional={
            "name": optional_text,
            "category": optional_text,
            "discount": st.none() | amounts,
        },
    ),
    max_size=5,
)
orders = st.fixed_dictionaries(
    {
        "event_id": text,
        "order_id": text,
        "occurred_at": st.integers(min_value=0, max_value=2**42),
        "currency": st.sampled_from(["EUR", "USD", "GBP"]),
        "total": amounts,
        "customer": customers,
        "items": lines,
    },
    optional={
        "status": optional_text,
        "shipping_total": st.none() | amounts,
        "coupons": st.lists(text, max_size=3),
        "visitor_id": optional_text,
        "vendor_ids": vendor_ids,
        "language": optional_text,
        "page_url": optional_text,
        "attributes": st.dictionaries(st.text(min_size=1, max_size=8), text, max_size=3),
    },
)
product_views = st.fixed_dictionaries(
    {
        "event_id": text,
        "occurred_at": st.integers(min_value=0, max_value=2**42),
        "product_id": text,
        "price": amounts,
    },
    optional={
        "currency": st.none() | st.sampled_from(["EUR", "USD"]),
        "url": optional_text,
        "in_stock": st.none() | st.booleans(),
        "visitor_id": optional_text,
        "vendor_ids": vendor_ids,
        "customer": st.none() | customers,
    },
)
events = st.tuples(st.just(EventType.ORDER), orders) | st.tuples(
    st.just(EventType.PRODUCT_VIEW), product_views
)


def _nulls(value: Any, key: str = "") -> int:
    """How many nulls `value` holds, looking inside eSputnik's JSON-string params too."""
    if value is None:
        return 1
    if isinstance(value, dict):
        if value.get("name") in JSON_STRING_PARAMS and isinstance(value.get("value"), str):
            return _nulls(orjson.loads(value["value"]))
        return sum(_nulls(item) for item in value.values())
    if isinstance(value, list):
        return sum(_nulls(item) for item in value)
    return 0


def _preview_or_reason(
    vendor: Vendor[Any], event_type: EventType, record: dict[str, Any]
) -> list[HttpRequest] | str:
    """The requests for `record`, or the reason the vendor skips it."""
    try:
        return preview(vendor, event_type, record)
    except MappingError as exc:
        return exc.reason


@pytest.mark.parametrize("conversions", ["per_unit", "per_line"])
@given(raw=orders)
def test_quicklizard_sends_one_conversion_per_unit_or_per_line(
    raw: dict[str, Any], vendor: VendorMaker, record: RecordMaker, conversions: str
) -> None:
    ql = vendor("quicklizard", conversions=conversions)
    order = record(EventType.ORDER, raw)
    if not order["items"]:
        with pytest.raises(MappingError, match="no_items"):
            ql.map(EventType.ORDER, order)
        return
    items = ql.map(EventType.ORDER, order)
    expected = [
        line["product_id"]
        for line in order["items"]
        for _ in range(line["quantity"] if conversions == "per_unit" else 1)
    ]
    assert [item["product_id"] for item in items] == expected
    assert Counter(item["price"] for item in items) == Counter(
        line["price"]
        for line in order["items"]
        for _ in range(line["quantity"] if conversions == "per_unit" else 1)
    )


@pytest.mark.parametrize("name", sorted(vendor_classes()))
@given(event=events)
def test_bodies_are_json_without_nulls_and_never_show_secrets(
    name: str, event: tuple[EventType, dict[str, Any]], vendor: VendorMaker, record: RecordMaker
) -> None:
    event_type, raw = event
    under_test = vendor(name)
    outcome = _preview_or_reason(under_test, event_type, record(event_type, raw))
    if isinstance(outcome, str):
        assert outcome in KNOWN_REASONS
        return
    requests = outcome
    assert event_type in under_test.event_types
    for request in requests:
        assert _nulls(orjson.loads(request.body)) == 0
    shown = render(requests)
    for secret in requests[0].secrets:
        assert secret not in shown


@pytest.mark.parametrize("name", sorted(vendor_classes()))
@given(event=events)
def test_mapping_and_building_requests_leave_the_event_as_it_was(
    name: str, event: tuple[EventType, dict[str, Any]], vendor: VendorMaker, record: RecordMaker
) -> None:
    # The pipelines of one process share a decoded event (`bridge.kafka.formats.Decoders`):
    # a vendor that changed it would change what the other vendors send.
    event_type, raw = event
    decoded = record(event_type, raw)
    before = copy.deepcopy(decoded)

    _preview_or_reason(vendor(name), event_type, decoded)

    assert decoded == before


@given(
    batch=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=8),
    data=st.data(),
)
def test_quicklizard_fails_each_event_as_often_as_listed(
    batch: list[str], data: st.DataObject, vendor: VendorMaker
) -> None:
    ql = vendor("quicklizard")
    items: list[Item] = [{"product_id": pid, "price": 1.0, "event": "view"} for pid in batch]
    failing = data.draw(st.lists(st.sampled_from(range(len(items))), unique=True))
    failed = [items[index] for index in failing]
    processed = [item for index, item in enumerate(items) if index not in failing]
    random.Random(len(batch)).shuffle(failed)
    random.Random(len(batch) + 1).shuffle(processed)
    body = orjson.dumps({"processed": processed, "failed": failed, "errors": []})

    results = ql.read_reply(body, items)

    assert len(results) == len(items)
    failed_ids = Counter(
        item["product_id"] for item, r in zip(items, results, strict=True) if not r.ok
    )
    assert failed_ids == Counter(batch[index] for index in failing)


@given(
    batch=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=8),
    data=st.data(),
)
def test_quicklizard_delivers_exactly_what_the_reply_counts_as_processed(
    batch: list[str], data: st.DataObject, vendor: VendorMaker
) -> None:
    # Whatever the reply lists, an event it counts as processed is delivered (never re-sent),
    # and no reply makes read_reply raise (a raise would re-send the batch).
    ql = vendor("quicklizard")
    items: list[Item] = [{"product_id": pid, "price": 1.0, "event": "view"} for pid in batch]
    listed = st.lists(st.sampled_from([*items, {"product_id": "x"}]), max_size=10)
    processed, failed = data.draw(listed), data.draw(listed)
    errors = data.draw(
        st.lists(st.fixed_dictionaries({"index": st.integers(-1, 9), "error": st.just("e")}))
    )
    body = orjson.dumps({"processed": processed, "failed": failed, "errors": errors})

    results = ql.read_reply(body, items)

    delivered = Counter(item["product_id"] for item, r in zip(items, results, strict=True) if r.ok)
    said_processed = Counter(entry["product_id"] for entry in processed)
    said_failed = Counter(entry["product_id"] for entry in failed)
    for pid in set(batch):
        sent = batch.count(pid)
        # Everything processed and not also failed is delivered; nothing unlisted is.
        assert delivered[pid] >= min(sent - min(said_failed[pid], sent), said_processed[pid])
        assert delivered[pid] <= min(sent, said_processed[pid])
