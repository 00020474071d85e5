from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import yaml
from fastavro import parse_schema
from fastavro.validation import validate
from pydantic import SecretStr

from bridge.cli import main
from bridge.commands.chain import read_envelope
from bridge.commands.preview import RecordError, load_record, preview, render
from bridge.errors import MappingError
from bridge.events import DEFAULT_SCHEMAS_DIR, Event, EventType
from bridge.vendors import build_vendor
from bridge.vendors.base import HttpRequest, Item, Vendor, VendorSettings, post_json

ORDER = {
    "event_id": "e-1",
    "order_id": "o-1",
    "occurred_at": 1_700_000_000_000,
    "currency": "EUR",
    "total": 30,
    "customer": {"email": "jane@example.com"},
    "items": [
        {"product_id": "a", "quantity": 1, "price": 10},
        {"product_id": "b", "quantity": 2, "price": 10.0},
    ],
}
VIEW = {"event_id": "e-2", "occurred_at": 1, "product_id": "p", "price": 2.5}


def _order(**fields: Any) -> str:
    return orjson.dumps({**ORDER, **fields}).decode()


def test_missing_optional_fields_get_the_schema_defaults() -> None:
    record = load_record(_order(), EventType.ORDER)
    assert record["status"] is None
    assert record["coupons"] == []
    assert record["vendor_ids"] == {}
    assert record["attributes"] == {}
    assert record["customer"]["phone"] is None
    assert record["items"][0]["discount"] is None
    raw = orjson.loads((DEFAULT_SCHEMAS_DIR / "Order.avsc").read_bytes())
    assert set(record) == {field["name"] for field in raw["fields"]}


def test_default_lists_are_not_shared_between_records() -> None:
    first = load_record(_order(), EventType.ORDER)
    first["coupons"].append("X")
    assert load_record(_order(), EventType.ORDER)["coupons"] == []


def test_record_is_what_the_decoder_would_give() -> None:
    record = load_record(_order(), EventType.ORDER)
    assert type(record["occurred_at"]) is int
    assert type(record["total"]) is float
    assert type(record["items"][0]["price"]) is float
    schema = orjson.loads((DEFAULT_SCHEMAS_DIR / "Order.avsc").read_bytes())
    assert validate(record, parse_schema(schema), raise_errors=True)


def test_product_view_customer_may_be_null_or_a_record() -> None:
    assert load_record(orjson.dumps(VIEW).decode(), EventType.PRODUCT_VIEW)["customer"] is None
    with_customer = orjson.dumps({**VIEW, "customer": {"email": "a@b.c"}}).decode()
    customer = load_record(with_customer, EventType.PRODUCT_VIEW)["customer"]
    assert customer == {
        "customer_id": None,
        "email": "a@b.c",
        "phone": None,
        "first_name": None,
        "last_name": None,
        "country": None,
        "city": None,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"items": [{"product_id": "a", "quantity": 1, "price": "abc"}]},
            'items[0].price: expected a number, got "abc"',
        ),
        (
            {"items": [{"product_id": "a", "price": 1}]},
            "items[0].quantity: required field is missing",
        ),
        ({"total": True}, "total: expected a number, got true"),
        ({"status": 5}, "status: expected a string or null, got 5"),
        ({"customer": None}, "customer: expected an object, got null"),
        ({"customer": {"emial": "x"}}, "customer.emial: unknown field"),
        ({"attributes": {"tier": 1}}, "attributes.tier: expected a string, got 1"),
        ({"occurred_at": "2024-01-01"}, 'occurred_at: expected an integer, got "2024-01-01"'),
        ({"coupons": "A10"}, 'coupons: expected a list, got "A10"'),
        (
            {"items": [{"product_id": "a", "quantity": 2**40, "price": 1}]},
            "items[0].quantity: expected an integer within Avro int range, got 1099511627776",
        ),
    ],
)
def test_wrong_record_names_the_field_path(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError) as caught:
        load_record(_order(**fields), EventType.ORDER)
    assert str(caught.value) == message


def test_missing_required_top_level_field_is_named() -> None:
    text = orjson.dumps({k: v for k, v in ORDER.items() if k != "order_id"}).decode()
    with pytest.raises(RecordError, match=r"^order_id: required field is missing$"):
        load_record(text, EventType.ORDER)


def test_record_must_be_an_object() -> None:
    with pytest.raises(RecordError, match=r"^record: expected an object, got \[1\]$"):
        load_record("[1]", EventType.ORDER)


def test_json_syntax_error_names_line_and_column() -> None:
    with pytest.raises(RecordError, match="line 3, column 3"):
        load_record('{\n  "event_id": "x",\n  oops\n}', EventType.ORDER)


def test_record_error_is_not_a_mapping_error() -> None:
    assert issubclass(RecordError, ValueError)
    assert not issubclass(RecordError, MappingError)


def _vendor(name: str, **settings: Any) -> Vendor[Any]:
    return build_vendor(name, settings, None)


