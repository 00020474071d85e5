"""Fixtures: a sandbox on a free loopback port and a way to talk to it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
import pytest

from bridge.tools.sandbox import Sandbox, SandboxCredentials

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)


class Send(Protocol):
    def __call__(
        self,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> Awaitable[Reply]: ...


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    # Explicit credentials, so SANDBOX_* variables in the environment cannot change the tests.
    async with Sandbox(credentials=SandboxCredentials(), seed=1234) as sb:
        yield sb


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def send(sandbox: Sandbox, http: aiohttp.ClientSession) -> Send:
    """``await send("/qubit/events/x", body, headers=...)``: JSON-encodes body unless raw."""

    async def _send(
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else orjson.dumps(body))
        all_headers = (
            {**JSON_HEADERS, **(headers or {})} if data is not None else dict(headers or {})
        )
        async with http.request(method, sandbox.url + path, data=data, headers=all_headers) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.text())

    return _send
