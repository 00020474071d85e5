"""The commands the image, compose and the chart give the bridge, run against the real CLI.

Each command line is parsed by `bridge`'s own argument parser; the configurations they point at
go through `bridge check-config`; the sandbox is started for real on loopback and probed with
the compose file's own health check.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_support import (
    REPO,
    Rendered,
    bridge_container,
    compose_project,
    deployment_config,
    service_environment,
)
from tests.deploy.test_container_image import exec_form, instructions, one, stages

BRIDGE_CONFIG = REPO / "deploy" / "compose" / "bridge.yaml"


def parse(argv: list[str]) -> argparse.Namespace:
    from bridge import cli

    parser: argparse.ArgumentParser = cli._parser()
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    found = compose_project()["services"]
    assert isinstance(found, dict)
    return found


def test_image_default_command_is_a_valid_bridge_run() -> None:
    stage = stages(instructions((REPO / "Dockerfile").read_text()))[-1]
    args = parse(exec_form(one(stage, "CMD")))
    assert args.command == "run"
    assert str(args.config) == "/etc/bridge/bridge.yaml"


@pytest.mark.parametrize(
    ("service", "command"), [("bridge", "run"), ("producer", "produce"), ("sandbox", "sandbox")]
)
def test_compose_commands_parse(
    services: dict[str, dict[str, Any]], service: str, command: str
) -> None:
    args = parse(services[service]["command"])
    assert args.command == command
    if command == "sandbox":
        assert (args.host, args.port) == ("0.0.0.0", 8080)


def test_chart_commands_parse(rendered_default: Rendered, rendered_single: Rendered) -> None:
    for rendered in (rendered_default, rendered_single):
        for deployment in rendered.of_kind("Deployment"):
            args = parse(bridge_container(deployment)["args"])
            assert args.command == "run"
            component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
            assert args.vendor == (None if component == "all" else [component])


def check_config(path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    from bridge import cli

    for name in [name for name in os.environ if name.startswith("BRIDGE__")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # check-config refuses files this machine cannot read: the schemas are where the image's
    # own BRIDGE__SCHEMAS_DIR would point, here the checkout's copy.
    monkeypatch.setenv("BRIDGE__SCHEMAS_DIR", str(REPO / "schemas"))
    result: int = cli.main(["check-config", str(path)])
    return result


def test_check_config_accepts_the_compose_config(
    services: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = service_environment(services["bridge"])
    assert check_config(BRIDGE_CONFIG, environ, monkeypatch) == 0
    output = capsys.readouterr().out
    assert "valid; enabled vendors" in output
    assert "ql-sandbox-key" not in output, "check-config masks secrets"


def test_check_config_refuses_the_compose_config_without_its_keys(
    services: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = service_environment(services["bridge"])
    monkeypatch.delenv("SQUEEZELY_API_KEY", raising=False)
    del environ["SQUEEZELY_API_KEY"]
    assert check_config(BRIDGE_CONFIG, environ, monkeypatch) == 2
    assert "vendors.squeezely.settings.api_key" in capsys.readouterr().err


def test_check_config_accepts_every_rendered_chart_config(
    rendered_all: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for deployment in rendered_all.of_kind("Deployment"):
        text = yaml.safe_dump(deployment_config(rendered_all, deployment))
        for mounted in ("/etc/bridge/secrets/", "/etc/bridge/kafka-ca/"):
            stand_in = tmp_path / mounted.strip("/").replace("/", "-")
            stand_in.mkdir(exist_ok=True)
            text = text.replace(mounted, f"{stand_in}/")
        for key in (
            "quicklizard-client-key",
            "vtmarketing-api-key",
            "esputnik-api-key",
            "squeezely-api-key",
            "kafka-sasl-password",
        ):
            (tmp_path / "etc-bridge-secrets" / key).write_text("ci-secret\n")
        (tmp_path / "etc-bridge-kafka-ca" / "ca.crt").write_text("stand-in CA bundle\n")
        path = tmp_path / f"{deployment['metadata']['name']}.yaml"
        path.write_text(text)
        assert check_config(path, {}, monkeypatch) == 0, deployment["metadata"]["name"]


def test_compose_defaults_are_the_sandbox_credentials(services: dict[str, dict[str, Any]]) -> None:
    from bridge.config import load_config
    from bridge.tools.sandbox.config import SandboxCredentials

    expected = SandboxCredentials()
    config = load_config(BRIDGE_CONFIG, environ=service_environment(services["bridge"]))
    settings: dict[str, Any] = {
        name: {
            key: value.get_secret_value() if hasattr(value, "get_secret_value") else value
            for key, value in vendor.model_dump().items()
        }
        for name, vendor in config.vendor_settings.items()
    }
    assert settings["quicklizard"]["client_key"] == expected.quicklizard_client_key
    assert settings["vtmarketing"]["api_key"] == expected.vtmarketing_api_key
    assert settings["qubit"]["tracking_id"] == expected.qubit_tracking_id
    assert settings["esputnik"]["api_key"] == expected.esputnik_api_key
    assert settings["squeezely"]["account_id"] == expected.squeezely_account_id
    assert settings["squeezely"]["api_key"] == expected.squeezely_api_key


# --- the sandbox, for real --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def sandbox() -> Iterator[int]:
    port = free_port()
    environ = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from bridge.cli import main; sys.exit(main())",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_health", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    assert process.stderr is not None
                    pytest.fail(f"the sandbox did not come up: {process.stderr.read().decode()}")
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


def test_compose_sandbox_health_check_passes_against_the_real_sandbox(
    services: dict[str, dict[str, Any]], sandbox: int
) -> None:
    test = services["sandbox"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    command = [part.replace("127.0.0.1:8080", f"127.0.0.1:{sandbox}") for part in test[2:]]
    result = subprocess.run(
        [sys.executable, *command], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    for vendor in ("quicklizard", "vtmarketing", "qubit", "esputnik", "squeezely"):
        # The base URL the compose config gives each vendor exists on the sandbox.
        with urllib.request.urlopen(f"http://127.0.0.1:{sandbox}/_ui/{vendor}", timeout=5) as page:
            assert page.status == 200


def test_compose_vendor_settings_are_accepted_by_the_real_sandbox(
    services: dict[str, dict[str, Any]], sandbox: int
) -> None:
    """Each vendor, configured exactly as the compose stack configures it (base URL pointed at
    this sandbox), sends one sample order that the sandbox accepts: keys and paths line up."""
    from bridge.config import load_config
    from bridge.errors import MappingError
    from bridge.events import EventType
    from bridge.tools.sample import SampleEvents
    from bridge.vendors import vendor_classes

    config = load_config(BRIDGE_CONFIG, environ=service_environment(services["bridge"]))
    classes = vendor_classes()
    for name, vendor_config in config.vendors.items():
        assert vendor_config.base_url is not None
        base_url = vendor_config.base_url.replace(
            "http://sandbox:8080", f"http://127.0.0.1:{sandbox}"
        )
        vendor = classes[name](config.vendor_settings[name], base_url)
        events = SampleEvents(seed=11, bad_email_share=0.0)
        for _ in range(100):
            try:
                items = vendor.map(EventType.ORDER, events.order())
            except MappingError:
                continue
            break
        else:
            pytest.fail(f"{name}: no sample order could be mapped")
        request = vendor.build_request(items[:1])
        sent = urllib.request.Request(
            request.url, data=request.body, headers=dict(request.headers), method=request.method
        )
        with urllib.request.urlopen(sent, timeout=10) as reply:
            assert 200 <= reply.status < 300, f"{name}: {reply.status}"
