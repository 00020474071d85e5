"""Injected faults: outage, status override, random 503s and 429s, latency; live control."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from bridge.tools.sandbox import Faults, Sandbox, SandboxCredentials

if TYPE_CHECKING:
    import aiohttp

    from tests.unit.tools.sandbox.conftest import Send

CREDS = SandboxCredentials()
QL_PATH = "/quicklizard/events"
QL_EVENT = {
    "client_key": CREDS.quicklizard_client_key,
    "price": 1.5,
    "product_id": "A",
    "event": "conversion",
}
QUBIT_PATH = f"/qubit/events/{CREDS.qubit_tracking_id}"
QUBIT_EVENT = {
    "context": {"id": "c"},
    "meta": {"type": "ecBasketTransactionSummary", "ts": 1479377213928, "source": "t@1"},
    "basket": {"total": {"value": 1, "currency": "USD"}},
    "transaction": {"id": "t"},
}

# One valid request per vendor, to see each vendor's error shape under an injected fault.
VALID: dict[str, tuple[str, Any, dict[str, str]]] = {
    "quicklizard": (QL_PATH, [QL_EVENT], {}),
    "vtmarketing": (
        "/vtmarketing/v1/event/",
        {
            "user": {"email": "a@example.com"},
            "event": {"confirmation": {"generic": {"orderId": "1", "total": 1}}},
        },
        {"Authorization": CREDS.vtmarketing_api_key},
    ),
    "qubit": (QUBIT_PATH, {"events": [QUBIT_EVENT]}, {}),
    "esputnik": (
        "/esputnik/api/v2/event",
        {"eventTypeKey": "x", "keyValue": "k"},
        {"Authorization": "Basic dTplcy1zYW5kYm94LWtleQ=="},  # u:es-sandbox-key
    ),
    "squeezely": (
        "/squeezely/v1/track",
        {"events": [{"event": "ViewContent"}]},
        {"X-AUTH-ACCOUNT": CREDS.squeezely_account_id, "X-AUTH-APIKEY": CREDS.squeezely_api_key},
    ),
}


def _error_shape(vendor: str, body: Any, message: str) -> bool:
    """Whether ``body`` is the vendor's own error reply carrying ``message``."""
    if vendor == "quicklizard":
        return bool(body == {"errors": [{"error": message}]})
    if vendor == "vtmarketing":
        return bool(body["errors"][0]["description"] == message)
    if vendor == "qubit":
        return body["message"] == message and isinstance(body["status"], int)
    if vendor == "esputnik":
        return bool(body == {"error": message})
    return bool(body == {"success": False, "errors": [message]})


async def _valid(send: Send, vendor: str) -> Any:
    path, body, headers = VALID[vendor]
    return await send(path, body, headers=headers)


@pytest.mark.parametrize("vendor", list(VALID))
async def test_valid_requests_pass_without_faults(send: Send, vendor: str) -> None:
    assert (await _valid(send, vendor)).status == 200


@pytest.mark.parametrize("vendor", list(VALID))
async def test_outage_is_503_in_the_vendors_shape(
    send: Send, sandbox: Sandbox, vendor: str
) -> None:
    sandbox.set_faults(vendor, outage=True)
    reply = await _valid(send, vendor)
    assert reply.status == 503
    assert _error_shape(vendor, reply.json, "Service Unavailable (sandbox outage)")
    [record] = sandbox.received(vendor)
    assert record["accepted"] == []
    assert record["error"] == "Service Unavailable (sandbox outage)"
    assert sandbox.stats()[vendor] == {
        "requests": 1,
        "by_status": {"503": 1},
        "accepted": 0,
        "rejected": 0,
    }


@pytest.mark.parametrize("vendor", list(VALID))
async def test_status_override_answers_every_request(
    send: Send, sandbox: Sandbox, vendor: str
) -> None:
    sandbox.set_faults(vendor, status_override=401)
    reply = await _valid(send, vendor)
    assert reply.status == 401
    assert _error_shape(vendor, reply.json, "Unauthorized (sandbox status override)")
    assert sandbox.received(vendor)[-1]["accepted"] == []


async def test_throttle_is_429_with_retry_after(send: Send, sandbox: Sandbox) -> None:
    sandbox.set_faults("qubit", throttle_rate=1.0, retry_after_s=1.5)
    reply = await send(QUBIT_PATH, {"events": [QUBIT_EVENT]})
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2"  # whole seconds, rounded up
    assert reply.json == {"status": 429, "message": "Too Many Requests (sandbox throttling)"}


async def test_error_rate_is_a_fraction_of_requests(send: Send, sandbox: Sandbox) -> None:
    sandbox.set_faults("quicklizard", error_rate=0.5)
    statuses = [(await send(QL_PATH, [QL_EVENT])).status for _ in range(60)]
    assert set(statuses) == {200, 503}
    assert 15 <= statuses.count(503) <= 45
    stats = sandbox.stats()["quicklizard"]
    assert stats["by_status"] == {"200": statuses.count(200), "503": statuses.count(503)}
    assert stats["accepted"] == statuses.count(200)


