"""The sandbox's live front page in a real browser while the bridge delivers to the stand-ins.

Debian's chromium, headless, over the DevTools protocol (`tests.support.chromium`): the page
is opened once and never reloaded, and must show requests arriving, a refusal with its reason,
faults set over HTTP, no secret, and no console error. The screenshot is left in the test's
tmp folder for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import Sandbox, SandboxCredentials
from tests.support.chromium import Chromium
from tests.support.kafka import encoder, make_config, produce, running_bridge, unique, vendor_block

pytestmark = pytest.mark.integration

CREDS = SandboxCredentials()
# Requests the page has counted, over every vendor (the chips above the sections).
SHOWN = (
    "[...document.querySelectorAll('[data-role=chip-count]')]"
    ".reduce((sum, chip) => sum + Number(chip.textContent), 0)"
)


def section(vendor: str, selector: str = "") -> str:
    return f"document.querySelector('section[data-vendor={vendor}] {selector}'.trim())"


def complete(event: dict[str, Any], n: int) -> dict[str, Any]:
    """A sample event with what QuickLizard and Squeezely need, and a recognisable id."""
    event["event_id"] = f"{'order' if 'order_id' in event else 'view'}-{n}"
    event["vendor_ids"] = {"quicklizard": f"ql-{n}"}
    event["customer"] = {"customer_id": f"C{n}", "email": f"shopper{n}@example.com"}
    event["marketing_consent"] = True
    return event


def produce_events(
    broker: LocalBroker, topics: tuple[str, str], orders: list[Any], views: list[Any]
) -> None:
    orders_topic, views_topic = topics
    order_enc, view_enc = encoder(EventType.ORDER), encoder(EventType.PRODUCT_VIEW)
    produce(
        broker, orders_topic, [(0, o["order_id"].encode(), order_enc.encode(o)) for o in orders]
    )
    produce(broker, views_topic, [(0, v["visitor_id"].encode(), view_enc.encode(v)) for v in views])


async def test_front_page_shows_requests_arriving_refusals_and_faults_live(
    broker: LocalBroker, tmp_path: Path
) -> None:
    topics = (unique("orders"), unique("views"))
    dlq = unique("dlq")
    broker.create_topics({topics[0]: 1, topics[1]: 1, dlq: 1})
    samples = SampleEvents(seed=13)
    orders = [complete(samples.order(), n) for n in range(8)]
    views = [complete(samples.product_view(), n) for n in range(24)]
    views[3]["product_id"] = ""  # QuickLizard refuses this one event, with its reason
    orders[2]["customer"]["email"] = "not-an-email"  # Squeezely refuses the whole request

    async with (
        Sandbox(credentials=CREDS) as sandbox,
        Chromium() as browser,
        aiohttp.ClientSession() as http,
    ):
        await browser.navigate(f"{sandbox.url}/")
        await browser.evaluate("window.openedOnce = true")
        await browser.wait_until(
            "document.getElementById('status').textContent === 'live'", 10, "the stream"
        )
        assert await browser.evaluate(SHOWN) == 0

        vendors = {
            name: vendor_block(
                name, sandbox.base_url(name), tmp_path, batch={"max_events": 4, "linger_ms": 20}
            )
            for name in ("quicklizard", "squeezely")
        }
        config = make_config(broker, vendors, orders=topics[0], views=topics[1], dead_letter=dlq)
        async with running_bridge(config):
            produce_events(broker, topics, orders[:4], views[:12])
            first = await browser.wait_until(f"{SHOWN} > 0 && {SHOWN}", 20, "first requests")
            produce_events(broker, topics, orders[4:], views[12:])
            await browser.wait_until(f"{SHOWN} > {first}", 20, "more requests, without reload")
            # The refusals, each with the stand-in's reason.
            await browser.wait_until(
                section("quicklizard", "tr.partial td.reasons")
                + "?.textContent.includes('product_id must not be empty')",
                20,
                "QuickLizard's refusal of the empty product id",
            )
            await browser.wait_until(
                section("squeezely", "tr.refused td.reasons")
                + "?.textContent.includes('is not a valid email address')",
                20,
                "Squeezely's refusal of the bad email",
            )
            assert (
                await browser.evaluate(
                    section("squeezely", "tr.refused .pill.refused") + ".textContent"
                )
                == "400"
            )

        # Faults set over HTTP while the page is open.
        async with http.put(f"{sandbox.url}/_control/qubit", json={"error_rate": 0.25}) as reply:
            assert reply.status == 200
        await browser.wait_until(
            section("qubit", "[data-role=faults]") + ".textContent === 'error_rate=0.25'",
            10,
            "Qubit's faults in force",
        )
        assert await browser.evaluate(
            "document.querySelector('nav a.chip[data-vendor=qubit]').classList.contains('faulty')"
        )

        assert await browser.evaluate("window.openedOnce === true"), "the page was reloaded"
        page_text = await browser.evaluate("document.body.textContent")
        assert "X-AUTH-APIKEY***" in page_text  # the header is shown, its value masked
        assert CREDS.squeezely_api_key not in page_text
        assert CREDS.quicklizard_client_key not in page_text

        # A refused request opened, as a person would, for the screenshot.
        await browser.evaluate(
            "for (const d of " + section("squeezely", "tr.refused") + ".querySelectorAll("
            "'details')) d.open = true"
        )
        shot = await browser.screenshot(tmp_path / "sandbox-page.png")
        assert browser.console_errors == []

    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000, "a blank page would be a few kilobytes"


async def test_the_browser_reports_console_errors_exceptions_and_failed_loads() -> None:
    """The check above can fail: what it reads does see each kind of error."""
    async with Sandbox(credentials=CREDS) as sandbox, Chromium() as browser:
        page = (
            "<script>console.error('boom'); notDefined();</script>"
            f'<img src="{sandbox.url}/_static/missing.png">'
        )
        await browser.navigate(f"data:text/html,{quote(page)}")
        await browser.wait_until("document.images[0].complete", 10, "the image to fail")
        errors = browser.console_errors
        assert any(e.startswith("console: boom") for e in errors), errors
        assert any(e.startswith("exception:") and "notDefined" in e for e in errors), errors
        assert any(e.startswith("log: Failed to load resource") for e in errors), errors
