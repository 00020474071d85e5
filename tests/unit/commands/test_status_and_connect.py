"""Status's rendering and instance scraping, and the connectivity checks without a broker."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

from bridge.commands.connect import run_checks, schema_checks, vendor_check
from bridge.commands.status import (
    InstanceStatus,
    Member,
    PartitionStatus,
    VendorStatus,
    _instance_status,
    render,
    to_json,
)
from bridge.config import Config, validate_config
from bridge.events import DEFAULT_SCHEMAS_DIR


def config(schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> Config:
    return validate_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "vendors": {
                "vtmarketing": {
                    "base_url": "http://127.0.0.1:1/vt",
                    "settings": {"api_key": {"env": "VT_KEY"}},
                }
            },
            "schemas_dir": str(schemas_dir),
        },
        environ={"VT_KEY": "k"},
    )


def status() -> VendorStatus:
    return VendorStatus(
        vendor="qubit",
        group="bridge.qubit",
        state="stable",
        members=[Member("rdkafka", "/10.0.0.7", ["orders[0]"])],
        partitions=[
            PartitionStatus("orders", 0, 90, 100, 10, 4.0),
            PartitionStatus("orders", 1, None, 7, 7, None),
        ],
        dead_letters_last_hour={"rejected": 2},
        instance=InstanceStatus("http://h:9400", True, "ok", "closed", 0, False),
    )


def test_the_table_shows_every_figure() -> None:
    text = render([status()])
    assert "qubit  group bridge.qubit (stable, 1 members)  lag 17" in text
    assert "orders  0          90         100  10   4s ago" in text
    assert "orders  1          -          7    7    never" in text
    assert "member rdkafka /10.0.0.7: orders[0]" in text
    assert "dead letters, last hour: rejected 2" in text
    assert "circuit closed, paused partitions 0, ready yes" in text


def test_json_is_for_scripts() -> None:
    [data] = json.loads(to_json([status()]))
    assert data["lag"] == 17
    assert data["partitions"][0] == {
        "topic": "orders",
        "partition": 0,
        "committed": 90,
        "end": 100,
        "lag": 10,
        "last_commit_age_s": 4.0,
    }
    assert data["instance"]["circuit"] == "closed"


def test_the_instance_state_comes_from_its_metrics() -> None:
    scraped: dict[str, Any] = {
        "metrics": {
            ("bridge_circuit_state", "qubit", "closed"): 0.0,
            ("bridge_circuit_state", "qubit", "open"): 1.0,
            ("bridge_paused_partitions", "qubit", None): 3.0,
            ("bridge_pipeline_ready", "qubit", None): 0.0,
            ("bridge_credentials_refused", "qubit", None): 1.0,
        },
        "ready": False,
        "readiness": "not ready: qubit",
    }
    found = _instance_status("http://h:9400", "qubit", scraped)
    assert (found.circuit, found.paused_partitions, found.ready) == ("open", 3.0, False)
    assert found.credentials_refused is True
    other = _instance_status("http://h:9400", "squeezely", scraped)
    assert other.error == "squeezely is not running in this instance"


def test_schema_checks_name_a_missing_folder(tmp_path: Path) -> None:
    [check] = schema_checks(config(tmp_path / "nowhere"))
    assert not check.ok
    assert check.name == "schema order (orders)"
    assert "No such file" in check.detail
    assert all(check.ok for check in schema_checks(config()))


def test_without_connect_only_the_files_are_checked(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_checks(config(), connect=False, out=out)
    assert out.getvalue().startswith("schema order (orders): ok")
    assert not run_checks(config(tmp_path), connect=False, out=io.StringIO())


def test_a_vendor_url_that_does_not_resolve_or_answer_is_named() -> None:
    def nowhere(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    check = vendor_check("qubit", "https://api.qubit.invalid/v1", 2, resolve=nowhere)
    assert not check.ok
    assert check.name == "vendor qubit https://api.qubit.invalid:443"
    assert check.detail == "does not resolve: Name or service not known"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = vendor_check("vtmarketing", f"http://127.0.0.1:{port}/vt", 2)
    assert not closed.ok
    assert "refused" in closed.detail.lower()


def test_an_http_vendor_url_needs_a_tcp_connect() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check = vendor_check("vtmarketing", f"http://127.0.0.1:{port}/vt", 2)
    assert check.ok, check
    assert check.detail.startswith("TCP connect in")
