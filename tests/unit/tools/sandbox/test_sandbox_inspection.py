"""What the sandbox keeps and shows: /_received, /_stats, clearing, and the HTML pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bridge.tools.sandbox import VENDORS, Sandbox, SandboxCredentials

if TYPE_CHECKING:
    import aiohttp

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
SQ_AUTH = {"X-AUTH-ACCOUNT": CREDS.squeezely_account_id, "X-AUTH-APIKEY": CREDS.squeezely_api_key}


async def test_received_lists_requests_newest_last(send: Send) -> None:
    await send(QL_PATH, [GOOD, BAD])
    await send(QL_PATH, raw=b"nope")
    reply = await send("/_received/quicklizard", method="GET")
    assert reply.status == 200
    assert reply.json["vendor"] == "quicklizard"
    first, second = reply.json["requests"]
    assert first["status"] == 200
    assert first["accepted"] == [GOOD]
    assert first["rejected"] == [{"item": BAD, "error": "price must be a number, got string"}]
    assert first["body"] == [GOOD, BAD]
    assert first["at"].endswith("+00:00")
    assert first["error"] is None
    assert second["status"] == 400
    assert second["body"] is None
    assert second["accepted"] == second["rejected"] == []
    assert second["error"].startswith("body is not valid JSON")

    limited = await send("/_received/quicklizard?limit=1", method="GET")
    assert limited.json["requests"] == [second]
    assert (await send("/_received/quicklizard?limit=x", method="GET")).status == 400
    assert (await send("/_received/acme", method="GET")).status == 404


async def test_secret_headers_are_masked(send: Send, sandbox: Sandbox) -> None:
    await send("/vtmarketing/v1/event/", {}, headers={"Authorization": "vt-sandbox-key"})
    await send("/squeezely/v1/track", {"events": [{"event": "X"}]}, headers=SQ_AUTH)
    vt_headers = sandbox.received("vtmarketing")[-1]["headers"]
    assert vt_headers["Authorization"] == "***"
    sq_headers = sandbox.received("squeezely")[-1]["headers"]
    assert sq_headers["X-AUTH-APIKEY"] == "***"
    assert sq_headers["X-AUTH-ACCOUNT"] == CREDS.squeezely_account_id
    assert sq_headers["Content-Type"] == "application/json"
    over_http = (await send("/_received/squeezely", method="GET")).json["requests"][-1]
    assert over_http["headers"]["X-AUTH-APIKEY"] == "***"
    assert CREDS.squeezely_api_key not in str(over_http)


async def test_headers_named_like_secrets_are_masked_for_any_vendor(
    send: Send, sandbox: Sandbox
) -> None:
    headers = {"X-Api-Key": "k1", "X-Session-Token": "t1", "Cookie": "c=1", "X-Trace": "r1"}
    await send(QL_PATH, [GOOD], headers=headers)
    shown = sandbox.received("quicklizard")[-1]["headers"]
    assert [shown[name] for name in headers] == ["***", "***", "***", "r1"]


async def test_stats_count_requests_and_items(send: Send) -> None:
    await send(QL_PATH, [GOOD, GOOD, BAD])
    await send(QL_PATH, [dict(GOOD, client_key="x")])
    reply = await send("/_stats", method="GET")
    assert set(reply.json) == set(VENDORS)
    assert reply.json["quicklizard"] == {
        "requests": 2,
        "by_status": {"200": 1, "403": 1},
        "accepted": 2,
        "rejected": 1,
    }
    assert reply.json["qubit"] == {"requests": 0, "by_status": {}, "accepted": 0, "rejected": 0}


async def test_buffer_is_bounded_but_totals_are_not(http: aiohttp.ClientSession) -> None:
    async with Sandbox(credentials=CREDS, keep=3) as sb:
        for price in range(5):
            async with http.post(
                sb.base_url("quicklizard") + "/events", json=[dict(GOOD, price=price)]
            ):
                pass
        assert [r["body"][0]["price"] for r in sb.received("quicklizard")] == [2, 3, 4]
        assert sb.stats()["quicklizard"]["requests"] == 5
        assert sb.stats()["quicklizard"]["accepted"] == 5


async def test_delete_clears_one_vendor_or_all(send: Send, sandbox: Sandbox) -> None:
    await send(QL_PATH, [GOOD])
    await send("/squeezely/v1/track", {"events": [{"event": "X"}]}, headers=SQ_AUTH)
    reply = await send("/_received/quicklizard", method="DELETE")
    assert reply.json == {"cleared": ["quicklizard"]}
    assert sandbox.received("quicklizard") == []
    assert sandbox.stats()["quicklizard"]["requests"] == 0
    assert len(sandbox.received("squeezely")) == 1
    reply = await send("/_received", method="DELETE")
    assert reply.json == {"cleared": list(VENDORS)}
    assert sandbox.received("squeezely") == []
    assert sandbox.stats()["squeezely"]["requests"] == 0


async def test_health(send: Send) -> None:
    reply = await send("/_health", method="GET")
    assert (reply.status, reply.json) == (200, {"status": "ok"})


async def test_index_links_every_vendor_page(send: Send) -> None:
    reply = await send("/", method="GET")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    for vendor in VENDORS:
        assert f'href="/_ui/{vendor}"' in reply.text


async def test_vendor_page_lists_requests_and_escapes(send: Send, sandbox: Sandbox) -> None:
    sandbox.set_faults("quicklizard", latency_ms=1)
    hostile = dict(GOOD, product_id="<script>alert(1)</script>", **{"<script>": 1})
    await send(QL_PATH, [GOOD, hostile])
    reply = await send("/_ui/quicklizard", method="GET")
    assert reply.status == 200
    page = reply.text
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "unknown field &lt;script&gt; (field names are case-sensitive)" in page
    assert "<td>latency_ms</td><td>1</td>" in page
    assert '<td class="ok">200</td>' in page
    assert (await send("/_ui/acme", method="GET")).status == 404


@pytest.mark.parametrize("vendor", VENDORS)
async def test_every_vendor_page_renders_when_empty(send: Send, vendor: str) -> None:
    reply = await send(f"/_ui/{vendor}", method="GET")
    assert reply.status == 200
    assert f"<h1>{vendor}</h1>" in reply.text


async def test_lifecycle_helpers() -> None:
    sb = Sandbox(credentials=CREDS)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = sb.url
    await sb.start()
    try:
        assert sb.url.startswith("http://127.0.0.1:")
        assert sb.base_url("qubit") == f"{sb.url}/qubit"
        with pytest.raises(ValueError, match="unknown vendor"):
            sb.base_url("acme")
    finally:
        await sb.stop()
    await sb.stop()  # idempotent
