"""The sandbox's pages for people: the live front page, its event stream, and a page per vendor.

The front page (``/``, drawn by `ui.render_live`) is a shell that ``static/live.js`` fills
from ``GET /_live/stream``, a stream of server-sent events. Each event is one JSON `update`:
per vendor that changed since the page's last event, its totals, the faults in force and the
requests it received since then (the newest `STREAM_ROWS` at most). A page that connects, or
reconnects, first gets every vendor with ``reset: true``. ``GET /_live`` answers the same
snapshot once, as JSON.

Requests are numbered by the vendor's running total (`VendorStats.requests`), which the ring
buffer and the totals move together, so the feed needs nothing from the server but its state.
Bodies carry test emails and phones: they go to the page, never to a log; fields that name a
credential are masked on the page (`masked`), as the server masks secret headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import ui
from .config import STAND_INS, VENDORS, Faults

if TYPE_CHECKING:
    from .server import SandboxState, VendorStats

STATIC_DIR = Path(__file__).parent / "static"
STREAM_ROWS = 25
"""The most requests per vendor that one update carries (the page keeps as many)."""
BODY_CHARS = 8_000
"""A body longer than this, indented, is cut for the page (``/_received`` has it whole)."""
TICK_S = 0.5
"""How often a stream looks for news: at most two updates a second, however busy."""
HEARTBEAT_S = 15.0
"""A comment line after this long without news, so proxies keep an idle stream open."""
RETRY_MS = 2_000
"""How soon a browser reconnects after the stream broke (the sandbox restarted, say)."""

MASK = "***"
SECRET_FIELD = re.compile(
    r"(api|client|access|private|secret)[_-]?key$|(^|[_-])(token|secret|password|authorization)$",
    re.I,
)
"""Body fields masked on the page; narrower than the header rule (``eventTypeKey`` stays)."""

_DEFAULT_FAULTS = Faults().to_dict()


def masked(value: Any) -> Any:
    """`value` with the fields that name a credential (``client_key``, ``api_key``, ``token``)
    masked, at any depth: the page shows bodies, and a body can carry a vendor's key."""
    if isinstance(value, dict):
        return {k: MASK if SECRET_FIELD.search(str(k)) else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _indented(value: Any) -> str:
    text = orjson.dumps(masked(value), option=orjson.OPT_INDENT_2).decode()
    if len(text) <= BODY_CHARS:
        return text
    return f"{text[:BODY_CHARS]}\n… {len(text) - BODY_CHARS} more characters (see /_received)"


def request_view(number: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """One received request as the page shows it: what it was, what became of it, and why."""
    refusals: list[dict[str, Any]] = []
    if record.get("error"):
        refusals.append({"reason": str(record["error"]), "item": None})
    refusals.extend(
        {"reason": str(r.get("error", "")), "item": _indented(r.get("item"))}
        for r in record["rejected"]
    )
    status = int(record["status"])
    if status >= 400:
        kind = "refused"
    elif record["rejected"]:
        kind = "partial"
    else:
        kind = "accepted"
    body = record["body"]
    return {
        "number": number,
        "at": record["at"],
        "method": record["method"],
        "path": record["path"],
        "status": status,
        "kind": kind,
        "accepted": len(record["accepted"]),
        "rejected": len(record["rejected"]),
        "refusals": refusals,
        "headers": record["headers"],
        "body": None if body is None else _indented(body),
    }


def active_faults(faults: Faults) -> dict[str, Any]:
    """The faults that differ from the defaults: what is in force."""
    return {k: v for k, v in faults.to_dict().items() if v != _DEFAULT_FAULTS[k]}


@dataclass
class _Seen:
    stats: VendorStats
    requests: int
    faults: dict[str, Any]


class LiveFeed:
    """What one page has been sent so far, and what it has not seen yet."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._seen: dict[str, _Seen] = {}

    def update(self) -> dict[str, Any] | None:
        """The news since the last call (everything on the first), or None if there is none."""
        changes: dict[str, Any] = {}
        for vendor in VENDORS:
            stats = self._state.stats[vendor]
            faults = active_faults(self._state.faults[vendor])
            seen = self._seen.get(vendor)
            # Clearing replaces a vendor's totals: the page starts that vendor over.
            shown = seen.requests if seen is not None and seen.stats is stats else None
            if shown == stats.requests and seen is not None and seen.faults == faults:
                continue
            reset = shown is None
            shown = shown or 0
            records = self._state.received(vendor, min(stats.requests - shown, STREAM_ROWS))
            first = stats.requests - len(records) + 1
            changes[vendor] = {
                "reset": reset,
                "endpoint": f"POST /{vendor}{STAND_INS[vendor].path}",
                "totals": stats.to_dict(),
                "faults": faults,
                "requests": [request_view(first + i, r) for i, r in enumerate(records)],
            }
            self._seen[vendor] = _Seen(stats, stats.requests, faults)
        return {"vendors": changes} if changes else None


class LivePages:
    """The page routes of one sandbox app; `close` ends every open stream (on shutdown)."""

    def __init__(self, state: SandboxState, vendor_of: Callable[[web.Request], str]) -> None:
        self._state = state
        self._vendor_of = vendor_of
        self._closing = asyncio.Event()

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/_live", self.snapshot)
        app.router.add_get("/_live/stream", self.stream)
        app.router.add_get("/_ui/{vendor}", self.vendor_page)
        app.router.add_static("/_static", STATIC_DIR)
        app.on_shutdown.append(self.close)

    async def close(self, app: web.Application | None = None) -> None:
        self._closing.set()

    async def index(self, request: web.Request) -> web.Response:
        return _html(ui.render_live(STAND_INS))

    async def snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(LiveFeed(self._state).update(), dumps=_dumps)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        feed = LiveFeed(self._state)
        quiet_s = 0.0
        try:
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while not self._closing.is_set():
                update = feed.update()
                if update is not None:
                    # One line: orjson escapes every newline inside strings.
                    await response.write(b"data: " + orjson.dumps(update) + b"\n\n")
                    quiet_s = 0.0
                elif quiet_s >= HEARTBEAT_S:
                    await response.write(b": nothing new\n\n")
                    quiet_s = 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), TICK_S)
                quiet_s += TICK_S
        except ConnectionError:
            pass  # the page went away
        return response

    async def vendor_page(self, request: web.Request) -> web.Response:
        vendor = self._vendor_of(request)
        return _html(
            ui.render_vendor(
                STAND_INS[vendor],
                self._state.faults[vendor],
                self._state.stats[vendor].to_dict(),
                self._state.received(vendor, ui.PAGE_ROWS),
            )
        )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")
