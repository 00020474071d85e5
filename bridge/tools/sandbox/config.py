"""What the sandbox is started with: the stand-ins it serves, the credentials they expect,
and the faults it injects.

The stand-ins are found, not listed: every module of this package other than the sandbox's own
machinery (`MACHINERY`) is a stand-in and declares itself in one `VendorApi` named ``API``.
`STAND_INS`, `VENDORS` and `SandboxCredentials` derive from those declarations, so a new
vendor's stand-in is one new module and nothing else here changes.
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .exchange import Credential, VendorApi

MACHINERY = frozenset(
    {
        "__init__",
        "__main__",
        "checks",
        "command",
        "config",
        "exchange",
        "live",
        "running",
        "server",
        "ui",
    }
)
"""The modules of this package that are not stand-ins."""


def _discover() -> dict[str, VendorApi]:
    found: dict[str, VendorApi] = {}
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module_info.name in MACHINERY:
            continue
        module = importlib.import_module(f"{__package__}.{module_info.name}")
        api = getattr(module, "API", None)
        if not isinstance(api, VendorApi):
            raise RuntimeError(
                f"{module.__name__} is not a stand-in (no VendorApi named API); "
                "list it in MACHINERY if it is part of the sandbox itself"
            )
        if api.name in found:
            raise RuntimeError(
                f"stand-in {api.name!r} is declared twice, again by {module_info.name}"
            )
        found[api.name] = api
    return dict(sorted(found.items()))


STAND_INS: Mapping[str, VendorApi] = _discover()
"""Every stand-in by vendor name, in name order."""
VENDORS: tuple[str, ...] = tuple(STAND_INS)
CREDENTIALS: Mapping[str, Credential] = {
    f"{api.name}_{credential.name}": credential
    for api in STAND_INS.values()
    for credential in api.credentials
}
"""Every declared credential by its sandbox name, ``<vendor>_<name>``."""


class SandboxCredentials:
    """The credentials the stand-ins expect, by sandbox name (``creds.qubit_tracking_id``).

    Each is its declared default unless given by keyword or, with `from_env`, overridden by
    ``SANDBOX_<VENDOR>_<NAME>``. Secrets are left out of ``repr`` so that printing the object
    never shows them.
    """

    __slots__ = ("_values",)

    def __init__(self, **values: str) -> None:
        unknown = sorted(set(values) - set(CREDENTIALS))
        if unknown:
            raise TypeError(
                f"unknown sandbox credential(s) {', '.join(unknown)}; "
                f"known: {', '.join(CREDENTIALS)}"
            )
        self._values = {name: values.get(name, c.default) for name, c in CREDENTIALS.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxCredentials:
        """Defaults, each replaced by ``SANDBOX_<NAME IN CAPITALS>`` when that is set."""
        env = os.environ if environ is None else environ
        return cls(
            **{
                name: env[f"SANDBOX_{name.upper()}"]
                for name in CREDENTIALS
                if env.get(f"SANDBOX_{name.upper()}")
            }
        )

    def __getattr__(self, name: str) -> str:
        # Only reached for names that are not attributes; "_values" is unset before __init__.
        if name != "_values" and name in self._values:
            return self._values[name]
        raise AttributeError(f"no sandbox credential {name!r}; known: {', '.join(CREDENTIALS)}")

    def of(self, vendor: str) -> dict[str, str]:
        """One stand-in's credentials by declared name (``{"api_key": ...}``)."""
        return {c.name: self._values[f"{vendor}_{c.name}"] for c in STAND_INS[vendor].credentials}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SandboxCredentials):
            return NotImplemented
        return self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in self._values.items()
            if not CREDENTIALS[name].secret
        )
        return f"SandboxCredentials({shown})"


_RATE_FIELDS = ("error_rate", "throttle_rate")
_NON_NEGATIVE_FIELDS = ("latency_ms", "retry_after_s", "knee_latency_ms")
_CAPACITY_FIELDS = ("capacity_knee", "capacity_ceiling")


@dataclass(frozen=True)
class Faults:
    """Failures one stand-in injects before it looks at a request.

    ``error_rate`` and ``throttle_rate`` are fractions of requests answered 503 and 429; both
    come from one random draw, so they must not add up to more than 1. ``status_override``
    answers every request with that status (400-599, e.g. 401 for a revoked key); ``outage``
    answers every request 503 and wins over everything else. Latency applies to every request.

    A hidden capacity (to try adaptive concurrency against): with ``capacity_knee`` set, each
    request in flight beyond the knee adds ``knee_latency_ms`` to every request's latency; with
    ``capacity_ceiling`` set, a request arriving while that many are in flight is answered 429
    (with ``retry_after_s``) at once.
    """

    latency_ms: float = 0
    error_rate: float = 0
    throttle_rate: float = 0
    retry_after_s: float = 1
    outage: bool = False
    status_override: int | None = None
    capacity_knee: int | None = None
    capacity_ceiling: int | None = None
    knee_latency_ms: float = 1

    def __post_init__(self) -> None:
        problems = fault_problems(asdict(self))
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied; ValueError names every unknown or invalid field."""
        unknown = sorted(set(changes) - set(FAULT_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown fault field(s) {', '.join(unknown)}; known: {', '.join(FAULT_FIELDS)}"
            )
        return replace(self, **changes)


FAULT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Faults))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fault_problems(values: Mapping[str, Any]) -> list[str]:
    """Why these fault values are invalid (empty when they are fine).

    Checked by hand rather than trusted to type hints because the values arrive as JSON from
    ``PUT /_control`` and from the command line.
    """
    problems: list[str] = []
    for name in (*_NON_NEGATIVE_FIELDS, *_RATE_FIELDS):
        value = values[name]
        if not _is_number(value) or not math.isfinite(value):
            problems.append(f"{name} must be a number, got {value!r}")
        elif value < 0:
            problems.append(f"{name} must be >= 0, got {value!r}")
        elif name in _RATE_FIELDS and value > 1:
            problems.append(f"{name} must be a fraction between 0 and 1, got {value!r}")
    if not problems and values["error_rate"] + values["throttle_rate"] > 1:
        problems.append("error_rate + throttle_rate must not exceed 1")
    if not isinstance(values["outage"], bool):
        problems.append(f"outage must be true or false, got {values['outage']!r}")
    for name in _CAPACITY_FIELDS:
        value = values[name]
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            problems.append(f"{name} must be null or a whole number >= 1, got {value!r}")
    override = values["status_override"]
    if override is not None and (
        not isinstance(override, int) or isinstance(override, bool) or not 400 <= override <= 599
    ):
        problems.append(f"status_override must be null or an HTTP status 400-599, got {override!r}")
    return problems
