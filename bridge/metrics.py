"""Every Prometheus metric of the bridge, defined here and nowhere else.

Naming: ``bridge_<what>_<unit>``, ``_total`` for counters, seconds for time. Labels are bounded:
vendor, topic, partition, outcome, reason, status class, error class, circuit state. Never an
id, an email, a URL or a message text.

Outcomes of a record for one vendor (``bridge_records_total{outcome}``):
``delivered`` (acknowledged by the vendor), ``skipped`` (the vendor cannot take it, reason =
the mapping reason or ``no_consent``), ``dead_lettered`` (reason = decode reason, ``rejected``,
``per_event``, ``unmappable``, ``retries_exhausted``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from bridge import __version__
from bridge.delivery.retry import CircuitState

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class Metrics:
    """The bridge's metrics, registered in one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Info("bridge_build", "Version of the running bridge.", registry=registry)
        self.build_info.info({"version": __version__})

        self.records_consumed = Counter(
            "bridge_records_consumed_total",
            "Records read from Kafka by a vendor pipeline.",
            ["vendor", "topic"],
            registry=registry,
        )
        self.decode_failures = Counter(
            "bridge_decode_failures_total",
            "Records that could not be decoded, by reason.",
            ["vendor", "topic", "reason"],
            registry=registry,
        )
        self.records = Counter(
            "bridge_records_total",
            "Records done for a vendor, by outcome (delivered, skipped, dead_lettered) and reason.",
            ["vendor", "outcome", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "bridge_delivery_retries_total",
            "Requests sent again after a retriable failure, by error class.",
            ["vendor", "error_class"],
            registry=registry,
        )
        self.http_requests = Counter(
            "bridge_http_requests_total",
            "HTTP requests to a vendor, by status class (2xx, 4xx, 5xx, error).",
            ["vendor", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "bridge_http_request_duration_seconds",
            "Duration of HTTP requests to a vendor.",
            ["vendor"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "bridge_request_batch_records",
            "Records carried by one request to a vendor.",
            ["vendor"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.end_to_end = Histogram(
            "bridge_end_to_end_latency_seconds",
            "From the event's occurred_at to the vendor's acknowledgement.",
            ["vendor"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.vendor_warnings = Counter(
            "bridge_vendor_warnings_total",
            "Warnings a vendor returned for accepted events.",
            ["vendor"],
            registry=registry,
        )
        self.in_flight_records = Gauge(
            "bridge_in_flight_records",
            "Records consumed and not yet done.",
            ["vendor"],
            registry=registry,
        )
        self.in_flight_bytes = Gauge(
            "bridge_in_flight_bytes",
            "Bytes of records consumed and not yet done.",
            ["vendor"],
            registry=registry,
        )
        self.in_flight_requests = Gauge(
            "bridge_in_flight_requests",
            "HTTP requests to a vendor in flight.",
            ["vendor"],
            registry=registry,
        )
        self.concurrency_limit = Gauge(
            "bridge_concurrency_limit",
            "Requests a vendor may have in flight: the configured concurrency, or with "
            "concurrency: adaptive the limit found so far.",
            ["vendor"],
            registry=registry,
        )
        self.paused_partitions = Gauge(
            "bridge_paused_partitions",
            "Assigned partitions paused by back-pressure or an open circuit.",
            ["vendor"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "bridge_consumer_lag_records",
            "End offset minus committed offset; the end offset is asked of the broker too, so "
            "a paused partition's lag still grows.",
            ["vendor", "topic", "partition"],
            registry=registry,
        )
        self.committed_offset = Gauge(
            "bridge_committed_offset",
            "Last offset committed to Kafka.",
            ["vendor", "topic", "partition"],
            registry=registry,
        )
        self.commit_failures = Counter(
            "bridge_commit_failures_total",
            "Offset commits that Kafka refused or that failed.",
            ["vendor"],
            registry=registry,
        )
        self.oldest_unacked_age = Gauge(
            "bridge_oldest_unacked_age_seconds",
            "Age of the oldest record consumed and not yet done (0 when none).",
            ["vendor", "topic", "partition"],
            registry=registry,
        )
        self.circuit_state = Gauge(
            "bridge_circuit_state",
            "1 for the vendor's current circuit state, 0 for the others.",
            ["vendor", "state"],
            registry=registry,
        )
        self.rate_limit_wait = Counter(
            "bridge_rate_limit_wait_seconds_total",
            "Time requests waited for the vendor's rate limit.",
            ["vendor"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "bridge_dead_letters_total",
            "Records written to the dead-letter topic, by reason.",
            ["vendor", "reason"],
            registry=registry,
        )
        self.pipeline_ready = Gauge(
            "bridge_pipeline_ready",
            "1 when the vendor pipeline has joined its group and its credentials work.",
            ["vendor"],
            registry=registry,
        )
        self.credentials_refused = Gauge(
            "bridge_credentials_refused",
            "1 while the vendor refuses the bridge's credentials or endpoint.",
            ["vendor"],
            registry=registry,
        )
        self.dead_letter_write_failures = Counter(
            "bridge_dead_letter_write_failures_total",
            "Dead-letter writes Kafka refused, by kind (transient: retried; permanent: the "
            "letter was trimmed; fatal: even the trimmed letter was refused, the pipeline "
            "stopped).",
            ["vendor", "kind"],
            registry=registry,
        )
        self.outcome_write_failures = Counter(
            "bridge_outcome_write_failures_total",
            "Outcome records that could not be written.",
            ["vendor"],
            registry=registry,
        )

    def set_circuit(self, vendor: str, state: CircuitState) -> None:
        for candidate in CircuitState:
            self.circuit_state.labels(vendor, candidate).set(1 if candidate == state else 0)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe(value)` for each of `values` (a labelled child), taking each bucket's
    lock once per call rather than once per value: settlement observes a whole batch at once.

    prometheus-client has no bulk observation, so this writes what `observe` writes (its
    per-bucket counts and sum); `test_observe_many_equals_observe_one_by_one` holds it to that.
    """
    if not values:
        return
    bounds = histogram._upper_bounds
    for bucket, count in Tally(bisect_left(bounds, value) for value in values).items():
        histogram._buckets[bucket].inc(count)
    histogram._sum.inc(sum(values))
