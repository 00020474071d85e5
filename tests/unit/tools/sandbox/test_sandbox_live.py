"""The live front page's feed and stream: what a page is sent, when, and what it never shows."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from bridge.tools.sandbox import VENDORS, Sandbox, SandboxCredentials
from bridge.tools.sandbox.live import BODY_CHARS, STREAM_ROWS, LiveFeed, masked, request_view

if TYPE_CHECKING:
    from tests.unit.tools.sandbox.conftest import Send

CREDS = SandboxCredentials()
QL_PATH = "/quicklizard/events"
GOOD = {
    "client_key": CREDS.quicklizard_client_key,
    "price": 2,
    "product_id": "A",
    "event": "conversion",
}
BAD = {**GOOD, "price": "2"}


async def test_feed_sends_everything_first_then_only_news(send: Send, sandbox: Sandbox) -> None:
    feed = LiveFeed(sandbox.state)
    first = feed.update()
    assert first is not None
    assert sorted(first["vendors"]) == sorted(VENDORS)
    assert all(v["reset"] and v["requests"] == [] for v in first["vendors"].values())
    assert feed.update() is None

    await send(QL_PATH, [GOOD])
    await send(QL_PATH, [GOOD, BAD])
    news = feed.update()
    assert news is not None
    assert list(news["vendors"]) == ["quicklizard"]
    change = news["vendors"]["quicklizard"]
    assert change["reset"] is False
    assert [r["number"] for r in change["requests"]] == [1, 2]
    assert [r["kind"] for r in change["requests"]] == ["accepted", "partial"]
    assert change["totals"]["requests"] == 2
    assert change["endpoint"] == "POST /quicklizard/events"
    assert feed.update() is None


async def test_feed_starts_a_vendor_over_when_cleared(send: Send, sandbox: Sandbox) -> None:
    feed = LiveFeed(sandbox.state)
    await send(QL_PATH, [GOOD])
    feed.update()
    sandbox.clear("quicklizard")
    news = feed.update()
    assert news is not None
    assert news["vendors"]["quicklizard"]["reset"] is True
    assert news["vendors"]["quicklizard"]["requests"] == []
    await send(QL_PATH, [GOOD])
    after = feed.update()
    assert after is not None
    assert [r["number"] for r in after["vendors"]["quicklizard"]["requests"]] == [1]


async def test_feed_sends_faults_in_force(sandbox: Sandbox) -> None:
    feed = LiveFeed(sandbox.state)
    feed.update()
    sandbox.set_faults("qubit", error_rate=0.3, latency_ms=5)
    news = feed.update()
    assert news is not None
    assert news["vendors"]["qubit"]["faults"] == {"latency_ms": 5, "error_rate": 0.3}
    sandbox.set_faults("qubit", error_rate=0.0, latency_ms=0)
    cleared = feed.update()
    assert cleared is not None
    assert cleared["vendors"]["qubit"]["faults"] == {}


async def test_feed_sends_only_the_newest_requests_of_a_burst(send: Send, sandbox: Sandbox) -> None:
    feed = LiveFeed(sandbox.state)
    feed.update()
    for _ in range(STREAM_ROWS + 5):
        await send(QL_PATH, [GOOD])
    news = feed.update()
    assert news is not None
    numbers = [r["number"] for r in news["vendors"]["quicklizard"]["requests"]]
    assert numbers == list(range(6, STREAM_ROWS + 6))


def _record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "at": "2024-01-01T00:00:00.000+00:00",
        "status": 200,
        "accepted": [],
        "rejected": [],
        "body": None,
        "headers": {},
        "method": "POST",
        "path": "/x",
        "error": None,
    }
    return {**base, **fields}


def test_request_view_gives_every_refusal_its_reason() -> None:
    view = request_view(
        7,
        _record(
            status=400,
            error="Service Unavailable (sandbox outage)",
            rejected=[{"item": {"id": 1}, "error": "price must be a number"}],
        ),
    )
    assert view["kind"] == "refused"
    assert [r["reason"] for r in view["refusals"]] == [
        "Service Unavailable (sandbox outage)",
        "price must be a number",
    ]
    assert view["refusals"][0]["item"] is None
    assert orjson.loads(view["refusals"][1]["item"]) == {"id": 1}
    assert view["body"] is None


def test_request_view_masks_credentials_in_bodies_and_cuts_long_ones() -> None:
    body = [{"client_key": "real-key", "eventTypeKey": "Order", "x": "y" * BODY_CHARS}]
    view = request_view(1, _record(body=body))
    assert "real-key" not in view["body"]
    assert '"eventTypeKey": "Order"' in view["body"]
    assert view["body"].endswith("more characters (see /_received)")
    assert masked({"a": [{"api_key": "k", "Authorization": "t", "pushToken": "p"}]}) == {
        "a": [{"api_key": "***", "Authorization": "***", "pushToken": "p"}]
    }


async def test_front_page_loads_its_script_and_style_from_the_sandbox(send: Send) -> None:
    page = (await send("/", method="GET")).text
    assert '<script src="/_static/live.js" defer></script>' in page
    assert "<script>" not in page  # no inline script, nothing from another host
    assert "http://" not in page
    assert "https://" not in page
    for asset, kind in (("live.js", "javascript"), ("live.css", "text/css")):
        reply = await send(f"/_static/{asset}", method="GET")
        assert reply.status == 200
        assert kind in reply.headers["Content-Type"]
    snapshot = (await send("/_live", method="GET")).json
    assert sorted(snapshot["vendors"]) == sorted(VENDORS)


async def _next_event(response: aiohttp.ClientResponse) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(response.content.readline(), 5)
        assert line, "the stream ended"
        if line.startswith(b"data: "):
            event: dict[str, Any] = orjson.loads(line[len(b"data: ") :])
            return event


async def test_stream_pushes_news_and_ends_when_the_sandbox_stops() -> None:
    sandbox = await Sandbox(credentials=CREDS).start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{sandbox.url}/_live/stream") as stream,
        ):
            assert stream.headers["Content-Type"] == "text/event-stream"
            first = await _next_event(stream)
            assert sorted(first["vendors"]) == sorted(VENDORS)
            async with http.post(f"{sandbox.url}{QL_PATH}", json=[GOOD, BAD]) as reply:
                assert reply.status == 200
            news = await _next_event(stream)
            (request,) = news["vendors"]["quicklizard"]["requests"]
            assert request["refusals"][0]["reason"] == "price must be a number, got string"
            started = time.monotonic()
            await sandbox.stop()
            # An open page must not hold the sandbox's shutdown (aiohttp would wait 60 s).
            assert time.monotonic() - started < 5
            assert (await asyncio.wait_for(stream.content.read(), 5)).strip() == b""
    finally:
        await sandbox.stop()
