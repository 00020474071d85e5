"""The event types and their schemas: what the Kafka side decodes and the vendors map.

Neither `bridge.kafka` nor `bridge.vendors` owns these: both import them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson


class EventType(StrEnum):
    ORDER = "order"
    PRODUCT_VIEW = "product_view"


Event = Mapping[str, Any]
"""A decoded Avro record, following `schemas/Order.avsc` or `schemas/ProductView.avsc`.

``occurred_at`` is epoch milliseconds (an int), not a datetime.
"""

DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""The schemas shipped beside the package (a source checkout or the container image)."""

SCHEMA_FILES = {EventType.ORDER: "Order.avsc", EventType.PRODUCT_VIEW: "ProductView.avsc"}


def load_schema(schemas_dir: Path, event_type: EventType) -> dict[str, Any]:
    """The raw (unparsed) reader schema of an event type."""
    data: dict[str, Any] = orjson.loads((schemas_dir / SCHEMA_FILES[event_type]).read_bytes())
    return data
