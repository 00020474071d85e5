"""Small self-contained HTML pages: an index, and per vendor its faults, totals and recent
requests with their rejections.

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

_DEFAULTS = Faults().to_dict()

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


def render_index(
    apis: Mapping[str, VendorApi], stats: Mapping[str, Any], faults: Mapping[str, Faults]
) -> str:
    rows = []
    for name, api in apis.items():
        totals = stats[name]
        active = [f"{k}={v}" for k, v in faults[name].to_dict().items() if v != _DEFAULTS[k]]
        rows.append(
            "<tr>"
            f'<td><a href="/_ui/{escape(name)}">{escape(name)}</a></td>'
            f"{_cell(f'POST /{name}{api.path}')}{_cell(totals['requests'])}"
            f"{_cell(totals['accepted'])}{_cell(totals['rejected'])}"
            f"{_cell(', '.join(active) or 'none')}"
            "</tr>"
        )
    body = (
        "<h1>bridge vendor sandbox</h1>"
        + _table(("vendor", "endpoint", "requests", "accepted", "rejected", "faults"), rows)
        + "<p>JSON: <code>/_received/{vendor}</code>, <code>/_stats</code>, "
        "<code>/_control</code>, <code>/_health</code></p>"
    )
    return _page("bridge vendor sandbox", body)


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
