"""What the sandbox is started with: the vendors it serves, the credentials it expects, and the
faults it injects.

Kept apart from the server so that the vendor modules can read the credentials without
importing the server (which imports them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

VENDORS: tuple[str, ...] = ("quicklizard", "vtmarketing", "qubit", "esputnik", "squeezely")


@dataclass(frozen=True)
class SandboxCredentials:
    """The credentials each stand-in expects; each can be overridden by ``SANDBOX_<FIELD>``.

    Secrets are left out of ``repr`` so that printing the object never shows them.
    """

    quicklizard_client_key: str = field(default="ql-sandbox-key", repr=False)
    vtmarketing_api_key: str = field(default="vt-sandbox-key", repr=False)
    qubit_tracking_id: str = "sandbox-tracking"
    esputnik_api_key: str = field(default="es-sandbox-key", repr=False)
    squeezely_account_id: str = "sandbox-account"
    squeezely_api_key: str = field(default="sq-sandbox-key", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxCredentials:
        """Defaults, each replaced by ``SANDBOX_<FIELD NAME IN CAPITALS>`` when that is set."""
        env = os.environ if environ is None else environ
        overrides = {
            f.name: env[f"SANDBOX_{f.name.upper()}"]
            for f in fields(cls)
            if env.get(f"SANDBOX_{f.name.upper()}")
        }
        return cls(**overrides)


_RATE_FIELDS = ("error_rate", "throttle_rate")
_NON_NEGATIVE_FIELDS = ("latency_ms", "retry_after_s")


@dataclass(frozen=True)
class Faults:
    """Failures one stand-in injects before it looks at a request.

    ``error_rate`` and ``throttle_rate`` are fractions of requests answered 503 and 429; both
    come from one random draw, so they must not add up to more than 1. ``status_override``
    answers every request with that status (400-599, e.g. 401 for a revoked key); ``outage``
    answers every request 503 and wins over everything else. Latency applies to every request.
    """

    latency_ms: float = 0
    error_rate: float = 0
    throttle_rate: float = 0
    retry_after_s: float = 1
    outage: bool = False
    status_override: int | None = None

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
    override = values["status_override"]
    if override is not None and (
        not isinstance(override, int) or isinstance(override, bool) or not 400 <= override <= 599
    ):
        problems.append(f"status_override must be null or an HTTP status 400-599, got {override!r}")
    return problems
