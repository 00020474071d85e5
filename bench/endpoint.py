"""A minimal vendor endpoint for benchmarks: acknowledges everything after a fixed latency.

Runs in its own process (`python -m bench.endpoint PORT LATENCY_MS`) so that its work does not
share the bridge's event loop. It answers QuickLizard's reply shape on /quicklizard/events and
an empty 200 on /esputnik/api/v2/event; it does not validate, unlike the sandbox. QuickLizard's
reply echoes every event as processed (the bridge fails events a reply does not account for),
spliced around the request body as bytes rather than parsed, so the endpoint stays cheap.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def app(latency_s: float) -> web.Application:
    async def quicklizard(request: web.Request) -> web.Response:
        events = await request.read()
        if latency_s:
            await asyncio.sleep(latency_s)
        reply = b'{"processed":' + events + b',"failed":[],"errors":[]}'
        return web.Response(body=reply, content_type="application/json")

    async def esputnik(request: web.Request) -> web.Response:
        await request.read()
        if latency_s:
            await asyncio.sleep(latency_s)
        return web.Response(status=200)

    application = web.Application()
    application.router.add_post("/quicklizard/events", quicklizard)
    application.router.add_post("/esputnik/api/v2/event", esputnik)
    return application


if __name__ == "__main__":
    port, latency_ms = int(sys.argv[1]), float(sys.argv[2])
    web.run_app(app(latency_ms / 1000), host="127.0.0.1", port=port, print=None)
