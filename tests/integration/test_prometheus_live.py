"""The dashboard's queries and the alert rules, evaluated by a real Prometheus on live data.

Prometheus scrapes `scrape_target` every second. For now that is a prometheus-client exporter
serving a `Metrics` object that a background thread keeps busy like two vendor pipelines, one
healthy and one whose vendor is down. Pointing the fixture at a running bridge changes nothing
else in this file, except that the bridge must then be driven into the same situation (the
sandbox's faults) for `test_alerts_go_pending_for_the_failing_vendor_only`.
Every panel query must be valid PromQL and return data; every alert expression must be valid;
every rule must be loaded and evaluated without error; and the alerts about a failing vendor
must go pending for that vendor and no other.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from bridge.metrics import Metrics
from tests.support.prometheus import (
    Prometheus,
    alert_rules,
    dashboard_queries,
    expand_grafana_variables,
    running_prometheus,
    wait_for,
)

pytestmark = pytest.mark.integration

TOPICS = ("orders", "product-views")
SCRAPE_WAIT_S = 20.0
TICK_S = 0.1


@dataclass(frozen=True)
class Vendor:
    """What one vendor pipeline does each tick (0.1 s)."""

    name: str
    consumed: int  # per topic
    delivered: int
    skipped: int
    dead_lettered: int
    statuses: dict[str, int]  # requests by status class
    request_s: float
    circuit: tuple[str, ...]  # states taken in turn, one per tick


HEALTHY = Vendor("qubit", 10, 19, 1, 0, {"2xx": 10}, 0.08, ("closed",))
# Down: answers 5xx or nothing, every probe fails, retries run out into the dead-letter topic.
DOWN = Vendor("esputnik", 5, 0, 0, 3, {"5xx": 3, "error": 1}, 2.5, ("open", "open", "half_open"))
# The alerts a real Prometheus must put in pending state for that traffic (the `for` of each
# is minutes, so none fires during the test). Lag growth needs 10 minutes of history, and
# readiness and credentials are fine here: none of them may be pending.
EXPECTED_PENDING = {
    ("BridgeVendorNoDeliveries", "esputnik"),
    ("BridgeVendorErrorRatio", "esputnik"),
    ("BridgeDeadLetterRate", "esputnik"),
    ("BridgeCircuitOpen", "esputnik"),
}


class Traffic:
    """Moves every metric of `Metrics` as a healthy and a failing vendor pipeline would."""

    def __init__(self, metrics: Metrics, vendors: tuple[Vendor, ...] = (HEALTHY, DOWN)) -> None:
        self._metrics = metrics
        self._vendors = vendors
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-traffic", daemon=True)
        self._tick = 0

    def __enter__(self) -> Traffic:
        self._step()  # every series exists before the first scrape
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._step()

    def _step(self) -> None:
        m, tick = self._metrics, self._tick
        self._tick += 1
        for v in self._vendors:
            name = v.name
            for partition, topic in enumerate(TOPICS):
                m.records_consumed.labels(name, topic).inc(v.consumed)
                m.consumer_lag.labels(name, topic, str(partition)).set(40 * v.consumed + tick)
                m.committed_offset.labels(name, topic, str(partition)).set(v.delivered * tick)
                m.oldest_unacked_age.labels(name, topic, str(partition)).set(v.request_s * 2)
                m.decode_failures.labels(name, topic, "bad_avro").inc(tick % 2)
            m.records.labels(name, "delivered", "").inc(v.delivered)
            m.records.labels(name, "skipped", "no_consent").inc(v.skipped)
            m.records.labels(name, "dead_lettered", "retries_exhausted").inc(v.dead_lettered)
            m.dead_letters.labels(name, "retries_exhausted").inc(v.dead_lettered)
            for status_class in ("2xx", "4xx", "5xx", "error"):
                m.http_requests.labels(name, status_class).inc(v.statuses.get(status_class, 0))
            failed = sum(count for cls, count in v.statuses.items() if cls != "2xx")
            m.retries.labels(name, "transient").inc(failed)
            m.retries.labels(name, "credentials").inc(0)
            m.http_duration.labels(name).observe(v.request_s * (1 + tick % 5 / 10))
            m.batch_size.labels(name).observe(v.consumed)
            if v.delivered:
                m.end_to_end.labels(name).observe(0.3 + tick % 7 / 10)
            m.vendor_warnings.labels(name).inc(tick % 2)
            m.in_flight_records.labels(name).set(v.consumed * 10)
            m.in_flight_bytes.labels(name).set(v.consumed * 8_000)
            m.in_flight_requests.labels(name).set(sum(v.statuses.values()))
            m.paused_partitions.labels(name).set(0 if v.delivered else len(TOPICS))
            m.commit_failures.labels(name).inc(0)
            m.outcome_write_failures.labels(name).inc(0)
            m.rate_limit_wait.labels(name).inc(0.01)
            m.set_circuit(name, v.circuit[tick % len(v.circuit)])
            m.pipeline_ready.labels(name).set(1)
            m.credentials_refused.labels(name).set(0)


@pytest.fixture(scope="module")
def scrape_target() -> Iterator[str]:
    """What Prometheus scrapes, as host:port (or a URL): the one place to point at a bridge."""
    metrics = Metrics(CollectorRegistry())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    try:
        with Traffic(metrics):
            yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def prometheus(
    scrape_target: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    # One Prometheus for the module: starting it and waiting for scrapes is most of the time.
    with running_prometheus(scrape_target, tmp_path_factory.mktemp("live")) as running:
        # rate() over 1m needs two samples of a series. Prometheus itself takes ~5 s to hand a
        # new target to its scrape loop (its discovery updates are throttled), hence the wait.
        wait_for(
            lambda: running.samples_scraped("bridge_build_info") >= 2,
            SCRAPE_WAIT_S,
            f"two scrapes of {scrape_target}",
        )
        yield running


def _has_a_number(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


def test_target_is_scraped(prometheus: Prometheus) -> None:
    (target,) = prometheus.targets()["activeTargets"]
    assert target["health"] == "up", target.get("lastError")


def test_every_panel_query_is_valid_and_returns_data(prometheus: Prometheus) -> None:
    empty = []
    for where, expr in dashboard_queries():
        result = prometheus.query(expand_grafana_variables(expr))  # raises on invalid PromQL
        if not _has_a_number(result):
            empty.append(f"{where}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_every_alert_expression_is_valid(prometheus: Prometheus) -> None:
    for rule in alert_rules():
        prometheus.query(rule["expr"])  # raises PrometheusError with Prometheus' reason


def test_every_rule_is_loaded_and_evaluates_cleanly(prometheus: Prometheus) -> None:
    expected = {rule["alert"] for rule in alert_rules()}

    def evaluated() -> dict[str, dict[str, Any]] | None:
        loaded = {
            rule["name"]: rule for group in prometheus.rules()["groups"] for rule in group["rules"]
        }
        return loaded if all(rule["health"] != "unknown" for rule in loaded.values()) else None

    loaded = wait_for(evaluated, SCRAPE_WAIT_S, "a first evaluation of every rule")
    assert set(loaded) == expected
    unhealthy = {
        name: rule.get("lastError") for name, rule in loaded.items() if rule["health"] != "ok"
    }
    assert not unhealthy


def test_alerts_go_pending_for_the_failing_vendor_only(prometheus: Prometheus) -> None:
    def pending() -> set[tuple[str, str]]:
        return {
            (alert["labels"]["alertname"], alert["labels"].get("vendor", ""))
            for alert in prometheus.alerts()
        }

    wait_for(lambda: pending() >= EXPECTED_PENDING, SCRAPE_WAIT_S, "the expected alerts")
    assert pending() == EXPECTED_PENDING
    assert {alert["state"] for alert in prometheus.alerts()} == {"pending"}
