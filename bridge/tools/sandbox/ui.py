"""Small self-contained HTML pages: the live front page's shell (filled by ``static/live.js``),
and per vendor a static page of its faults, totals and recent requests with their rejections.

Everything shown comes from what clients sent, so every value passes through `html.escape`;
there are no external assets, so the pages work offline and in CI artefacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import orjson

from .config import Faults
from .exchange import VendorApi

PAGE_ROWS = 200
"""How many of the newest requests a vendor page lists."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.ok { color: #176f2c; } .bad { color: #b00020; }
pre { margin: 0; max-width: 60rem; white-space: pre-wrap; word-break: break-all; }
ul { margin: 0; padding-left: 1.2rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _cell(value: Any) -> str:
    return f"<td>{escape(str(value))}</td>"


def _table(headers: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _faults_table(faults: Faults) -> str:
    rows = (f"<tr>{_cell(name)}{_cell(value)}</tr>" for name, value in faults.to_dict().items())
    return _table(("fault", "value"), rows)


def render_live(apis: Mapping[str, VendorApi]) -> str:
    """The live front page's shell: one empty section per vendor, which ``static/live.js``
    fills from the event stream (`bridge.tools.sandbox.live`)."""
    nav = "".join(
        f'<a class="chip" href="#v-{escape(name)}" data-vendor="{escape(name)}">'
        f'{escape(name)} <span data-role="chip-count">0</span></a>'
        for name in apis
    )
    sections = "".join(
        f'<section class="vendor" id="v-{escape(name)}" data-vendor="{escape(name)}">'
        f"<header><h2>{escape(name)}</h2><code>POST /{escape(name)}{escape(api.path)}</code>"
        f'<span class="links"><a href="/_ui/{escape(name)}">static page</a> · '
        f'<a href="/_received/{escape(name)}">JSON</a></span></header>'
        '<div class="summary"><span data-role="totals">no requests yet</span>'
        '<span data-role="faults" class="faults"><span class="badge none">no faults</span>'
        "</span></div>"
        '<table class="requests"><thead><tr><th>#</th><th>time (UTC)</th><th>status</th>'
        "<th>events</th><th>refusal reasons</th><th>request</th></tr></thead>"
        '<tbody data-role="rows"><tr class="empty"><td colspan="6">waiting for requests…'
        "</td></tr></tbody></table></section>"
        for name, api in apis.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>bridge vendor sandbox · live</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/_static/live.css">'
        '<script src="/_static/live.js" defer></script></head><body>'
        '<header class="top"><h1>bridge vendor sandbox <small>live</small></h1>'
        '<span id="status" class="status connecting">connecting…</span>'
        '<span id="overall"></span>'
        '<span class="controls"><label><input type="checkbox" id="refused-only"> refused only'
        '</label><button type="button" id="pause">pause</button>'
        '<button type="button" id="clear" title="DELETE /_received">clear</button></span>'
        f'</header><nav class="vendors">{nav}</nav>'
        "<noscript><p>This page updates itself with JavaScript; without it, see each "
        "vendor's static page.</p></noscript>"
        f"<main>{sections}</main>"
        "<footer>What each stand-in received, newest first; secret headers masked. JSON: "
        "<code>/_live</code>, <code>/_received/{vendor}</code>, <code>/_stats</code>, "
        "<code>/_control</code>. Faults: <code>PUT /_control/{vendor}</code>.</footer>"
        "</body></html>\n"
    )


def _rejections(record: Mapping[str, Any]) -> str:
    problems = [str(r.get("error", "")) for r in record["rejected"]]
    if record.get("error"):
        problems.insert(0, str(record["error"]))
    if not problems:
        return ""
    return "<ul>" + "".join(f"<li>{escape(p)}</li>" for p in problems) + "</ul>"


def _body(record: Mapping[str, Any]) -> str:
    text = orjson.dumps(record["body"], option=orjson.OPT_INDENT_2).decode()
    return f"<details><summary>body</summary><pre>{escape(text)}</pre></details>"


def render_vendor(
    api: VendorApi,
    faults: Faults,
    stats: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
) -> str:
    rows = []
    for record in reversed(records):
        css = "ok" if record["status"] < 400 else "bad"
        rows.append(
            "<tr>"
            f"{_cell(record['at'])}"
            f'<td class="{css}">{escape(str(record["status"]))}</td>'
            f"{_cell(len(record['accepted']))}{_cell(len(record['rejected']))}"
            f"<td>{_rejections(record)}</td><td>{_body(record)}</td>"
            "</tr>"
        )
    by_status = ", ".join(f"{status}: {n}" for status, n in stats["by_status"].items())
    name = api.name
    body = (
        f'<p><a href="/">all vendors</a></p><h1>{escape(name)}</h1>'
        f"<p>Endpoint <code>POST /{escape(name)}{escape(api.path)}</code>. "
        f"Totals: {escape(str(stats['requests']))} requests ({escape(by_status or 'none')}), "
        f"{escape(str(stats['accepted']))} items accepted, "
        f"{escape(str(stats['rejected']))} rejected.</p>"
        "<h2>Faults</h2>"
        + _faults_table(faults)
        + f"<h2>Recent requests (newest first, up to {PAGE_ROWS})</h2>"
        + _table(("time", "status", "accepted", "rejected", "errors", "request"), rows)
    )
    return _page(f"{name} - bridge vendor sandbox", body)
