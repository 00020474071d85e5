"""`bridge preview --topic T --partition P --offset N`: one record read from a real broker
(Tansu), decoded, mapped and shown with each vendor's request; nothing committed or sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from bridge.cli import main
from bridge.kafka.avro import AvroEncoder
from bridge.tools.localbroker import LocalBroker
from tests.support.kafka import ProducedHeaders, unique

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "mapping" / "clickstream_headers"
CLIENT_KEY = "ql-preview-secret"


def view(price: str, visitor: str) -> tuple[bytes, ProducedHeaders]:
    schema = yaml.safe_load((EXAMPLE / "ProductViewed.avsc").read_text())
    value = {
        "ts": 1714557600.25,
        "product": {
            "id": f"SKU-{visitor}",
            "title": "Wool socks",
            "category": "Socks",
            "price": price,
            "currency": "EUR",
            "stock": "true",
        },
        "page": {"url": "https://shop.example.com/p/1", "locale": "NL-nl"},
    }
    return AvroEncoder(schema).encode(value), [("x-visitor-id", visitor.encode())]


@pytest.fixture
def setup(broker: LocalBroker, tmp_path: Path) -> tuple[Path, str]:
    topic = unique("clickstream")
    broker.create_topics({topic: 2})
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    records = [("19.95", "v-0"), ("4.50", "v-1"), ("not a price", "v-2")]
    for offset, (price, visitor) in enumerate(records):
        value, headers = view(price, visitor)
        producer.produce(topic, value, key=f"k-{offset}", partition=1, headers=headers)
    assert producer.flush(15) == 0
    (source,) = yaml.safe_load((EXAMPLE / "topics.yaml").read_text())["product_views"]
    source.update(name=topic, avro_schema=str(EXAMPLE / source["avro_schema"]))
    (tmp_path / "key").write_text(CLIENT_KEY)
    config: dict[str, Any] = {
        "kafka": {"bootstrap_servers": broker.bootstrap, "group_prefix": unique("preview")},
        "topics": {"orders": {"name": unique("orders")}, "product_views": [source]},
        "vendors": {
            "quicklizard": {
                "base_url": "http://127.0.0.1:9/quicklizard",
                "settings": {"client_key": {"file": str(tmp_path / "key")}},
            }
        },
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, topic


def preview(config: Path, topic: str, offset: int, *extra: str) -> list[str]:
    partition = ["--partition", "1", "--offset", str(offset)]
    return ["preview", "--config", str(config), "--topic", topic, *partition, *extra]


def test_a_record_at_an_offset_is_shown_decoded_mapped_and_as_the_request(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, topic = setup
    assert main(preview(config, topic, 1)) == 0
    out = capsys.readouterr().out
    source, event, request = out.split("\n== ")
    assert source.startswith(f"== source record ({topic}, partition 1, offset 1)")
    assert "key: k-1" in source
    assert "header x-visitor-id: v-1" in source
    assert '"price": "4.50"' in source  # as the clickstream wrote it
    assert event.startswith("event: product_view (mapped by the topic's mapping)")
    assert '"price": 4.5' in event
    assert '"visitor_id": "v-1"' in event
    assert request.startswith("quicklizard\nPOST http://127.0.0.1:9/quicklizard/events")
    assert '"vid": "v-1"' in request
    assert '"product_id": "SKU-v-1"' in request
    assert CLIENT_KEY not in out


def test_a_record_the_mapping_cannot_handle_says_where_and_why(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, topic = setup
    assert main(preview(config, topic, 2)) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        "would be dead-lettered (mapping): "
        "unconvertible: price <- path product.price: cannot convert: ValueError"
    )
    assert "== quicklizard" not in out


def test_an_offset_without_a_record_is_a_failure(
    setup: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, topic = setup
    assert main(preview(config, topic, 7, "--timeout", "2")) == 1
    assert f"no record at offset 7 of {topic} partition 1" in capsys.readouterr().err


def test_reading_from_kafka_needs_the_config_and_both_coordinates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["preview", "--vendor", "qubit", "--topic", "t", "--offset", "1"]) == 2
    assert "needs --partition, --offset and --config" in capsys.readouterr().err
