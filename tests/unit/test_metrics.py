from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from bridge.metrics import LATENCY_BUCKETS, observe_many


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for metric in histogram.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def test_observe_many_equals_observe_one_by_one() -> None:
    values = [0.0, 0.01, 0.0100001, 0.3, 0.3, 42.0, 3600.0, 1e9]  # edges, repeats, past +Inf
    one_by_one, at_once = (
        Histogram("latency", "", ["vendor"], buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
        for _ in range(2)
    )
    for value in values:
        one_by_one.labels("v").observe(value)
    observe_many(at_once.labels("v"), values)
    observe_many(at_once.labels("v"), [])
    assert _samples(at_once) == _samples(one_by_one)
    assert _samples(at_once)[("latency_count", "")] == len(values)
