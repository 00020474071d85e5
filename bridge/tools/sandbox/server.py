"""The sandbox server: every stand-in on one port, fault injection, and inspection.

Each vendor lives under its own prefix (``/quicklizard``, ``/qubit``, ...: one per stand-in
module, see `config.STAND_INS`), so a vendor's base URL is ``http://HOST:PORT/<vendor>``.
Around every vendor request the server applies the vendor's faults first (latency, outage,
status override, random 503s and 429s), so an injected failure never stores anything as
accepted; then the vendor's pure handler decides; then the request is kept in a bounded ring
buffer and counted in totals that survive the buffer's trimming.

Control and inspection: ``GET/PUT /_control[/{vendor}]``, ``GET/DELETE /_received[/{vendor}]``,
``GET /_stats``, ``GET /_health``; the pages for people (``/``, a live view fed by
``/_live/stream``, and ``/_ui/{vendor}``) are in `live`; serving it in a process (tests, the
demo, ``bridge sandbox``) is `running.Sandbox`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from . import live
from .checks import parse_json
from .config import FAULT_FIELDS, STAND_INS, VENDORS, Faults, SandboxCredentials
from .exchange import Incoming, Outcome, VendorApi, reason_phrase

log = logging.getLogger("bridge.tools.sandbox")
# Per-request lines go to their own logger so that in-process users (tests, the demo, the
# benchmark) can keep them quiet while `bridge sandbox` shows them.
request_log = logging.getLogger("bridge.tools.sandbox.requests")

# Headers masked in what the inspection endpoints show, by name, whatever the vendor: e.g.
# Authorization, X-AUTH-APIKEY, X-Api-Key, Cookie (but not X-AUTH-ACCOUNT).
SECRET_HEADER = re.compile(r"authorization|cookie|key|token|secret|password|signature", re.I)
MASK = "***"
MAX_BODY_BYTES = 32 * 1024 * 1024

Record = dict[str, Any]
RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class VendorStats:
    """Totals since start (or the last clear), independent of the ring buffer's size."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


def _rng(seed: int | None, vendor: str, purpose: str) -> random.Random:
    # Separate generators per vendor and purpose keep a seeded run reproducible per vendor,
    # whatever the traffic to the other vendors or the fault settings.
    return random.Random() if seed is None else random.Random(f"{seed}:{vendor}:{purpose}")


class SandboxState:
    """Everything the running app knows: credentials, faults, received requests, totals."""

    def __init__(
        self,
        credentials: SandboxCredentials,
        faults: Mapping[str, Faults],
        seed: int | None,
        keep: int,
    ) -> None:
        unknown = sorted(set(faults) - set(VENDORS))
        if unknown:
            raise ValueError(f"unknown vendor(s) {', '.join(unknown)}; known: {', '.join(VENDORS)}")
        if keep < 0:
            raise ValueError(f"keep must be >= 0, got {keep}")
        self.credentials = credentials
        self.keep = keep
        self.faults: dict[str, Faults] = {v: faults.get(v, Faults()) for v in VENDORS}
        self.fault_rngs = {v: _rng(seed, v, "faults") for v in VENDORS}
        self.id_rngs = {v: _rng(seed, v, "ids") for v in VENDORS}
        self.records: dict[str, deque[Record]] = {v: deque(maxlen=keep) for v in VENDORS}
        self.stats: dict[str, VendorStats] = {v: VendorStats() for v in VENDORS}
        self.in_flight: dict[str, int] = dict.fromkeys(VENDORS, 0)
        """Requests being answered, per vendor: what a hidden capacity (`Faults`) reads."""

    def set_faults(self, vendor: str, changes: Mapping[str, Any]) -> Faults:
        self.faults[vendor] = self.faults[vendor].updated(changes)
        return self.faults[vendor]

    def keep_record(self, vendor: str, record: Record) -> None:
        self.records[vendor].append(record)
        stats = self.stats[vendor]
        stats.requests += 1
        stats.by_status[record["status"]] += 1
        stats.accepted += len(record["accepted"])
        stats.rejected += len(record["rejected"])

    def received(self, vendor: str, limit: int | None = None) -> list[Record]:
        records = list(self.records[vendor])
        if limit is None:
            return records
        return records[-limit:] if limit else []

    def stats_dict(self) -> dict[str, Any]:
        return {vendor: stats.to_dict() for vendor, stats in self.stats.items()}

    def clear(self, vendor: str | None = None) -> list[str]:
        cleared = list(VENDORS) if vendor is None else [vendor]
        for name in cleared:
            self.records[name].clear()
            self.stats[name] = VendorStats()
        return cleared


STATE = web.AppKey("bridge_sandbox_state", SandboxState)


def injected_fault(faults: Faults, rng: random.Random, api: VendorApi) -> Outcome | None:
    """The reply an injected fault forces, or None to let the stand-in answer."""
    if faults.outage:
        return _fault(api, 503, "sandbox outage")
    if faults.status_override is not None:
        return _fault(api, faults.status_override, "sandbox status override")
    if faults.error_rate or faults.throttle_rate:
        # One draw for both rates, so each is exactly its fraction of requests.
        draw = rng.random()
        if draw < faults.error_rate:
            return _fault(api, 503, "sandbox injected error")
        if draw < faults.error_rate + faults.throttle_rate:
            return _throttled(api, faults, "sandbox throttling")
    return None


def _over_ceiling(faults: Faults, in_flight: int, api: VendorApi) -> Outcome | None:
    """The 429 of a hidden capacity's ceiling, when `in_flight` requests already reach it."""
    if faults.capacity_ceiling is None or in_flight < faults.capacity_ceiling:
        return None
    return _throttled(api, faults, "sandbox capacity ceiling")


