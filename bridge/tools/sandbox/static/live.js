// The sandbox's live front page: fills the page's vendor sections from the server-sent
// events of /_live/stream (see bridge/tools/sandbox/live.py for what one update holds).
// Every value shown came from a client, so it is set as text, never as HTML.
"use strict";

(() => {
  const MAX_ROWS = 25;
  const sections = new Map();
  const totals = new Map();
  const queued = [];
  let paused = false;

  for (const section of document.querySelectorAll("section.vendor")) {
    const vendor = section.dataset.vendor;
    sections.set(vendor, {
      rows: section.querySelector('[data-role="rows"]'),
      totals: section.querySelector('[data-role="totals"]'),
      faults: section.querySelector('[data-role="faults"]'),
      chip: document.querySelector(`nav a.chip[data-vendor="${vendor}"]`),
    });
  }

  const statusEl = document.getElementById("status");
  const overallEl = document.getElementById("overall");

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = `status ${kind}`;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function collapsible(summary, text) {
    const details = el("details", "", el("summary", "", summary));
    details.append(el("pre", "", text));
    return details;
  }

  function headersTable(headers) {
    const table = el("table", "headers");
    for (const [name, value] of Object.entries(headers)) {
      table.append(el("tr", "", el("th", "", name), el("td", "", value)));
    }
    return table;
  }

  function requestRow(req) {
    const events = el("td", "events");
    events.append(el("span", req.accepted ? "n-ok" : "muted", `${req.accepted} accepted`));
    if (req.rejected) events.append(" · ", el("span", "n-bad", `${req.rejected} refused`));

    const reasons = el("td", "reasons");
    if (req.refusals.length === 0) {
      reasons.append(el("span", "muted", "—"));
    } else {
      const list = el("ul");
      for (const refusal of req.refusals) {
        const item = el("li", "", el("span", "reason", refusal.reason));
        if (refusal.item !== null) item.append(collapsible("event", refusal.item));
        list.append(item);
      }
      reasons.append(list);
    }

    const request = el("td", "request");
    const details = el("details", "", el("summary", "", `${req.method} ${req.path}`));
    details.append(el("h4", "", "headers"), headersTable(req.headers));
    details.append(el("h4", "", "body"), el("pre", "", req.body ?? "(not JSON)"));
    request.append(details);

    const time = el("td", "time", req.at.slice(11, 23));
    time.title = req.at;
    const row = el(
      "tr",
      `request ${req.kind} new`,
      el("td", "number", req.number),
      time,
      el("td", "status", el("span", `pill ${req.kind}`, req.status)),
      events,
      reasons,
      request,
    );
    row.dataset.number = req.number;
    return row;
  }

  function showFaults(target, faults) {
    const names = Object.keys(faults);
    if (names.length === 0) {
      target.replaceChildren(el("span", "badge none", "no faults"));
      return;
    }
    target.replaceChildren(
      ...names.map((name) => el("span", "badge fault", `${name}=${faults[name]}`)),
    );
  }

  function showTotals(target, t) {
    const statuses = Object.entries(t.by_status)
      .map(([status, n]) => `${status}: ${n}`)
      .join(", ");
    target.replaceChildren(
      el("strong", "", plural(t.requests, "request")),
      statuses ? ` (${statuses}) · ` : " · ",
      el("span", "n-ok", `${t.accepted} events accepted`),
      " · ",
      el("span", "n-bad", `${t.rejected} refused`),
    );
  }

  function apply(update) {
    for (const [vendor, change] of Object.entries(update.vendors)) {
      const section = sections.get(vendor);
      if (!section) continue;
      const rows = section.rows;
      if (change.reset) rows.replaceChildren();
      rows.querySelector("tr.empty")?.remove();
      for (const old of rows.querySelectorAll("tr.new")) old.classList.remove("new");
      for (const req of change.requests) rows.prepend(requestRow(req));
      while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
      if (rows.children.length === 0) {
        rows.append(el("tr", "empty", el("td", "", "waiting for requests…")));
        rows.firstElementChild.firstElementChild.colSpan = 6;
      }
      showTotals(section.totals, change.totals);
      showFaults(section.faults, change.faults);
      totals.set(vendor, change.totals);
      if (section.chip) {
        section.chip.querySelector('[data-role="chip-count"]').textContent =
          change.totals.requests;
        section.chip.classList.toggle("faulty", Object.keys(change.faults).length > 0);
      }
    }
    let requests = 0;
    for (const t of totals.values()) requests += t.requests;
    overallEl.textContent = `${plural(requests, "request")} received`;
  }

  const source = new EventSource("/_live/stream");
  source.onopen = () => setStatus(paused ? "paused" : "live", paused ? "paused" : "live");
  source.onerror = () => setStatus("reconnecting…", "down");
  source.onmessage = (event) => {
    const update = JSON.parse(event.data);
    if (paused) queued.push(update);
    else apply(update);
  };

  const pause = document.getElementById("pause");
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "resume" : "pause";
    if (!paused) {
      for (const update of queued.splice(0)) apply(update);
    }
    setStatus(paused ? "paused" : "live", paused ? "paused" : "live");
  });

  document.getElementById("refused-only").addEventListener("change", (event) => {
    document.body.classList.toggle("refused-only", event.target.checked);
  });

  document.getElementById("clear").addEventListener("click", () => {
    fetch("/_received", { method: "DELETE" }).catch(() => setStatus("clear failed", "down"));
  });
})();
