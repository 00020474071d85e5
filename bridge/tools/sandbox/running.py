"""The sandbox running in this process: `Sandbox`, for tests, the demo and ``bridge sandbox``.

It serves `server.create_app` on a host and port (a free loopback port by default) and reads
and changes the same state as the HTTP control endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from .config import VENDORS, Faults, SandboxCredentials
from .server import STATE, Record, SandboxState, create_app


class Sandbox:
    """The sandbox running in this process, for tests and the demo.

    ``async with Sandbox() as sb:`` serves on a free loopback port; ``sb.base_url("qubit")``
    is what a client is configured with. The in-process helpers read and change the same state
    as the HTTP control endpoints.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: SandboxCredentials | None = None,
        faults: Mapping[str, Faults] | None = None,
        seed: int | None = None,
        keep: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.app = create_app(credentials=credentials, faults=faults, seed=seed, keep=keep)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def state(self) -> SandboxState:
        return self.app[STATE]

    @property
    def credentials(self) -> SandboxCredentials:
        return self.state.credentials

    async def start(self) -> Sandbox:
        if self._runner is not None:
            return self
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sandbox has not been started")
        return self._url

    def base_url(self, vendor: str) -> str:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
        return f"{self.url}/{vendor}"

    def set_faults(self, vendor: str, **fields: Any) -> Faults:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
        return self.state.set_faults(vendor, fields)

    def faults(self, vendor: str) -> Faults:
        return self.state.faults[vendor]

    def received(self, vendor: str) -> list[Record]:
        return self.state.received(vendor)

    def stats(self) -> dict[str, Any]:
        return self.state.stats_dict()

    def clear(self, vendor: str | None = None) -> None:
        if vendor is not None and vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
        self.state.clear(vendor)
