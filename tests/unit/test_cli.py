from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bridge.cli import main

CONFIG = """
kafka:
  bootstrap_servers: localhost:9092
vendors:
  squeezely:
    base_url: http://127.0.0.1:8080/squeezely
    settings:
      account_id: acc-1
      api_key: {env: SQ_KEY}
"""

ORDER = {
    "event_id": "e-1",
    "order_id": "O-1",
    "occurred_at": 1700000000000,
    "currency": "EUR",
    "total": 12.5,
    "customer": {"email": "ana@example.com", "first_name": "Ana"},
    "items": [{"product_id": "SKU-1", "quantity": 2, "price": 5.0}],
}


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SQ_KEY", "sq-very-secret")
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG)
    return path


def test_check_config_prints_masked_config(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "valid; enabled vendors: squeezely" in out
    assert "acc-1" in out
    assert "sq-very-secret" not in out
    assert "**********" in out


def test_check_config_names_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("account_id: acc-1", "acount_id: acc-1"))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "vendors.squeezely.settings.account_id" in err
    assert "vendors.squeezely.settings.acount_id" in err


def test_preview_prints_the_request_with_secrets_masked(
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = tmp_path / "order.json"
    record.write_text(json.dumps(ORDER))
    code = main(
        [
            "preview",
            "--vendor",
            "squeezely",
            "--topic",
            "orders",
            "--config",
            str(config_file),
            str(record),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "POST http://127.0.0.1:8080/squeezely/v1/track" in out
    assert '"orderid": "O-1"' in out
    assert "sq-very-secret" not in out


def test_preview_without_config_uses_placeholders_and_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(ORDER)))
    assert main(["preview", "--vendor", "vtmarketing", "--topic", "order", "-"]) == 0
    out = capsys.readouterr().out
    assert "https://api.vtcdn.net/v1/event/" in out
    assert '"orderId": "O-1"' in out


def test_preview_points_at_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "order.json"
    record.write_text(
        json.dumps({**ORDER, "items": [{"product_id": "X", "quantity": "two", "price": 1.0}]})
    )
    assert main(["preview", "--vendor", "squeezely", "--topic", "orders", str(record)]) == 2
    assert "items[0].quantity" in capsys.readouterr().err


def test_unknown_vendor_or_topic_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "--vendor", "mailchump", "--topic", "orders", "-"]) == 2
    assert "unknown vendor" in capsys.readouterr().err
    assert main(["preview", "--vendor", "qubit", "--topic", "carts", "-"]) == 2
    assert "not a configured topic" in capsys.readouterr().err


def test_help_describes_the_product_and_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert description.startswith("Deliver order and product-view events from Kafka")
    assert "exit status:" in out
    with pytest.raises(SystemExit):
        main(["produce", "--help"])
    out = capsys.readouterr().out
    assert "--config FILE         the configuration file" in out
    assert "(default: 50.0)" in out


def test_check_config_takes_the_file_positionally_by_option_or_from_the_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(config_file)]) == 0
    assert "valid; enabled vendors: squeezely" in capsys.readouterr().out
    monkeypatch.setenv("BRIDGE_CONFIG", str(config_file))
    assert main(["check-config"]) == 0
    assert "valid; enabled vendors: squeezely" in capsys.readouterr().out
    monkeypatch.delenv("BRIDGE_CONFIG")
    assert main(["check-config"]) == 2
    assert "no configuration: give FILE, --config FILE or set BRIDGE_CONFIG" in (
        capsys.readouterr().err
    )


def test_run_refuses_a_missing_schemas_dir_before_starting(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_text(CONFIG + f"schemas_dir: {tmp_path / 'schemas'}\n")
    assert main(["run", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert f"schemas_dir: cannot read {tmp_path / 'schemas' / 'Order.avsc'}" in err
    assert "Traceback" not in err


def test_run_names_a_misspelt_vendor(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(config_file), "--vendor", "squeezly"]) == 2
    assert "--vendor squeezly: not an enabled vendor of the config (did you mean 'squeezely'?)" in (
        capsys.readouterr().err
    )


def test_preview_of_a_record_the_vendor_cannot_take_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "order.json"
    record.write_text(json.dumps({**ORDER, "customer": {}}))
    assert main(["preview", "--vendor", "squeezely", "--topic", "orders", str(record)]) == 0
    assert capsys.readouterr().out.startswith("would be skipped: missing_email")


def test_preview_of_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    assert main(["preview", "--vendor", "squeezely", "--topic", "orders", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"bridge preview: {missing}: cannot read: No such file or directory\n"
