"""One version for the package and the chart; the declared licence is the one shipped."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def project() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return data


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((REPO / "helm" / "bridge" / "Chart.yaml").read_text())
    assert chart["appVersion"] == project()["version"]


def test_changelog_has_the_version() -> None:
    assert f"## [{project()['version']}]" in (REPO / "CHANGELOG.md").read_text()


def test_license_file_is_the_declared_license() -> None:
    assert project()["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
