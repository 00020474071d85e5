from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from bridge import __version__
from bridge.errors import MappingError, RejectedDeliveryError, TransientDeliveryError
from bridge.events import EventType
from bridge.vendors.base import ACCEPTED, ItemResult, Vendor

RecordMaker = Callable[..., dict[str, Any]]
VendorMaker = Callable[..., Vendor[Any]]

DOCUMENT_REPLY = b"""{
  "results": [{
    "eventId": "g2w06o5z9nc-0ivwki51j-km2859c",
    "eventType": "ecBasketTransactionSummary",
    "status": "success",
    "warnings": ["Missing meta.source"]
  }, {
    "status": "failed",
    "error": "Missing context.id"
  }]
}"""


@pytest.fixture
def qubit(vendor: VendorMaker) -> Vendor[Any]:
    return vendor("qubit")


@pytest.fixture
def qubit_order(order: RecordMaker) -> RecordMaker:
    return lambda **fields: order(vendor_ids={"qubit": "visitor-1"}, **fields)


@pytest.mark.parametrize(
    ("vertical", "event_type", "amount_field"),
    [
        ("ecommerce", "ecBasketTransactionSummary", "basket"),
        ("egaming", "egBetslipTransactionSummary", "betslip"),
        ("publisher", "pbBasketTransactionSummary", "basket"),
        ("logistics", "loBasketTransactionSummary", "basket"),
        ("travel", "trPackageTransactionSummary", "package"),
        ("finance", "fiBasketTransactionSummary", "basket"),
    ],
)
def test_vertical_chooses_transaction_event_and_amount_field(
    vendor: VendorMaker, qubit_order: RecordMaker, vertical: str, event_type: str, amount_field: str
) -> None:
    (item,) = vendor("qubit", vertical=vertical).map(EventType.ORDER, qubit_order(total=12.5))
    assert item["meta"]["type"] == event_type
    assert item[amount_field] == {"total": {"value": 12.5, "currency": "EUR"}}
    assert {"basket", "betslip", "package"} & set(item) == {amount_field}


def test_meta_carries_timestamp_url_and_source(
    vendor: VendorMaker, qubit_order: RecordMaker
) -> None:
    qubit = vendor("qubit", source="shop@2.1.0")
    record = qubit_order(occurred_at=1479377213928, page_url="https://shop.example/thanks")
    (item,) = qubit.map(EventType.ORDER, record)
    assert item["meta"] == {
        "type": "ecBasketTransactionSummary",
        "ts": 1479377213928,
        "url": "https://shop.example/thanks",
        "source": "shop@2.1.0",
    }
    assert item["context"] == {"id": "visitor-1"}
    assert item["transaction"] == {"id": "order-1"}


def test_meta_url_is_left_out_without_page_url(
    qubit: Vendor[Any], qubit_order: RecordMaker
) -> None:
    (item,) = qubit.map(EventType.ORDER, qubit_order(page_url=None))
    assert "url" not in item["meta"]


def test_default_source_names_the_bridge_version(qubit: Vendor[Any]) -> None:
    assert qubit.settings.source == f"bridge@{__version__}"


def test_company_prefix_goes_before_the_type(vendor: VendorMaker, qubit_order: RecordMaker) -> None:
    (item,) = vendor("qubit", type_prefix="someco.").map(EventType.ORDER, qubit_order())
    assert item["meta"]["type"] == "someco.ecBasketTransactionSummary"


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"tracking_id": ""}, id="empty-tracking-id"),
        pytest.param({"type_prefix": "someco"}, id="prefix-without-dot"),
        pytest.param({"vertical": "retail"}, id="unknown-vertical"),
        pytest.param({"source": ""}, id="empty-source"),
        pytest.param({"trackingId": "x"}, id="unknown-setting"),
    ],
)
def test_invalid_settings_are_refused(vendor: VendorMaker, settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        vendor("qubit", **settings)


def test_tracking_id_is_required() -> None:
    from bridge.vendors import build_vendor

    with pytest.raises(ValidationError, match="tracking_id"):
        build_vendor("qubit", {}, None)


@pytest.mark.parametrize("vendor_ids", [{}, {"qubit": ""}, {"quicklizard": "x"}])
def test_order_without_qubit_visitor_id_is_skipped(
    qubit: Vendor[Any], order: RecordMaker, vendor_ids: dict[str, str]
) -> None:
    with pytest.raises(MappingError) as caught:
        qubit.map(EventType.ORDER, order(vendor_ids=vendor_ids, visitor_id="own-visitor"))
    assert caught.value.reason == "missing_visitor_id"


def test_product_view_is_not_taken(qubit: Vendor[Any], product_view: RecordMaker) -> None:
    assert qubit.event_types == {EventType.ORDER}
    with pytest.raises(MappingError) as caught:
        qubit.map(EventType.PRODUCT_VIEW, product_view(vendor_ids={"qubit": "v"}))
    assert caught.value.reason == "unsupported_event_type"


def test_request_wraps_events_and_quotes_the_tracking_id(vendor: VendorMaker) -> None:
    request = vendor("qubit", tracking_id="a b/c").build_request([{"n": 1}, {"n": 2}])
    assert request.url == "https://offline-conversions.qubit.com/events/a%20b%2Fc"
    assert orjson.loads(request.body) == {"events": [{"n": 1}, {"n": 2}]}
    assert request.headers == {"Content-Type": "application/json"}


def test_document_reply_gives_warnings_and_failures_per_event(qubit: Vendor[Any]) -> None:
    assert qubit.read_reply(DOCUMENT_REPLY, [{}, {}]) == [
        ItemResult(ok=True, warnings=("Missing meta.source",)),
        ItemResult(ok=False, error="Missing context.id"),
    ]


def test_error_status_of_the_document_text_fails_the_event(qubit: Vendor[Any]) -> None:
    body = (
        b'{"results": [{"status": "success", "warnings": []}, {"status": "error", "error": "x"}]}'
    )
    assert qubit.read_reply(body, [{}, {}]) == [ACCEPTED, ItemResult(ok=False, error="x")]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"results": [{"status": "success"}]}', id="fewer-results"),
        pytest.param(
            b'{"results": [{"status": "success"}, {"status": "success"}, {"status": "success"}]}',
            id="more-results",
        ),
        pytest.param(b'{"results": []}', id="no-results"),
        pytest.param(b'{"results": {"status": "success"}}', id="results-not-a-list"),
        pytest.param(b'{"status": 400, "message": "Bad Request"}', id="status-message"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b"Bad Gateway", id="not-json"),
        pytest.param(b'{"results": ["success", "success"]}', id="results-not-objects"),
    ],
)
def test_reply_without_a_result_per_event_refuses_the_request(
    qubit: Vendor[Any], body: bytes
) -> None:
    with pytest.raises(RejectedDeliveryError):
        qubit.read_reply(body, [{}, {}])


@pytest.mark.parametrize("status", [502, 503, 429])
def test_upstream_error_message_is_transient(qubit: Vendor[Any], status: int) -> None:
    body = orjson.dumps({"status": status, "message": "Bad Gateway"})
    with pytest.raises(TransientDeliveryError) as caught:
        qubit.read_reply(body, [{}])
    assert caught.value.status == status


def test_document_reply_for_one_event_is_unreadable(qubit: Vendor[Any]) -> None:
    # The document's example reply holds two results; for one event sent it cannot be read
    # (never guess which result is ours).
    with pytest.raises(RejectedDeliveryError, match="2 results for 1 events"):
        qubit.read_reply(DOCUMENT_REPLY, [{}])
