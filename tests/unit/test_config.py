from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError

BASE = """
kafka:
  bootstrap_servers: localhost:9092
vendors:
  qubit:
    settings:
      tracking_id: shop-1
  squeezely:
    settings:
      account_id: acc-1
      api_key: {env: SQ_KEY}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    return path


def test_valid_config_resolves_secrets_from_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={"SQ_KEY": "s3cr3t-value"})
    settings = config.vendor_settings["squeezely"]
    assert settings.api_key.get_secret_value() == "s3cr3t-value"  # type: ignore[attr-defined]
    assert config.enabled_vendors() == ["qubit", "squeezely"]


def test_masked_config_never_shows_a_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={"SQ_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(config.masked())
    assert "s3cr3t-value" not in repr(config)
    assert config.masked()["vendors"]["squeezely"]["settings"]["account_id"] == "acc-1"


def test_missing_secret_names_the_field_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BASE), environ={})
    assert "vendors.squeezely.settings.api_key" in str(caught.value)
    assert "SQ_KEY" in str(caught.value)


def test_inline_secret_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("{env: SQ_KEY}", "plain-text-key")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    assert "vendors.squeezely.settings.api_key" in str(caught.value)
    assert "plain-text-key" not in str(caught.value)


def test_secret_from_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    text = BASE.replace("{env: SQ_KEY}", f"{{file: {tmp_path / 'key'}}}")
    config = load_config(write(tmp_path, text), environ={})
    assert config.vendor_settings["squeezely"].api_key.get_secret_value() == "from-file"  # type: ignore[attr-defined]


def test_unknown_key_and_wrong_type_are_both_reported_with_paths(tmp_path: Path) -> None:
    text = BASE + "commit_interval_s: soon\nbogus: 1\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})
    message = str(caught.value)
    assert "commit_interval_s:" in message
    assert "bogus:" in message


def test_unknown_vendor_is_refused(tmp_path: Path) -> None:
    text = BASE + "  mailchump:\n    settings: {}\n"
    with pytest.raises(ConfigError, match=r"vendors\.mailchump: unknown vendor"):
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})


def test_vendor_setting_error_has_full_path(tmp_path: Path) -> None:
    text = BASE.replace("tracking_id: shop-1", "tracking_id: shop-1\n      vertical: casino")
    with pytest.raises(ConfigError, match=r"vendors\.qubit\.settings\.vertical"):
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})


def test_environment_overrides_are_typed_and_nested(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, BASE),
        environ={
            "SQ_KEY": "k",
            "BRIDGE__KAFKA__BOOTSTRAP_SERVERS": "broker:29092",
            "BRIDGE__VENDORS__QUBIT__CONCURRENCY": "4",
            "BRIDGE__VENDORS__SQUEEZELY__ENABLED": "false",
            "BRIDGE__VENDORS__QUBIT__BASE_URL": "http://sandbox:8080/qubit",
            "BRIDGE__VENDORS__QUBIT__ALLOW_INSECURE_HTTP": "true",
        },
    )
    assert config.kafka.bootstrap_servers == "broker:29092"
    assert config.vendors["qubit"].concurrency == 4
    assert config.vendors["qubit"].base_url == "http://sandbox:8080/qubit"
    assert config.enabled_vendors() == ["qubit"]


def test_sasl_without_password_fails_at_start(tmp_path: Path) -> None:
    text = BASE.replace(
        "bootstrap_servers: localhost:9092",
        "bootstrap_servers: localhost:9092\n  security_protocol: SASL_SSL\n"
        "  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: bridge",
    )
    with pytest.raises(ConfigError, match="sasl_password"):
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})


def test_sasl_properties_reach_librdkafka(tmp_path: Path) -> None:
    text = BASE.replace(
        "bootstrap_servers: localhost:9092",
        "bootstrap_servers: localhost:9092\n  security_protocol: SASL_SSL\n"
        "  sasl_mechanism: SCRAM-SHA-256\n  sasl_username: bridge\n"
        "  sasl_password: {env: KAFKA_PW}\n  ssl_ca_location: /etc/ca.pem",
    )
    config = load_config(write(tmp_path, text), environ={"SQ_KEY": "k", "KAFKA_PW": "pw"})
    props = config.kafka.client_properties()
    assert props["sasl.mechanism"] == "SCRAM-SHA-256"
    assert props["sasl.password"] == "pw"
    assert props["ssl.ca.location"] == "/etc/ca.pem"
    assert "pw" not in repr(config.masked())


def test_not_yaml_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})


def test_every_section_is_reported_at_once(tmp_path: Path) -> None:
    """A top-level error no longer hides the vendors' own settings errors, nor the reverse."""
    text = BASE.replace("tracking_id: shop-1", "tracking_id: shop-1\n      vertical: casino")
    text += "commit_interval_s: soon\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    lines = str(caught.value).splitlines()
    assert any(line.startswith("commit_interval_s:") for line in lines)
    assert any(line.startswith("vendors.qubit.settings.vertical:") for line in lines)
    assert any(line.startswith("vendors.squeezely.settings.api_key:") for line in lines)


