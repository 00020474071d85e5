"""`bridge check-config` checks each mapping against the source's schema, naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bridge.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mapping"


def write_config(tmp_path: Path, topics: str) -> Path:
    (tmp_path / "key").write_text("k")
    vendors = {"quicklizard": {"settings": {"client_key": {"file": str(tmp_path / "key")}}}}
    head = yaml.safe_dump({"kafka": {"bootstrap_servers": "127.0.0.1:9"}, "vendors": vendors})
    path = tmp_path / "config.yaml"
    path.write_text(f"{head}topics:\n{topics}")
    return path


def example(name: str) -> str:
    text = (FIXTURES / name / "topics.yaml").read_text()
    for file in ("ProductViewed.avsc", "shopify-order.schema.json"):
        text = text.replace(f": {file}", f": {FIXTURES / name / file}")
    return "".join(f"  {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("name", ["clickstream_headers", "shopify_order_json"])
def test_the_doc_examples_pass(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(write_config(tmp_path, example(name)))]) == 0
    assert "valid" in capsys.readouterr().out


def test_a_path_the_schema_lacks_and_a_type_that_cannot_convert_name_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = example("clickstream_headers")
    topics = topics.replace("product_id: product.id", "product_id: product.sku")
    topics = topics.replace("{path: product.stock, convert: boolean}", "product.stock")
    config = write_config(tmp_path, topics)
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    lines = config.read_text().splitlines()
    sku = next(i for i, line in enumerate(lines, 1) if "product.sku" in line)
    stock = next(i for i, line in enumerate(lines, 1) if "product.stock" in line)
    assert (
        f"{config}:{sku}: topics.product_views[0].mapping.product_id: path product.sku: "
        "Product has no field 'sku' (fields: id, title, category, price, currency, stock)"
    ) in err
    assert (
        f"{config}:{stock}: topics.product_views[0].mapping.in_stock: path product.stock is "
        "a string in the source; the event field takes boolean: add convert: boolean"
    ) in err


def test_a_json_schema_type_that_needs_a_conversion_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = example("shopify_order_json").replace(
        "total: {path: total_price, convert: number}", "total: total_price"
    )
    topics = topics.replace("quantity: quantity", "quantity: {path: quantity, convert: email}")
    assert main(["check-config", str(write_config(tmp_path, topics))]) == 2
    err = capsys.readouterr().err
    assert (
        "topics.orders[0].mapping.total: path total_price is a string in the source; "
        "the event field takes double: add convert: number"
    ) in err
    assert (
        "topics.orders[0].mapping.items.fields.quantity: path line_items[].quantity is a "
        "number in the source; convert email takes a string"
    ) in err


def test_a_mapping_error_at_load_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = example("clickstream_headers").replace("convert: epoch_s", "convert: epoch_sec")
    assert main(["check-config", str(write_config(tmp_path, topics))]) == 2
    assert "mapping.occurred_at.convert: unknown conversion 'epoch_sec'" in capsys.readouterr().err
