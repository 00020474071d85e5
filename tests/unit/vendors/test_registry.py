from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import bridge.vendors
from bridge.errors import ConfigError
from bridge.events import EventType
from bridge.vendors import build_vendor, vendor_classes
from bridge.vendors.base import Vendor

VendorMaker = Callable[..., Vendor[Any]]

EXPECTED = {
    "quicklizard": (frozenset(EventType), True),
    "vtmarketing": (frozenset({EventType.ORDER}), False),
    "qubit": (frozenset({EventType.ORDER}), True),
    "esputnik": (frozenset(EventType), False),
    "squeezely": (frozenset({EventType.ORDER}), True),
}
SECRET_FIELDS = {
    "quicklizard": "client_key",
    "vtmarketing": "api_key",
    "esputnik": "api_key",
    "squeezely": "api_key",
}


def test_registry_finds_the_five_vendors_by_name() -> None:
    classes = vendor_classes()
    assert set(classes) == set(EXPECTED)
    assert all(cls.name == name for name, cls in classes.items())


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_vendor_declares_event_types_and_batching(
    name: str, expected: tuple[frozenset[EventType], bool]
) -> None:
    cls = vendor_classes()[name]
    assert (cls.event_types, cls.batches) == expected
    assert cls.document.endswith(".txt")


@pytest.fixture
def extra_vendor_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory added to the vendors package, the discovery cache cleared around the test."""
    monkeypatch.setattr(bridge.vendors, "__path__", [*bridge.vendors.__path__, str(tmp_path)])
    bridge.vendors._discover.cache_clear()
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("bridge.vendors.extra_")]:
        del sys.modules[module]
    bridge.vendors._discover.cache_clear()


SIXTH = """
    from bridge.vendors.base import EventType, Vendor, VendorSettings, post_json

    class SixthSettings(VendorSettings):
        pass

    class Sixth(Vendor[SixthSettings]):
        name = "{name}"
        document = "sixth.txt"
        event_types = frozenset({{EventType.ORDER}})
        batches = False
        default_base_url = "https://sixth.example"
        settings_model = SixthSettings

        def map(self, event_type, event):
            return [{{}}]

        def build_request(self, items):
            return post_json(self.base_url, items[0])
"""


def test_a_sixth_vendor_is_one_module(extra_vendor_module: Path) -> None:
    (extra_vendor_module / "extra_sixth.py").write_text(textwrap.dedent(SIXTH.format(name="sixth")))
    assert set(vendor_classes()) == {*EXPECTED, "sixth"}
    assert build_vendor("sixth", {}, None).base_url == "https://sixth.example"


def test_two_modules_claiming_one_name_fail_loudly(extra_vendor_module: Path) -> None:
    (extra_vendor_module / "extra_clash.py").write_text(textwrap.dedent(SIXTH.format(name="qubit")))
    with pytest.raises(RuntimeError, match="qubit"):
        vendor_classes()


def test_unknown_vendor_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="qubit"):
        build_vendor("qbit", {"tracking_id": "x"}, None)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "https://api.squeezely.tech"),
        ("http://127.0.0.1:9000/sq/", "http://127.0.0.1:9000/sq"),
    ],
)
def test_base_url_defaults_per_vendor(
    vendor: VendorMaker, base_url: str | None, expected: str
) -> None:
    assert vendor("squeezely", base_url).base_url == expected


@pytest.mark.parametrize(("name", "field"), SECRET_FIELDS.items())
def test_missing_secret_is_a_validation_error_naming_the_field(name: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build_vendor(name, {"account_id": "a"} if name == "squeezely" else {}, None)
    assert field in {str(error["loc"][0]) for error in caught.value.errors()}


@pytest.mark.parametrize(("name", "field"), SECRET_FIELDS.items())
def test_inline_secret_is_refused(vendor: VendorMaker, name: str, field: str) -> None:
    with pytest.raises(ValidationError, match="never written inline"):
        vendor(name, **{field: "plain-text-key"})


@pytest.mark.parametrize(("name", "field"), SECRET_FIELDS.items())
def test_secret_from_environment_is_never_in_repr(
    vendor: VendorMaker, monkeypatch: pytest.MonkeyPatch, name: str, field: str
) -> None:
    monkeypatch.setenv("BRIDGE_TEST_SECRET", "s3cr3t-value")
    built = vendor(name, **{field: {"env": "BRIDGE_TEST_SECRET"}})
    assert getattr(built.settings, field).get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(built.settings)
    assert "s3cr3t-value" not in str(built.settings)
    assert "s3cr3t-value" not in repr(built.settings.model_dump())


def test_unknown_setting_is_refused(vendor: VendorMaker) -> None:
    with pytest.raises(ValidationError, match="apikey"):
        vendor("vtmarketing", apikey=SecretStr("x"))