def test_misspelt_key_and_vendor_get_a_suggestion(tmp_path: Path) -> None:
    text = BASE.replace("bootstrap_servers:", "bootstrap_server:") + "  qubitt: {}\n"
    text = text.replace("account_id:", "acount_id:")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})
    message = str(caught.value)
    assert "kafka.bootstrap_server: unknown key (did you mean 'bootstrap_servers'?)" in message
    assert "vendors.qubitt: unknown vendor (did you mean 'qubit'?)" in message
    assert "vendors.squeezely.settings.acount_id: unknown key (did you mean 'account_id'?)" in (
        message
    )


def test_an_error_set_by_an_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            write(tmp_path, BASE),
            environ={"SQ_KEY": "k", "BRIDGE__HTTP__PORT": "nine", "BRIDGE__VENDORS__QUBIT__X": "1"},
        )
    lines = str(caught.value).splitlines()
    assert any(
        line.startswith("http.port:") and line.endswith("(set by BRIDGE__HTTP__PORT)")
        for line in lines
    )
    assert any(
        line.startswith("vendors.qubit.x: unknown key") and "BRIDGE__VENDORS__QUBIT__X" in line
        for line in lines
    )


def test_messages_carry_no_pydantic_prefix(tmp_path: Path) -> None:
    text = BASE.replace(
        "bootstrap_servers: localhost:9092",
        "bootstrap_servers: localhost:9092\n  security_protocol: SASL_SSL",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={"SQ_KEY": "k"})
    assert "kafka: SASL_SSL needs sasl_mechanism" in str(caught.value)
    assert "Value error" not in str(caught.value)


def test_files_this_machine_cannot_read_name_their_field(tmp_path: Path) -> None:
    text = BASE + f"schemas_dir: {tmp_path / 'nowhere'}\n"
    text = text.replace(
        "bootstrap_servers: localhost:9092",
        f"bootstrap_servers: localhost:9092\n  ssl_ca_location: {tmp_path / 'ca.pem'}",
    )
    path = write(tmp_path, text)
    load_config(path, environ={"SQ_KEY": "k"})  # a config for another machine: shape only
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"SQ_KEY": "k"}, check_files=True)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"schemas_dir: cannot read {tmp_path / 'nowhere' / 'Order.avsc'}: "
        "No such file or directory",
        f"kafka.ssl_ca_location: cannot read {tmp_path / 'ca.pem'}: No such file or directory",
    ]


def test_only_the_vendors_asked_for_need_their_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={}, vendors=["qubit"])
    assert list(config.vendor_settings) == ["qubit"]
    assert load_config(write(tmp_path, BASE), environ={}, vendors=()).vendor_settings == {}
