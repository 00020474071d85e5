"""VendorClient against a real HTTP server on loopback: redirects, reply size, the Qubit status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from bridge.delivery.client import MAX_REPLY_BYTES, VendorClient
from bridge.errors import CredentialsError, RejectedDeliveryError
from bridge.metrics import Metrics
from bridge.vendors.base import HttpRequest, Item, ItemResult, Vendor, post_json

KEY = "sq-secret-key-123"


class Landing:
    """A server whose vendor endpoint redirects to a landing page that answers 200."""

    def __init__(self) -> None:
        self.landing_hits: list[dict[str, str]] = []

    async def redirect(self, request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return web.Response(status=status, headers={"Location": "/landing"})

    async def landing(self, request: web.Request) -> web.Response:
        self.landing_hits.append(dict(request.headers))
        return web.Response(text="<html>welcome</html>")

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(status=200, text='{"status": 422}')

    async def created(self, request: web.Request) -> web.Response:
        return web.Response(status=201, text="{}")

    async def huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to trust
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(MAX_REPLY_BYTES // len(chunk) + 2):
            await response.write(chunk)
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Landing]]:
    landing = Landing()
    app = web.Application()
    app.router.add_route("*", "/moved/{status}", landing.redirect)
    app.router.add_route("*", "/landing", landing.landing)
    app.router.add_post("/huge", landing.huge)
    app.router.add_post("/created", landing.created)
    app.router.add_post("/ok", landing.ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", landing
    await runner.cleanup()


def request(url: str) -> HttpRequest:
    return post_json(url, [{"event": 1}], headers={"X-AUTH-APIKEY": KEY}, secrets=(KEY,))


class AcceptAll:
    """Stands in for a vendor module: only its name and `read_reply` are used by the client."""

    name = "vtmarketing"
    base_url = "http://127.0.0.1"
    accepted_statuses = frozenset({200})

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        return [ItemResult(ok=True)] * len(items)


async def send(url: str) -> tuple[int, list[ItemResult]]:
    vendor = cast(Vendor[Any], AcceptAll())
    async with VendorClient(vendor, 5, Metrics(CollectorRegistry())) as client:
        return await client.send(request(url), [{"event": 1}])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_never_followed_and_never_counts_as_delivered(
    server: tuple[str, Landing], status: int
) -> None:
    base, landing = server
    with pytest.raises(CredentialsError) as raised:
        await send(f"{base}/moved/{status}")
    assert raised.value.status == status
    assert raised.value.pauses
    assert landing.landing_hits == []  # the key never travelled to the other page


async def test_a_reply_longer_than_the_cap_is_a_refusal_not_held_whole(
    server: tuple[str, Landing],
) -> None:
    base, _ = server
    with pytest.raises(RejectedDeliveryError, match="longer than"):
        await send(f"{base}/huge")


async def test_a_2xx_the_vendor_does_not_call_success_is_a_refusal(
    server: tuple[str, Landing],
) -> None:
    base, _ = server
    with pytest.raises(RejectedDeliveryError, match="not a success status") as raised:
        await send(f"{base}/created")
    assert raised.value.status == 201


class ReportsItsOwnStatus(AcceptAll):
    """A vendor whose 2xx body carries a status of its own (Qubit: {"status": 503, ...})."""

    def read_reply(self, body: bytes, items: Sequence[Item]) -> list[ItemResult]:
        raise RejectedDeliveryError("reply without results", status=422)


async def test_a_status_the_vendor_reports_in_its_body_is_not_overwritten_by_the_http_200(
    server: tuple[str, Landing],
) -> None:
    base, _ = server
    vendor = cast(Vendor[Any], ReportsItsOwnStatus())
    async with VendorClient(vendor, 5, Metrics(CollectorRegistry())) as client:
        with pytest.raises(RejectedDeliveryError) as raised:
            await client.send(request(f"{base}/ok"), [{"event": 1}])
    assert raised.value.status == 422