async def test_seeded_fault_draws_repeat(http: aiohttp.ClientSession) -> None:
    runs = []
    for _ in range(2):
        faults = {"quicklizard": Faults(error_rate=0.3, throttle_rate=0.3)}
        async with Sandbox(credentials=CREDS, faults=faults, seed=5) as sb:
            statuses = []
            for _ in range(20):
                async with http.post(sb.base_url("quicklizard") + "/events", json=[QL_EVENT]) as r:
                    statuses.append(r.status)
            runs.append(statuses)
    assert runs[0] == runs[1]
    assert {200, 429, 503} == set(runs[0])


async def test_faults_set_at_start(http: aiohttp.ClientSession) -> None:
    async with Sandbox(credentials=CREDS, faults={"qubit": Faults(outage=True)}) as sb:
        url = sb.base_url("qubit") + f"/events/{CREDS.qubit_tracking_id}"
        async with http.post(url, json={"events": [QUBIT_EVENT]}) as resp:
            assert resp.status == 503
        async with http.post(sb.base_url("quicklizard") + "/events", json=[QL_EVENT]) as resp:
            assert resp.status == 200


async def test_latency_delays_every_request(send: Send, sandbox: Sandbox) -> None:
    sandbox.set_faults("quicklizard", latency_ms=300)
    started = time.monotonic()
    reply = await send(QL_PATH, [QL_EVENT])
    assert time.monotonic() - started >= 0.3
    assert reply.status == 200
    sandbox.set_faults("quicklizard", latency_ms=300, outage=True)
    started = time.monotonic()
    assert (await send(QL_PATH, [QL_EVENT])).status == 503
    assert time.monotonic() - started >= 0.3


async def test_put_control_changes_faults_live(send: Send) -> None:
    reply = await send("/_control/qubit", {"outage": True}, method="PUT")
    assert reply.status == 200
    assert reply.json == {**Faults().to_dict(), "outage": True}
    assert (await send(QUBIT_PATH, {"events": [QUBIT_EVENT]})).status == 503

    reply = await send("/_control/qubit", {"outage": False, "latency_ms": 5}, method="PUT")
    assert reply.json["outage"] is False
    assert reply.json["latency_ms"] == 5
    assert (await send(QUBIT_PATH, {"events": [QUBIT_EVENT]})).status == 200

    everything = (await send("/_control", method="GET")).json
    assert set(everything) == set(VALID)
    assert everything["qubit"]["latency_ms"] == 5
    assert everything["squeezely"] == Faults().to_dict()
    assert (await send("/_control/qubit", method="GET")).json == everything["qubit"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"outages": True}, "unknown fault field(s) outages"),
        ({"outage": "yes"}, "outage must be true or false"),
        ({"error_rate": 1.5}, "error_rate must be a fraction between 0 and 1"),
        ({"error_rate": 0.7, "throttle_rate": 0.7}, "must not exceed 1"),
        ({"latency_ms": True}, "latency_ms must be a number"),
        ({"latency_ms": -1}, "latency_ms must be >= 0"),
        ({"status_override": 200}, "status_override must be null or an HTTP status 400-599"),
        ([], "body must be an object"),
    ],
)
async def test_put_control_rejects_bad_values(
    send: Send, sandbox: Sandbox, body: Any, fragment: str
) -> None:
    reply = await send("/_control/qubit", body, method="PUT")
    assert reply.status == 400
    assert fragment in reply.json["error"]
    assert sandbox.faults("qubit") == Faults()


async def test_control_of_unknown_vendor_is_404(send: Send) -> None:
    assert (await send("/_control/acme", {"outage": True}, method="PUT")).status == 404
    assert (await send("/_control/acme", method="GET")).status == 404


def test_faults_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="throttle_rate must be a fraction"):
        Faults(throttle_rate=2)
    with pytest.raises(ValueError, match="outage must be true or false"):
        Faults(outage=1)  # type: ignore[arg-type]  # a wrong type on purpose: the check under test
    assert Faults(status_override=None).status_override is None


async def test_set_faults_rejects_unknown_vendor_and_field(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown vendor"):
        sandbox.set_faults("acme", outage=True)
    with pytest.raises(ValueError, match="unknown fault field"):
        sandbox.set_faults("qubit", blackout=True)


async def test_hidden_capacity_slows_past_the_knee_and_throttles_at_the_ceiling(
    send: Send, sandbox: Sandbox
) -> None:
    sandbox.set_faults(
        "quicklizard", latency_ms=50, capacity_knee=2, knee_latency_ms=100, capacity_ceiling=4
    )

    async def timed() -> tuple[int, float, str | None]:
        began = time.perf_counter()
        reply = await send(QL_PATH, [QL_EVENT])
        return reply.status, time.perf_counter() - began, reply.headers.get("Retry-After")

    replies = await asyncio.gather(*(timed() for _ in range(6)))
    statuses = sorted(status for status, _, _ in replies)
    assert statuses == [200] * 4 + [429] * 2  # the ceiling: four in flight, the rest 429
    assert all(after == "1" for status, _, after in replies if status == 429)
    slowest = max(seconds for status, seconds, _ in replies if status == 200)
    assert slowest >= 0.2  # four in flight, two past the knee: 50 + 2 x 100 ms
