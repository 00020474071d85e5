"""Replay finds a letter's source the way the live pipeline does, patterns included, and
admits it through `Intake.admit` (decoded and mapped as the live pipeline would)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import yaml
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from bridge.commands.replay import Letter, Options, Selection, Summary
from bridge.commands.replay.admission import Admission
from bridge.commands.replay.run import _selected, build
from bridge.config import Config, validate_config
from bridge.metrics import Metrics
from bridge.pipeline.intake import Intake

EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "mapping" / "shopify_order_json"
PATTERN = r"^shopify\.orders\.[a-z]{2}$"


class FakeMessage:
    def __init__(self, offset: int, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self._offset, self._value, self._headers = offset, value, headers

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value


def letter(offset: int, topic: str, value: bytes) -> Letter:
    bridge = {
        "bridge.vendor": "quicklizard",
        "bridge.error.class": "rejected",
        "bridge.http.status": "400",
        "bridge.attempts": "1",
        "bridge.source.topic": topic,
        "bridge.source.partition": "0",
        "bridge.source.offset": str(offset),
    }
    headers = [(name, text.encode()) for name, text in bridge.items()]
    return Letter.from_message(cast(Message, FakeMessage(offset, value, headers)))


class Reader:
    def __init__(self, letters: list[Letter]) -> None:
        self._letters = letters

    async def read(self) -> AsyncIterator[Letter]:
        for one in self._letters:
            yield one


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "key").write_text("ql-key")
    (source,) = yaml.safe_load((EXAMPLE / "topics.yaml").read_text())["orders"]
    source.update(name=PATTERN, json_schema=str(EXAMPLE / source["json_schema"]))
    return validate_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:9"},
            "topics": {"orders": [source], "product_views": {"name": "views"}},
            "vendors": {
                "quicklizard": {
                    "base_url": "http://127.0.0.1:9/quicklizard",
                    "settings": {"client_key": {"file": str(tmp_path / "key")}},
                }
            },
        }
    )


async def selected(config: Config, letters: list[Letter]) -> tuple[list[Any], Summary]:
    intake = Intake(config, build(config, "quicklizard"), Metrics(CollectorRegistry()))
    summary = Summary()
    found = [
        admission
        async for _, admission in _selected(
            cast(Any, Reader(letters)),
            intake,
            Options(Selection("quicklizard")),
            summary,
            set(),
        )
    ]
    return found, summary


async def test_a_letter_from_a_topic_matched_by_a_pattern_is_replayed(config: Config) -> None:
    record = (EXAMPLE / "record.json").read_bytes()
    broken = orjson.loads(record)
    broken["total_price"] = "not a number"
    found, summary = await selected(
        config,
        [
            letter(1, "shopify.orders.nl", record),
            letter(2, "shopify.orders.de", orjson.dumps(broken)),
            letter(3, "shopify.orders.europe", record),  # the pattern does not match
        ],
    )
    ready, dead, unknown = found
    assert isinstance(ready, Admission)
    assert ready.ready
    assert ready.record.event is not None
    assert ready.record.event["order_id"] == str(orjson.loads(record)["id"])
    assert ready.record.items, "mapped onto QuickLizard's events"
    assert ready.record.attempts == 1, "the letter's history goes on"
    assert isinstance(dead, Admission)
    assert dead.dead is not None
    error_class, message, reason = dead.dead
    assert (error_class, reason) == ("mapping", "unconvertible")
    assert message == "unconvertible: total <- path total_price: cannot convert: ValueError"
    assert unknown is None
    assert summary.skipped == {"source topic shopify.orders.europe not configured": 1}
    assert summary.selected == 3
