"""A 0 ms QuickLizard-shaped endpoint that notes, per event it accepts, how long after its
produce time it arrived.

    python -m bench.latency_endpoint PORT

Serves ``POST /<sender>/quicklizard/events`` for any `<sender>` (``bridge``, ``plain``), so that
two consumers of the same records can be told apart, and answers as `bench.endpoint` does: every
event echoed as processed. The latency benchmark's producer writes each event's produce time
(`time.time()`, seconds) as its QuickLizard visitor id, which every sender maps to ``vid``: the
endpoint reads the produce time of each event it accepts from the request itself. Producer and
endpoint run on one machine, so on one clock. ``GET /_latencies/<sender>`` answers
``[[produce time, latency in ms], ...]`` for what that sender delivered since the last call.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import orjson
from aiohttp import web


def app() -> web.Application:
    seen: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)

    async def quicklizard(request: web.Request) -> web.Response:
        events = await request.read()
        accepted = time.time()
        noted = seen[request.match_info["sender"]]
        for event in orjson.loads(events):
            produced = float(event["vid"])
            noted.append((produced, (accepted - produced) * 1000))
        reply = b'{"processed":' + events + b',"failed":[],"errors":[]}'
        return web.Response(body=reply, content_type="application/json")

    async def latencies(request: web.Request) -> web.Response:
        noted = seen.pop(request.match_info["sender"], [])
        return web.Response(body=orjson.dumps(noted), content_type="application/json")

    application = web.Application()
    application.router.add_post("/{sender}/quicklizard/events", quicklizard)
    application.router.add_get("/_latencies/{sender}", latencies)
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
