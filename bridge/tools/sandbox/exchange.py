"""The shapes passed between the server and the vendor stand-ins.

A stand-in is a pure function from an `Incoming` request to an `Outcome`: it never touches
aiohttp, the clock or the ring buffer, which keeps each vendor's rules testable on their own.
Each stand-in module declares itself in one `VendorApi` named ``API``: its vendor name, the
path it serves, its handler, its error shape and the `Credential`s it expects. The sandbox
finds those declarations by itself (`bridge.tools.sandbox.config`).
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol


@dataclass(frozen=True)
class Incoming:
    """One request as a stand-in sees it; ``body`` is None when ``json_ok`` is false."""

    headers: Mapping[str, str]
    path_params: Mapping[str, str]
    body: Any
    json_ok: bool
    json_error: str = ""


@dataclass
class Outcome:
    """The reply and what it means for the inspection endpoints.

    ``reply`` None sends an empty body. ``accepted`` and ``rejected`` hold items (events,
    orders); ``error`` is set when the request as a whole was refused before its items were
    looked at (auth, malformed body, an injected fault).
    """

    status: int
    reply: Any = None
    accepted: list[Any] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Credential:
    """One credential a stand-in expects, named as the vendor's setting is (``api_key``).

    The sandbox knows it as ``<vendor>_<name>`` and reads ``SANDBOX_<VENDOR>_<NAME>`` to
    override ``default``; a ``secret`` is never shown in a repr and is passed to the bridge
    as a secret reference.
    """

    name: str
    default: str
    secret: bool = False


class Credentials(Protocol):
    """What a handler reads: every declared credential as ``<vendor>_<name>``."""

    def __getattr__(self, name: str) -> str: ...


Handler = Callable[[Incoming, Credentials, random.Random], Outcome]
ErrorReply = Callable[[int, str], Any]


@dataclass(frozen=True)
class VendorApi:
    """One stand-in: where it listens (below ``/<name>``), how it answers, how it says no,
    and the credentials it expects."""

    name: str
    path: str
    handle: Handler
    error_reply: ErrorReply
    credentials: tuple[Credential, ...] = ()


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # statuses without a registered phrase, e.g. 599
        return f"HTTP {status}"


def rejection(item: Any, error: str) -> dict[str, Any]:
    return {"item": item, "error": error}


def refused(api_error_reply: ErrorReply, status: int, message: str) -> Outcome:
    """The whole request refused with the vendor's error shape."""
    return Outcome(status=status, reply=api_error_reply(status, message), error=message)


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the sandbox does not model a timing leak."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
