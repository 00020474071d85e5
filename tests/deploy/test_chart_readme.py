"""The chart's README is generated from values.yaml and kept current."""

from __future__ import annotations

from tests.deploy.chart_readme import README, documented_keys, generate


def test_chart_readme_is_current() -> None:
    assert README.read_text() == generate(), "run `python -m tests.deploy.chart_readme`"


def test_required_values_are_documented() -> None:
    keys = dict(documented_keys((README.parent / "values.yaml").read_text()))
    assert keys["image.repository"].startswith("Required.")
    for key in ("kafka.bootstrapServers", "keda.lagSource", "networkPolicy.kafka.ports"):
        assert key in keys


def test_chart_names_its_maintainers_and_sources() -> None:
    import yaml

    meta = yaml.safe_load((README.parent / "Chart.yaml").read_text())
    assert meta["maintainers"]
    assert all(m["name"] for m in meta["maintainers"])
    assert meta["sources"]
    assert all(s.startswith("https://") for s in meta["sources"])
