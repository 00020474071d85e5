"""A running instance's state (``--instance URL``, a bridge's status port): the circuit state,
paused partitions and readiness scraped from its ``/metrics`` and ``/readyz``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bridge.commands.status.report import InstanceStatus


def scrape(url: str) -> dict[str, Any]:
    base = url.rstrip("/")
    found: dict[str, Any] = {"metrics": {}, "ready": None, "readiness": "", "error": None}
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (
                    "bridge_circuit_state",
                    "bridge_paused_partitions",
                    "bridge_pipeline_ready",
                    "bridge_credentials_refused",
                ):
                    key = (sample.name, sample.labels.get("vendor"), sample.labels.get("state"))
                    found["metrics"][key] = sample.value
    except (OSError, urllib.error.URLError, ValueError) as exc:
        found["error"] = f"{base}/metrics: {exc}"
        return found
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            found["ready"], found["readiness"] = True, response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        found["ready"], found["readiness"] = False, exc.read().decode().strip()
    except (OSError, urllib.error.URLError) as exc:
        found["error"] = f"{base}/readyz: {exc}"
    return found


def instance_status(url: str, vendor: str, scraped: dict[str, Any]) -> InstanceStatus:
    status = InstanceStatus(url=url, error=scraped.get("error"))
    metrics: dict[tuple[str, str | None, str | None], float] = scraped.get("metrics", {})
    circuit = [
        state
        for (name, who, state), value in metrics.items()
        if name == "bridge_circuit_state" and who == vendor and value == 1
    ]
    status.circuit = circuit[0] if circuit else None
    status.paused_partitions = metrics.get(("bridge_paused_partitions", vendor, None))
    refused = metrics.get(("bridge_credentials_refused", vendor, None))
    status.credentials_refused = None if refused is None else refused == 1
    ready = metrics.get(("bridge_pipeline_ready", vendor, None))
    status.ready = None if ready is None else ready == 1
    status.readiness = str(scraped.get("readiness", ""))
    if status.circuit is None and status.error is None:
        status.error = f"{vendor} is not running in this instance"
    return status
