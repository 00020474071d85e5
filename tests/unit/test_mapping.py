"""The mapping language: paths, sources, conversions, defaults, and clear errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bridge.events import DEFAULT_SCHEMAS_DIR, EventType, load_schema
from bridge.mapping import (
    EACH,
    MappingSpecError,
    SourceMapping,
    SourceMappingError,
    compile_mapping,
    parse_path,
)

ORDER = load_schema(DEFAULT_SCHEMAS_DIR, EventType.ORDER)
VIEW = load_schema(DEFAULT_SCHEMAS_DIR, EventType.PRODUCT_VIEW)

ORDER_SPEC: dict[str, Any] = {
    "event_id": {"header": "event-id"},
    "order_id": {"path": "orderNumber", "convert": "string"},
    "occurred_at": {"path": "createdAt", "convert": "iso8601"},
    "currency": {"path": "currency", "default": "EUR"},
    "total": {"path": "totals.grandCents", "convert": "cents"},
    "customer": {
        "email": {"path": "billing.email", "convert": "email"},
        "customer_id": {"key": True},
    },
    "vendor_ids": {"qubit": 'tracking["qubit.id"]'},
    "items": {
        "each": "lines",
        "fields": {
            "product_id": "sku",
            "quantity": {"path": "qty", "convert": "integer"},
            "price": {"path": "unitCents", "convert": "cents"},
            "category": "$.store",
        },
    },
    "coupons": {"each": "discounts", "value": "code"},
    "channel": {"const": "web"},
    "attributes": {"path": "extra"},
}

SOURCE: dict[str, Any] = {
    "orderNumber": 1001,
    "createdAt": "2024-05-01T10:00:00Z",
    "totals": {"grandCents": 1999},
    "billing": {"email": "  Ann@Example.COM "},
    "tracking": {"qubit.id": "q-1"},
    "lines": [
        {"sku": "S1", "qty": "2", "unitCents": 500},
        {"sku": "S2", "qty": 1.0, "unitCents": "250"},
    ],
    "store": "nl",
    "discounts": [{"code": "SUMMER"}],
    "extra": {"segment": "gold", "score": 3},
}


@pytest.fixture(scope="module")
def order_mapping() -> SourceMapping:
    return compile_mapping(ORDER_SPEC, ORDER)


def test_a_realistic_order_maps_onto_the_bridge_schema(order_mapping: SourceMapping) -> None:
    event = order_mapping.apply(SOURCE, b"cust-7", [("event-id", b"e-1")])
    assert event["event_id"] == "e-1"
    assert event["order_id"] == "1001"
    assert event["occurred_at"] == 1714557600000
    assert event["currency"] == "EUR"
    assert event["total"] == 19.99
    assert event["customer"]["email"] == "ann@example.com"
    assert event["customer"]["customer_id"] == "cust-7"
    assert event["customer"]["phone"] is None
    assert event["vendor_ids"] == {"qubit": "q-1"}
    assert event["items"] == [
        {"product_id": "S1", "quantity": 2, "price": 5.0, "name": None, "category": "nl",
         "discount": None},
        {"product_id": "S2", "quantity": 1, "price": 2.5, "name": None, "category": "nl",
         "discount": None},
    ]  # fmt: skip
    assert event["coupons"] == ["SUMMER"]
    assert event["channel"] == "web"
    assert event["attributes"] == {"segment": "gold", "score": "3"}
    assert event["status"] is None
    assert event["marketing_consent"] is None


def test_mapping_leaves_the_decoded_record_as_it_was(order_mapping: SourceMapping) -> None:
    # The pipelines of one process share a decoded record (`bridge.kafka.formats.Decoders`)
    # and each applies the topic's mapping to it.
    record = copy.deepcopy(SOURCE)

    order_mapping.apply(record, b"cust-7", [("event-id", b"e-1")])

    assert record == SOURCE


def test_the_event_validates_against_the_bridge_schema(order_mapping: SourceMapping) -> None:
    import fastavro

    from bridge.kafka.avro import parse

    event = order_mapping.apply(SOURCE, b"k", [("event-id", b"e-1")])
    assert fastavro.validate(event, parse(ORDER), raise_errors=True)


def test_a_missing_required_value_names_the_field_and_the_source(
    order_mapping: SourceMapping,
) -> None:
    with pytest.raises(SourceMappingError) as caught:
        order_mapping.apply(SOURCE, None, [])
    assert caught.value.reason == "missing_value"
    assert str(caught.value) == "missing_value: event_id <- header event-id: required, absent"


def test_a_value_that_will_not_convert_is_reported_without_the_value(
    order_mapping: SourceMapping,
) -> None:
    source = {**SOURCE, "totals": {"grandCents": "ann@example.com"}}
    with pytest.raises(SourceMappingError) as caught:
        order_mapping.apply(source, None, [("event-id", b"e")])
    assert caught.value.reason == "unconvertible"
    assert caught.value.where == "total"
    assert "totals.grandCents" in str(caught.value)
    assert "ann@example.com" not in str(caught.value)


def test_a_value_of_the_wrong_type_is_refused_for_a_field(order_mapping: SourceMapping) -> None:
    lines = [{"sku": {"nested": True}, "qty": 1, "unitCents": 1}]
    with pytest.raises(SourceMappingError) as caught:
        order_mapping.apply({**SOURCE, "lines": lines}, None, [("event-id", b"e")])
    assert caught.value.reason == "wrong_type"
    assert caught.value.where == "items.fields.product_id"
    assert "lines[].sku" in str(caught.value)


@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        ("cents", "1234", 12.34),
        ("number", "12.5", 12.5),
        ("integer", "7", 7),
        ("epoch_s", 1714557600, 1714557600000),
        ("epoch_ms", "1714557600000", 1714557600000),
        ("epoch_us", 1714557600000123, 1714557600000),
        ("iso8601", "2024-05-01T12:00:00+02:00", 1714557600000),
        ("iso8601", "2024-05-01T10:00:00", 1714557600000),
    ],
)
def test_conversions(convert: str, value: Any, expected: Any) -> None:
    target = "total" if isinstance(expected, float) else "occurred_at"
    spec = {**ORDER_SPEC, target: {"path": "v", "convert": convert}}
    event = compile_mapping(spec, ORDER).apply({**SOURCE, "v": value}, None, [("event-id", b"e")])
    assert event[target] == expected


def test_conversions_chain_in_order() -> None:
    spec = {**ORDER_SPEC, "customer": {"email": {"path": "e", "convert": ["trim", "lower"]}}}
    event = compile_mapping(spec, ORDER).apply({**SOURCE, "e": " A@B "}, None, [("event-id", b"")])
    assert event["customer"]["email"] == "a@b"


def test_an_empty_header_is_missing_and_a_default_fills_it() -> None:
    spec = {**ORDER_SPEC, "event_id": {"header": "event-id", "default": "none"}}
    assert compile_mapping(spec, ORDER).apply(SOURCE, None, [])["event_id"] == "none"


def test_a_product_view_from_headers_and_key() -> None:
    spec = {
        "event_id": {"key": True},
        "occurred_at": {"path": "ts", "convert": "epoch_s"},
        "product_id": "product.id",
        "price": {"path": "product.price", "convert": "number"},
        "visitor_id": {"header": "qubit-visitor"},
        "vendor_ids": {"qubit": {"header": "qubit-visitor"}, "esputnik": {"header": "es-id"}},
    }
    event = compile_mapping(spec, VIEW).apply(
        {"ts": 1714557600, "product": {"id": "P1", "price": "9.90"}},
        b"view-1",
        [("qubit-visitor", b"v-9")],
    )
    assert event["event_id"] == "view-1"
    assert event["visitor_id"] == "v-9"
    assert event["vendor_ids"] == {"qubit": "v-9"}
    assert event["price"] == 9.9
    assert event["customer"] is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"order_id": "x"}, "event_id: required by Order; map it"),
        ({**ORDER_SPEC, "totl": "x"}, "totl: Order has no such field"),
        ({**ORDER_SPEC, "total": {"path": "x", "convert": "cent"}}, "total.convert: unknown"),
        ({**ORDER_SPEC, "total": {"path": "a[", "default": 1}}, "total.path: path 'a['"),
        ({**ORDER_SPEC, "total": {"path": "a", "const": 1}}, "total: give exactly one of"),
        ({**ORDER_SPEC, "total": {"pth": "a"}}, "total: expected a path or a mapping"),
        ({**ORDER_SPEC, "total": {"const": "abc"}}, "total <- a constant: expected a number"),
        ({**ORDER_SPEC, "items": {"each": "lines"}}, "items: each needs 'fields'"),
        ({**ORDER_SPEC, "customer": "buyer"}, "customer: a record"),
        ({**ORDER_SPEC, "event_id": {"key": "yes"}}, "event_id.key: write key: true"),
    ],
)
def test_a_bad_mapping_fails_at_compile_time_naming_the_field(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises((MappingSpecError, SourceMappingError)) as caught:
        compile_mapping(spec, ORDER)
    assert message in str(caught.value)


def test_paths() -> None:
    assert parse_path("a.b[2]['c.d'].e") == (False, ("a", "b", 2, "c.d", "e"))
    assert parse_path('$.a["x"]') == (True, ("a", "x"))
    with pytest.raises(MappingSpecError):
        parse_path(".a")


def test_uses_list_every_source_path_from_the_root(order_mapping: SourceMapping) -> None:
    uses = {use.where: use for use in order_mapping.uses}
    assert uses["items.fields.price"].path == ("lines", EACH, "unitCents")
    assert uses["items.fields.category"].path == ("store",)
    assert uses["total"].converts == ("cents",)
    assert uses["event_id"].source == "header"
