"""The sandbox must not share code with the mappers it is meant to check, and small helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.tools.sandbox import SandboxCredentials
from bridge.tools.sandbox.checks import Check, is_number, looks_like_email

PACKAGE = Path(__file__).resolve().parents[4] / "bridge" / "tools" / "sandbox"


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_imports_nothing_from_bridge_outside_the_sandbox(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(".."), (
            f"{path.name} reaches outside bridge.tools.sandbox: {name}"
        )
        assert name == "bridge.tools.sandbox" or not name.startswith("bridge"), (
            f"{path.name} imports {name}"
        )


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