def test_batching_vendor_previews_one_request_for_all_items() -> None:
    ql = _vendor("quicklizard", client_key=SecretStr("ck-123"))
    (request,) = preview(ql, EventType.ORDER, load_record(_order(), EventType.ORDER))
    # QuickLizard takes one conversion per unit bought (docs/vendors.md): b has quantity 2.
    assert [event["product_id"] for event in orjson.loads(request.body)] == ["a", "b", "b"]


class _PerLineSettings(VendorSettings):
    pass


class _PerLine(Vendor[_PerLineSettings]):
    """A non-batching vendor with one item per order line."""

    name: ClassVar[str] = "per_line"
    document: ClassVar[str] = "none"
    event_types: ClassVar[frozenset[EventType]] = frozenset({EventType.ORDER})
    batches: ClassVar[bool] = False
    default_base_url: ClassVar[str] = "https://per-line.example"
    settings_model: ClassVar[type[VendorSettings]] = _PerLineSettings

    def map(self, event_type: EventType, event: Event) -> list[Item]:
        return [{"id": line["product_id"]} for line in event["items"]]

    def build_request(self, items: Sequence[Item]) -> HttpRequest:
        (item,) = items
        return post_json(self.base_url, item)


def test_non_batching_vendor_previews_one_request_per_item() -> None:
    vendor = _PerLine(_PerLineSettings(), _PerLine.default_base_url)
    requests = preview(vendor, EventType.ORDER, load_record(_order(), EventType.ORDER))
    assert [orjson.loads(request.body) for request in requests] == [{"id": "a"}, {"id": "b"}]


def test_preview_of_a_record_the_vendor_skips_raises_its_reason() -> None:
    vt = _vendor("vtmarketing", api_key=SecretStr("vt-key"))
    record = load_record(_order(customer={}), EventType.ORDER)
    with pytest.raises(MappingError) as caught:
        preview(vt, EventType.ORDER, record)
    assert caught.value.reason == "missing_email"


def test_render_shows_method_url_headers_and_pretty_body() -> None:
    request = post_json("https://x.example/v1", {"a": [1]}, headers={"X-Account": "acc-1"})
    assert render([request]) == (
        "POST https://x.example/v1\n"
        "Content-Type: application/json\n"
        "X-Account: acc-1\n"
        "\n"
        '{\n  "a": [\n    1\n  ]\n}'
    )


@pytest.mark.parametrize(
    ("name", "settings", "secret"),
    [
        ("quicklizard", {"client_key": SecretStr("ck-secret-1")}, "ck-secret-1"),
        ("vtmarketing", {"api_key": SecretStr("vt-secret-2")}, "vt-secret-2"),
        ("esputnik", {"api_key": SecretStr("es-secret-3")}, "es-secret-3"),
        ("squeezely", {"api_key": SecretStr("sq-secret-4"), "account_id": "acc"}, "sq-secret-4"),
    ],
)
def test_render_masks_every_secret(name: str, settings: dict[str, Any], secret: str) -> None:
    vendor = _vendor(name, **settings)
    record = load_record(_order(), EventType.ORDER)
    requests = preview(vendor, EventType.ORDER, record)
    shown = render(requests)
    assert secret not in shown
    assert base64.b64encode(secret.encode()).decode()[:8] not in shown
    for token in requests[0].secrets:
        assert token not in shown
    assert "****" in shown


def test_render_masks_the_whole_basic_authorization_header() -> None:
    es = _vendor("esputnik", api_key=SecretStr("es-key"), user="shop")
    (request,) = preview(es, EventType.ORDER, load_record(_order(), EventType.ORDER))
    assert "Authorization: ****\n" in render([request])
    assert "Basic" not in render([request])


def test_render_shows_the_account_header_but_not_the_key_header() -> None:
    sq = _vendor("squeezely", api_key=SecretStr("sq-key"), account_id="acc-77")
    (request,) = preview(sq, EventType.ORDER, load_record(_order(), EventType.ORDER))
    shown = render([request])
    assert "X-AUTH-ACCOUNT: acc-77\n" in shown
    assert "X-AUTH-APIKEY: ****\n" in shown


def test_render_masks_secrets_in_url_any_header_and_escaped_in_the_body() -> None:
    secret = 'k"ey\\1'
    request = HttpRequest(
        method="POST",
        url=f"https://x.example/{secret}",
        headers={"X-Custom": f"token={secret}"},
        body=orjson.dumps({"key": secret, "other": "visible"}),
        secrets=(secret, ""),
    )
    shown = render([request])
    assert "X-Custom: ****" in shown
    assert "https://x.example/****" in shown
    assert '"key": "****"' in shown
    assert '"other": "visible"' in shown
    assert secret not in shown
    assert orjson.dumps(secret).decode()[1:-1] not in shown  # as escaped inside JSON


def test_render_shows_a_body_that_is_not_json_as_text() -> None:
    request = HttpRequest("POST", "https://x.example", {}, b"a=1&key=abc", secrets=("abc",))
    assert render([request]).endswith("\n\na=1&key=****")


def test_render_separates_requests() -> None:
    first = post_json("https://x.example/1", {})
    second = post_json("https://x.example/2", {})
    shown = render([first, second])
    assert shown.index("POST https://x.example/1") < shown.index("\n\nPOST https://x.example/2")


