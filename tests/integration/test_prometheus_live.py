"""The dashboard's queries and the alert rules, evaluated by a real Prometheus on live data.

Prometheus scrapes a real bridge (`bridge run`, its own process) that delivers through the
vendor sandbox: Qubit healthy and rate-limited, eSputnik in an outage with a retry limit, so
records are retried, dead-lettered and the circuit opens. A producer keeps orders, product
views and a few undecodable records coming. Every panel query must be valid PromQL and return
data; every alert expression must be valid; every rule must be loaded and evaluated without
error; and the alerts about the failing vendor must go pending for that vendor and no other.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker, free_port
from bridge.tools.sample import SampleEvents
from tests.integration.test_vendors import complete
from tests.support.kafka import config_dict, encoder, unique, vendor_block
from tests.support.prometheus import (
    Prometheus,
    alert_rules,
    dashboard_queries,
    expand_grafana_variables,
    running_prometheus,
    wait_for,
)

pytestmark = pytest.mark.integration

SCRAPE_WAIT_S = 30.0
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
    """Orders, product views and now and then an undecodable record, until stopped."""

    def __init__(self, broker: LocalBroker, orders: str, views: str) -> None:
        self._producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
        self._topics = (orders, views)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(5)

    def _run(self) -> None:
        samples = SampleEvents(seed=13)
        order_enc, view_enc = encoder(EventType.ORDER), encoder(EventType.PRODUCT_VIEW)
        orders, views = self._topics
        n = 0
        while not self._stop.wait(0.05):
            n += 1
            order = complete(samples.order(), n)
            self._producer.produce(
                orders, key=order["order_id"].encode(), value=order_enc.encode(order)
            )
            view = complete(samples.product_view(), n)
            self._producer.produce(views, key=b"v", value=view_enc.encode(view))
            if n % 10 == 0:
                self._producer.produce(views, key=b"poison", value=b"\x07not avro")
            self._producer.poll(0)


@pytest.fixture(scope="module")
def scrape_target(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bridge delivering through the sandbox, as host:port of its metrics endpoint."""
    tmp = tmp_path_factory.mktemp("bridge")
    orders, views, dlq = unique("orders"), unique("views"), unique("dlq")
    broker.create_topics({orders: 2, views: 2, dlq: 1})
    sandbox_port, metrics_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    vendors = {
        "qubit": vendor_block(
            "qubit",
            f"{sandbox_url}/qubit",
            tmp,
            rate_limit_rps=4,
            batch={"max_events": 5, "linger_ms": 100},
        ),
        "esputnik": vendor_block(
            "esputnik",
            f"{sandbox_url}/esputnik",
            tmp,
            retry={"initial_backoff_s": 0.05, "max_backoff_s": 0.2, "max_attempts": 2},
            circuit={"failure_threshold": 3, "open_s": 0.3},
        ),
    }
    # eSputnik's records never finish (its stand-in is down): a short drain at the end.
    raw = config_dict(
        broker, vendors, orders=orders, views=views, dead_letter=dlq, shutdown_deadline_s=2
    )
    raw["http"]["port"] = metrics_port
    config = tmp / "bridge.yaml"
    config.write_text(yaml.safe_dump(raw))
    log = open(tmp / "processes.log", "wb")  # noqa: SIM115 (closed below)
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "sandbox",
            "--port",
            str(sandbox_port),
            "--fault",
            "esputnik:outage=true",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    bridge = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with Traffic(broker, orders, views):
            yield f"127.0.0.1:{metrics_port}"
    finally:
        for process in (bridge, sandbox):
            process.terminate()
        for process in (bridge, sandbox):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


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

    try:
        wait_for(lambda: pending() >= EXPECTED_PENDING, SCRAPE_WAIT_S, "the expected alerts")
    except TimeoutError:
        raise AssertionError(f"pending: {sorted(pending())}") from None
    assert pending() == EXPECTED_PENDING
    assert {alert["state"] for alert in prometheus.alerts()} == {"pending"}
