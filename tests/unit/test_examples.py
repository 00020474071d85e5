"""examples/local.yaml and sandbox.env agree with the sandbox; the demo summary explains itself."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from bridge.commands.demo import summary
from bridge.config import load_config
from bridge.tools.sandbox_settings import sandbox_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def sandbox_env() -> dict[str, str]:
    lines = (EXAMPLES / "sandbox.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_local_example_talks_to_the_sandbox_with_its_default_keys() -> None:
    config = load_config(EXAMPLES / "local.yaml", environ=sandbox_env(), check_files=True)
    expected = sandbox_settings()
    assert sorted(config.enabled_vendors()) == sorted(expected)
    for name, settings in expected.items():
        assert config.vendors[name].base_url == f"http://127.0.0.1:8080/{name}"
        got = config.vendor_settings[name].model_dump()
        for field, value in settings.values.items():
            shown = got[field].get_secret_value() if field in settings.secrets else got[field]
            assert shown == value, f"{name}.{field}"
    assert config.kafka.security_protocol == "PLAINTEXT"


def test_summary_explains_events_against_records() -> None:
    text = summary(CollectorRegistry(), {"quicklizard": {"requests": 3, "accepted": 9}})
    header = next(line for line in text.splitlines() if line.startswith("vendor"))
    assert header.split() == [
        "vendor", "records", "delivered", "skipped", "dead-letter", "retries",
        "|", "requests", "events", "ok", "refused",
    ]  # fmt: skip
    assert "QuickLizard takes one conversion per unit ordered" in text
    assert "{" not in text, "no raw dict"
