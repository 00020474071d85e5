"""`helm lint` of the chart with Helm's own Go library, and proof that the lint can fail.

Two bindings of Helm's library are used: helm-sdkpy (`Lint`, which lints the chart's own
values.yaml; its messages carry no text, so failures report severity and path) and
helm-python-sdk (`lint` with a values override, strict mode and a target Kubernetes version,
with message texts).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_support import CHART, chart_values, ci_values, deep_merge, require

CI_VALUE_FILES = ("minimal-values.yaml", "all-enabled-values.yaml", "single-hpa-values.yaml")
KUBE_VERSIONS = ("v1.27.0", "v1.35.0")
WARNING = 2
ERROR = 3


def sdkpy_lint(chart: Path) -> list[dict[str, Any]]:
    helm_sdkpy = require("helm_sdkpy", "helm-sdkpy", linux_x86_64_only=True)
    result = asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(chart)))
    messages: list[dict[str, Any]] = result.get("Messages") or []
    return messages


def copy_chart(tmp_path: Path, values: dict[str, Any] | None = None) -> Path:
    """A copy of the chart, optionally with `values` as its values.yaml."""
    copied = tmp_path / "bridge"
    shutil.copytree(CHART, copied)
    if values is not None:
        (copied / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return copied


def problems(messages: list[dict[str, Any]], at_least: int = WARNING) -> list[str]:
    return [
        f"severity {m.get('Severity', m.get('severity'))} at {m.get('Path', m.get('path'))}: "
        f"{m.get('error') or m.get('Err') or '(helm-sdkpy gives no text)'}"
        for m in messages
        if int(m.get("Severity", m.get("severity", 0))) >= at_least
    ]


# (Helm's lint mode lets `required` pass, so the bare values.yaml lints clean too; that it
# refuses to render is test_helm_render's test_default_values_refuse_to_render_...)
def test_chart_lints_clean_with_its_default_values_plus_what_an_install_must_set(
    tmp_path: Path,
) -> None:
    values = deep_merge(chart_values(), ci_values("minimal-values.yaml"))
    assert problems(sdkpy_lint(copy_chart(tmp_path, values))) == []


@pytest.mark.parametrize("values_file", CI_VALUE_FILES)
def test_chart_lints_clean_with_every_optional_part_enabled(
    tmp_path: Path, values_file: str
) -> None:
    values = deep_merge(chart_values(), ci_values(values_file))
    assert problems(sdkpy_lint(copy_chart(tmp_path, values))) == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", CI_VALUE_FILES)
def test_chart_lints_strictly_for_each_supported_kubernetes(
    values_file: str, kube_version: str
) -> None:
    helm = require("helm_python", "helm-python-sdk")
    report = helm.lint(str(CHART), ci_values(values_file), strict=True, kube_version=kube_version)
    assert report["errors"] == []
    assert problems(report["messages"]) == []


def test_lint_reports_a_broken_template_with_its_path(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path, deep_merge(chart_values(), ci_values("minimal-values.yaml")))
    template = chart / "templates" / "service.yaml"
    template.write_text(template.read_text().replace("{{- end }}", "{{- end ", 1))

    found = problems(sdkpy_lint(chart), at_least=ERROR)
    assert found, "helm-sdkpy's lint did not notice an unterminated action"
    assert any("templates/" in line for line in found), found

    report = require("helm_python", "helm-python-sdk").lint(str(chart))
    assert any("service.yaml" in error for error in report["errors"]), report


def test_lint_reports_values_that_break_the_schema(tmp_path: Path) -> None:
    values = chart_values()
    values["vendors"]["qubit"]["replicas"] = "two"
    found = problems(sdkpy_lint(copy_chart(tmp_path, values)), at_least=ERROR)
    assert any("values.yaml" in line for line in found), found
