"""The vendor registry and the sandbox's stand-ins, joined by `bridge.tools.sandbox_settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import bridge.tools.sandbox_settings as joined
from bridge.tools.sandbox import STAND_INS, VENDORS, SandboxCredentials
from bridge.tools.sandbox_settings import registry_mismatch, sandbox_settings
from bridge.vendors import build_vendor, vendor_classes


def test_the_vendor_registry_and_the_sandbox_name_the_same_vendors() -> None:
    assert set(vendor_classes()) == set(VENDORS) == set(STAND_INS)
    assert registry_mismatch() is None
    assert list(sandbox_settings()) == list(vendor_classes())


@pytest.mark.parametrize("name", sorted(vendor_classes()))
def test_sandbox_secrets_are_the_vendor_settings_secrets(name: str) -> None:
    model = vendor_classes()[name].settings_model
    settings = sandbox_settings()[name]
    assert set(settings.values) <= set(model.model_fields), "every credential is a setting"
    secret_fields = {
        field for field, info in model.model_fields.items() if info.annotation is SecretStr
    }
    assert settings.secrets == secret_fields


@pytest.mark.parametrize("name", sorted(vendor_classes()))
def test_every_vendor_builds_from_its_sandbox_settings_block(name: str, tmp_path: Path) -> None:
    settings = sandbox_settings()[name]
    block = settings.block(tmp_path)
    for field in settings.secrets:
        assert block[field] == {"file": str(tmp_path / f"{name}-{field}")}
        assert (tmp_path / f"{name}-{field}").read_text() == settings.values[field]
    built: Any = build_vendor(name, block, "http://127.0.0.1:1/" + name).settings
    for field, value in settings.values.items():
        held = getattr(built, field)
        assert (held.get_secret_value() if isinstance(held, SecretStr) else held) == value


def test_settings_follow_the_credentials_the_sandbox_runs_with() -> None:
    creds = SandboxCredentials(vtmarketing_api_key="vt-rotated", qubit_tracking_id="t-2")
    settings = sandbox_settings(creds)
    assert settings["vtmarketing"].values == {"api_key": "vt-rotated"}
    assert settings["qubit"].values == {"tracking_id": "t-2"}
    assert settings["squeezely"].values == {
        "account_id": "sandbox-account",
        "api_key": "sq-sandbox-key",
    }


def test_a_vendor_without_a_stand_in_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    classes = {**vendor_classes(), "acme": vendor_classes()["qubit"]}
    monkeypatch.setattr(joined, "vendor_classes", lambda: classes)
    assert registry_mismatch() == "no sandbox stand-in for acme"
    with pytest.raises(RuntimeError, match="no sandbox stand-in for acme"):
        sandbox_settings()
