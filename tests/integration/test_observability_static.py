"""The alert rules, their unit tests and the dashboard, checked without running the bridge.

promtool validates the rules file and runs tests/fixtures/prometheus/rules-test.yml, which
proves each alert fires under its condition and stays silent otherwise. The rest checks that
every query reads metrics `bridge.metrics.Metrics` really defines, filtered by the dashboard's
vendor variable, and that the docs have a runbook for every alert and a line for every metric.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support.prometheus import (
    REPO,
    RULES_FILE,
    RULES_TEST_FILE,
    alert_rules,
    dashboard,
    dashboard_panels,
    dashboard_queries,
    metric_labels,
    metrics_used,
    promtool,
)

DOCS = REPO / "docs/observability.md"
ALERTS = [rule for rule in alert_rules() if "alert" in rule]
PANEL_QUERIES = dashboard_queries()
RULE_QUERIES = [(rule["alert"], rule["expr"]) for rule in ALERTS]
ROWS = (
    "Throughput",
    "Outcomes and dead letters",
    "Latency",
    "Lag",
    "In flight and back-pressure",
    "Retries, circuit and health",
)
# A selector of a bridge metric: the name, then its {matchers} if any.
SELECTOR = re.compile(r"\b(bridge_[a-zA-Z0-9_]+)\b(\{[^}]*\})?")


def test_promtool_accepts_the_rules_file() -> None:
    result = promtool("check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULES_TEST_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _rule_tests() -> list[dict[str, Any]]:
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())["tests"]
    return [case for group in tests for case in group.get("alert_rule_test", [])]


@pytest.mark.parametrize("alert", [rule["alert"] for rule in ALERTS])
def test_each_alert_is_proven_firing_and_silent(alert: str) -> None:
    cases = [case for case in _rule_tests() if case["alertname"] == alert]
    assert any(case["exp_alerts"] for case in cases), f"no promtool case where {alert} fires"
    assert any(not case["exp_alerts"] for case in cases), f"no case where {alert} is silent"


@pytest.mark.parametrize("rule", ALERTS, ids=[rule["alert"] for rule in ALERTS])
def test_each_alert_names_the_vendor_severity_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"warning", "critical"}
    annotations = rule["annotations"]
    for name in ("summary", "description"):
        assert "{{ $labels.vendor }}" in annotations[name], name
    assert annotations["runbook"].startswith(f"docs/observability.md#{rule['alert'].lower()}:")


@pytest.mark.parametrize(("where", "expr"), PANEL_QUERIES + RULE_QUERIES)
def test_every_query_reads_metrics_that_exist(where: str, expr: str) -> None:
    used = metrics_used(expr)
    assert used, f"{where} reads no bridge metric"
    assert used <= metric_labels().keys(), f"{where}: unknown {used - metric_labels().keys()}"


@pytest.mark.parametrize(("where", "expr"), PANEL_QUERIES)
def test_panel_queries_filter_by_the_vendor_variable(where: str, expr: str) -> None:
    labels = metric_labels()
    for name, matchers in SELECTOR.findall(expr):
        if "vendor" in labels[name]:
            assert 'vendor=~"$vendor"' in matchers, f"{where}: {name} is not filtered by $vendor"


def test_dashboard_identity_and_variables() -> None:
    model = dashboard()
    assert (model["uid"], model["title"]) == ("bridge-overview", "bridge")
    assert model["schemaVersion"] >= 38
    variables = {variable["name"]: variable for variable in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    vendor = variables["vendor"]
    assert vendor["type"] == "query"
    assert vendor["definition"] == "label_values(bridge_records_consumed_total, vendor)"
    assert vendor["query"]["query"] == vendor["definition"]
    assert vendor["multi"] is True
    assert vendor["includeAll"] is True
    assert vendor["datasource"]["uid"] == "${datasource}"


def test_dashboard_has_one_row_per_concern() -> None:
    rows = [panel["title"] for panel in dashboard()["panels"] if panel["type"] == "row"]
    assert rows == list(ROWS)


def test_dashboard_panels_use_the_datasource_variable_and_fit_the_grid() -> None:
    model = dashboard()
    ids = [panel["id"] for panel in model["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard_panels(model):
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_docs_have_a_runbook_per_alert_and_a_line_per_metric() -> None:
    text = DOCS.read_text()
    headings = set(re.findall(r"^### (\w+)$", text, flags=re.MULTILINE))
    assert {rule["alert"] for rule in ALERTS} <= headings
    documented = set(re.findall(r"`(bridge_[a-z0-9_]+)`", text))
    names = metric_labels().keys()
    # One line per metric: a histogram by its base name, not by its _bucket/_count/_sum series.
    expected = {name.removesuffix("_bucket") for name in names if name.endswith("_bucket")} | {
        name for name in names if not name.endswith(("_created", "_bucket", "_count", "_sum"))
    }
    assert expected <= documented, f"undocumented: {sorted(expected - documented)}"
