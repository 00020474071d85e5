"""The sandbox must not share code with the mappers it is meant to check, and small helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.tools.sandbox import STAND_INS, VENDORS, SandboxCredentials
from bridge.tools.sandbox.checks import Check, is_number, looks_like_email
from bridge.tools.sandbox.config import CREDENTIALS, MACHINERY

ROOT = Path(__file__).resolve().parents[4]
PACKAGE = ROOT / "bridge" / "tools" / "sandbox"
SIXTH_STAND_IN = ROOT / "tests" / "fixtures" / "sixth_vendor" / "acme_stand_in.py"


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize(
    "path", [*sorted(PACKAGE.glob("*.py")), SIXTH_STAND_IN], ids=lambda p: p.name
)
def test_imports_nothing_from_bridge_outside_the_sandbox(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(".."), (
            f"{path.name} reaches outside bridge.tools.sandbox: {name}"
        )
        inside = name == "bridge.tools.sandbox" or name.startswith("bridge.tools.sandbox.")
        assert inside or not name.startswith("bridge"), f"{path.name} imports {name}"


def test_the_package_has_modules_to_check() -> None:
    assert {"server.py", "quicklizard.py", "qubit.py"} <= {p.name for p in PACKAGE.glob("*.py")}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a@example.com", True),
        ("first.last@mail.example.co.uk", True),
        ("a@example", False),
        ("a@@example.com", False),
        ("a@b@example.com", False),
        ("@example.com", False),
        ("a@example.com.", False),
        ("a b@example.com", False),
        ("[email protected]", False),
    ],
)
def test_email_shape(value: str, ok: bool) -> None:
    assert looks_like_email(value) is ok


def test_booleans_are_not_numbers() -> None:
    assert is_number(1)
    assert is_number(1.5)
    assert not is_number(True)
    check = Check()
    assert check.number({"n": False}, "n") is None
    assert check.errors == ["n must be a number, got boolean"]


def test_credentials_from_env_and_hidden_from_repr() -> None:
    creds = SandboxCredentials.from_env(
        {"SANDBOX_VTMARKETING_API_KEY": "vt-from-env", "SANDBOX_QUBIT_TRACKING_ID": ""}
    )
    assert creds.vtmarketing_api_key == "vt-from-env"
    assert creds.qubit_tracking_id == "sandbox-tracking"
    assert creds.quicklizard_client_key == "ql-sandbox-key"
    assert "vt-from-env" not in repr(creds)
    assert SandboxCredentials.from_env({}) == SandboxCredentials()


def test_every_module_beside_the_machinery_is_a_discovered_stand_in() -> None:
    stand_in_modules = {p.stem for p in PACKAGE.glob("*.py")} - MACHINERY
    assert set(VENDORS) == stand_in_modules
    assert list(VENDORS) == sorted(VENDORS)
    assert all(STAND_INS[name].name == name for name in VENDORS)


def test_credentials_derive_from_the_stand_ins_declarations() -> None:
    assert set(CREDENTIALS) == {
        f"{api.name}_{credential.name}"
        for api in STAND_INS.values()
        for credential in api.credentials
    }
    creds = SandboxCredentials()
    for name, credential in CREDENTIALS.items():
        assert getattr(creds, name) == credential.default
        assert (credential.default in repr(creds)) is not credential.secret
    assert creds.of("squeezely") == {"account_id": "sandbox-account", "api_key": "sq-sandbox-key"}


def test_an_unknown_credential_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="qubit_trackingid"):
        SandboxCredentials(qubit_trackingid="x")
    with pytest.raises(AttributeError, match="qubit_trackingid"):
        _ = SandboxCredentials().qubit_trackingid