# -- the whole chain, from a file --------------------------------------------------------------

MAPPING_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mapping"


@pytest.fixture
def shopify_config(tmp_path: Path) -> Path:
    example = MAPPING_FIXTURES / "shopify_order_json"
    (source,) = yaml.safe_load((example / "topics.yaml").read_text())["orders"]
    source.update(name=r"^shopify\.orders\.[a-z]{2}$")
    source["json_schema"] = str(example / source["json_schema"])
    source["mapping"]["visitor_id"] = {"header": "x-visitor-id"}
    (tmp_path / "key").write_text("ql-secret-key")
    config = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9"},
        "topics": {"orders": [source]},
        "vendors": {
            "quicklizard": {
                "base_url": "http://127.0.0.1:9/quicklizard",
                "settings": {"client_key": {"file": str(tmp_path / "key")}},
            },
            "vtmarketing": {
                "base_url": "http://127.0.0.1:9/vt",
                "require_consent": True,
                "settings": {"api_key": {"file": str(tmp_path / "key")}},
            },
        },
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _shopify(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(
        (MAPPING_FIXTURES / "shopify_order_json" / "record.json").read_bytes()
    )
    return {**record, **changes}


def test_an_envelope_gives_key_and_headers_to_the_mapping(
    shopify_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = {"value": _shopify(), "key": "O-1", "headers": {"x-visitor-id": "vis-7"}}
    record = tmp_path / "record.json"
    record.write_bytes(orjson.dumps(envelope))
    args = ["preview", "--config", str(shopify_config), "--topic", "shopify.orders.nl"]
    assert main([*args, "--vendor", "quicklizard", str(record)]) == 0
    source, event, request = capsys.readouterr().out.split("\n== ")
    assert source.startswith("== source record (shopify.orders.nl)\nkey: O-1\n")
    assert "header x-visitor-id: vis-7" in source
    assert '"total_price": "59.85"' in source
    assert event.startswith("event: order (mapped by the topic's mapping)")
    assert '"total": 59.85' in event
    assert '"email": "jon.snow@example.com"' in event
    assert request.startswith("quicklizard\nPOST http://127.0.0.1:9/quicklizard/events")
    assert '"vid": "vis-7"' in request
    assert "ql-secret-key" not in request


def test_every_configured_vendor_is_shown_with_its_own_outcome(
    shopify_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "record.json"
    record.write_bytes(orjson.dumps(_shopify(buyer_accepts_marketing=False)))
    args = ["preview", "--config", str(shopify_config), "--topic", "shopify.orders.de"]
    assert main([*args, str(record)]) == 0
    sections = capsys.readouterr().out.split("\n== ")
    assert [section.split("\n")[0] for section in sections[2:]] == ["quicklizard", "vtmarketing"]
    assert sections[2].startswith("quicklizard\nPOST ")
    assert sections[3] == "vtmarketing\nwould be skipped: no_consent\n"


def test_a_record_the_mapping_cannot_handle_would_be_dead_lettered_with_the_path(
    shopify_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "record.json"
    record.write_bytes(orjson.dumps(_shopify(total_price="about 60")))
    args = ["preview", "--config", str(shopify_config), "--topic", "shopify.orders.nl"]
    assert main([*args, str(record)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        "}\n\nwould be dead-lettered (mapping): "
        "unconvertible: total <- path total_price: cannot convert: ValueError\n"
    )
    assert "about 60" in out  # the source record is shown; the message never holds the value
    assert "== event" not in out


def test_a_record_failing_the_json_schema_would_be_dead_lettered_as_decode(
    shopify_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "record.json"
    record.write_bytes(orjson.dumps(_shopify(line_items="none")))
    args = ["preview", "--config", str(shopify_config), "--topic", "shopify.orders.nl"]
    assert main([*args, str(record)]) == 0
    assert "would be dead-lettered (decode): json_schema_mismatch: $.line_items: fails" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"value": {}, "key": 5}', "key: expected a string or null"),
        ('{"value": {}, "headers": {"a": 1}}', "headers[0]: expected an object of strings"),
        ('{"value": {}, "headers": [["a"]]}', "headers[0]: expected an object of strings"),
    ],
)
def test_a_bad_envelope_names_the_part(text: str, message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        read_envelope(text, "t")


def test_a_file_without_the_envelope_keys_is_the_value_itself() -> None:
    plain = read_envelope('{"value": 1, "other": 2}', "t")
    assert plain.document == {"value": 1, "other": 2}
    assert (plain.key, plain.headers) == (None, [])
    wrapped = read_envelope('{"value": {"a": 1}, "headers": [["h", "1"], ["h", "2"]]}', "t")
    assert wrapped.document == {"a": 1}
    assert wrapped.headers == [("h", b"1"), ("h", b"2")]


def test_an_event_type_name_needs_a_topic_in_the_bridges_own_schema(
    shopify_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["preview", "--config", str(shopify_config), "--topic", "order", "-"]
    assert main(args) == 2
    assert "every order topic has a mapping: name the topic" in capsys.readouterr().err