def _throttled(api: VendorApi, faults: Faults, why: str) -> Outcome:
    outcome = _fault(api, 429, why)
    # Retry-After is whole seconds (RFC 9110 delay-seconds), as real vendors send it.
    outcome.headers["Retry-After"] = str(math.ceil(faults.retry_after_s))
    return outcome


def _fault(api: VendorApi, status: int, why: str) -> Outcome:
    message = f"{reason_phrase(status)} ({why})"
    return Outcome(status=status, reply=api.error_reply(status, message), error=message)


def _visible_headers(request: web.Request) -> dict[str, str]:
    # str(): aiohttp's header names are a str subclass, which orjson refuses as keys.
    return {
        str(name): MASK if SECRET_HEADER.search(name) else value
        for name, value in request.headers.items()
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _vendor_handler(api: VendorApi) -> RequestHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        faults = state.faults[api.name]
        over_ceiling = _over_ceiling(faults, state.in_flight[api.name], api)
        if over_ceiling is None:
            state.in_flight[api.name] += 1
            try:
                latency_ms = faults.latency_ms
                if faults.capacity_knee is not None:
                    beyond = max(0, state.in_flight[api.name] - faults.capacity_knee)
                    latency_ms += beyond * faults.knee_latency_ms
                if latency_ms:
                    await asyncio.sleep(latency_ms / 1000)
            finally:
                state.in_flight[api.name] -= 1
        # Read again: the faults may have been changed while this request was delayed.
        faults = state.faults[api.name]
        # Whatever the Content-Type says: QuickLizard's own curl example sends a form type.
        json_ok, body, json_error = parse_json(await request.read())
        incoming = Incoming(
            headers=request.headers,
            path_params=dict(request.match_info),
            body=body,
            json_ok=json_ok,
            json_error=json_error,
        )
        outcome = (
            over_ceiling or injected_fault(faults, state.fault_rngs[api.name], api)
        ) or api.handle(incoming, state.credentials, state.id_rngs[api.name])
        state.keep_record(
            api.name,
            {
                "at": _now(),
                "status": outcome.status,
                "accepted": outcome.accepted,
                "rejected": outcome.rejected,
                "body": body,
                "headers": _visible_headers(request),
                "method": request.method,
                "path": request.path,
                "error": outcome.error,
            },
        )
        # Counts only: bodies and headers carry emails and keys.
        request_log.debug(
            "%s -> %d (accepted %d, rejected %d)",
            api.name,
            outcome.status,
            len(outcome.accepted),
            len(outcome.rejected),
        )
        if outcome.reply is None:
            return web.Response(status=outcome.status, headers=outcome.headers)
        return json_response(outcome.reply, outcome.status, outcome.headers)

    return handle


def _vendor_of(request: web.Request) -> str:
    vendor = request.match_info["vendor"]
    if vendor not in VENDORS:
        raise web.HTTPNotFound(
            text=orjson.dumps({"error": f"unknown vendor; known: {', '.join(VENDORS)}"}).decode(),
            content_type="application/json",
        )
    return vendor


async def get_all_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return json_response({vendor: faults.to_dict() for vendor, faults in state.faults.items()})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].faults[_vendor_of(request)].to_dict())


async def put_faults(request: web.Request) -> web.Response:
    vendor = _vendor_of(request)
    ok, changes, error = parse_json(await request.read())
    if not ok:
        return json_response({"error": f"body is not valid JSON: {error}"}, 400)
    if not isinstance(changes, dict):
        return json_response(
            {"error": f"body must be an object with some of {', '.join(FAULT_FIELDS)}"}, 400
        )
    try:
        faults = request.app[STATE].set_faults(vendor, changes)
    except ValueError as exc:
        return json_response({"error": str(exc)}, 400)
    log.info("faults of %s set to %s", vendor, faults)
    return json_response(faults.to_dict())


async def get_received(request: web.Request) -> web.Response:
    vendor = _vendor_of(request)
    raw_limit = request.query.get("limit")
    limit: int | None = None
    if raw_limit is not None:
        if not raw_limit.isdigit():
            return json_response({"error": "limit must be a non-negative integer"}, 400)
        limit = int(raw_limit)
    records = request.app[STATE].received(vendor, limit)
    return json_response({"vendor": vendor, "requests": records})


async def delete_received(request: web.Request) -> web.Response:
    vendor = _vendor_of(request) if "vendor" in request.match_info else None
    return json_response({"cleared": request.app[STATE].clear(vendor)})


async def get_stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].stats_dict())


async def get_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_app(
    *,
    credentials: SandboxCredentials | None = None,
    faults: Mapping[str, Faults] | None = None,
    seed: int | None = None,
    keep: int = 10_000,
) -> web.Application:
    """The sandbox as an aiohttp application.

    ``credentials`` defaults to `SandboxCredentials.from_env` (the documented defaults unless
    ``SANDBOX_*`` variables are set); ``faults`` maps vendor names to their starting faults;
    ``seed`` makes fault draws and generated ids reproducible; ``keep`` bounds each vendor's
    buffer of received requests.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = SandboxState(
        credentials or SandboxCredentials.from_env(), faults or {}, seed, keep
    )
    for api in STAND_INS.values():
        app.router.add_post(f"/{api.name}{api.path}", _vendor_handler(api))
    live.LivePages(app[STATE], _vendor_of).add_to(app)
    app.router.add_get("/_health", get_health)
    app.router.add_get("/_stats", get_stats)
    app.router.add_get("/_control", get_all_faults)
    app.router.add_get("/_control/{vendor}", get_faults)
    app.router.add_put("/_control/{vendor}", put_faults)
    app.router.add_get("/_received/{vendor}", get_received)
    app.router.add_delete("/_received/{vendor}", delete_received)
    app.router.add_delete("/_received", delete_received)
    return app
