"""Contract cases: a record in, the exact request out, one JSON file per case.

Each file in ``tests/fixtures/events/<vendor>/`` holds ``event_type``, the vendor's non-secret
``settings`` (test credentials are added from conftest), optionally ``base_url``, the
``record`` (defaults filled from the schema) and the ``expected_request``: method, URL,
non-secret headers and the body, compared as JSON values. Most cases reproduce an example
from the vendor's own document; ``note`` says which and how it differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.commands.preview import preview
from bridge.events import EventType
from bridge.vendors import vendor_classes
from bridge.vendors.base import Vendor

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "events"
CASES = sorted(FIXTURES.glob("*/*.json"))
VendorMaker = Callable[..., Vendor[Any]]
RecordMaker = Callable[..., dict[str, Any]]
SECRET_HEADERS = frozenset({"Authorization", "X-AUTH-APIKEY"})


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def test_every_vendor_has_contract_cases() -> None:
    assert {path.parent.name for path in CASES} == set(vendor_classes())


@pytest.mark.parametrize("path", CASES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_record_maps_to_the_expected_request(
    path: Path, vendor: VendorMaker, record: RecordMaker
) -> None:
    case = _load(path)
    event_type = EventType(case["event_type"])
    under_test = vendor(path.parent.name, case.get("base_url"), **case["settings"])

    (request,) = preview(under_test, event_type, record(event_type, case["record"]))

    expected = case["expected_request"]
    assert request.method == expected["method"]
    assert request.url == expected["url"]
    public = {k: v for k, v in request.headers.items() if k not in SECRET_HEADERS}
    assert public == expected["headers"]
    assert orjson.loads(request.body) == expected["body"]
