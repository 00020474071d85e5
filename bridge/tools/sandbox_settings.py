"""Where the two vendor registries meet: the bridge's vendor modules (`bridge.vendors`) and the
sandbox's stand-ins (`bridge.tools.sandbox`), which never import each other.

`sandbox_settings` gives, for each vendor, the ``settings:`` a bridge configuration needs to
talk to that vendor's stand-in, with its secrets marked. The demo and the test support build
their configurations from it, so neither lists vendors or sandbox keys by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.tools.sandbox import STAND_INS, SandboxCredentials
from bridge.vendors import vendor_classes


@dataclass(frozen=True)
class SandboxSettings:
    """One vendor's settings for its stand-in: setting name to value, and which are secrets."""

    vendor: str
    values: Mapping[str, str]
    secrets: frozenset[str]

    def block(self, secrets_dir: Path) -> dict[str, Any]:
        """The ``settings:`` block, each secret written to a file in `secrets_dir` and
        referenced as ``{file: PATH}`` (secrets are never written inline)."""
        settings: dict[str, Any] = {}
        for name, value in self.values.items():
            if name in self.secrets:
                path = secrets_dir / f"{self.vendor}-{name}"
                path.write_text(value, encoding="utf-8")
                settings[name] = {"file": str(path)}
            else:
                settings[name] = value
        return settings


def registry_mismatch() -> str | None:
    """What differs between the vendor registry and the sandbox's stand-ins, or None."""
    vendors, stand_ins = set(vendor_classes()), set(STAND_INS)
    if vendors == stand_ins:
        return None
    problems = []
    if vendors - stand_ins:
        problems.append(f"no sandbox stand-in for {', '.join(sorted(vendors - stand_ins))}")
    if stand_ins - vendors:
        problems.append(f"no vendor module for {', '.join(sorted(stand_ins - vendors))}")
    return "; ".join(problems)


def sandbox_settings(
    credentials: SandboxCredentials | None = None,
) -> dict[str, SandboxSettings]:
    """Every vendor's settings for its stand-in, by vendor name in the registry's order.

    ``credentials`` are what the running sandbox expects (its defaults when None). Raises
    RuntimeError when the two registries do not name the same vendors.
    """
    problem = registry_mismatch()
    if problem is not None:
        raise RuntimeError(f"the vendor registry and the sandbox disagree: {problem}")
    creds = credentials or SandboxCredentials()
    return {
        name: SandboxSettings(
            vendor=name,
            values=creds.of(name),
            secrets=frozenset(c.name for c in STAND_INS[name].credentials if c.secret),
        )
        for name in vendor_classes()
    }
