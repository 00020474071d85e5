"""A sixth vendor is its own files and nothing else.

A copy of the package gets two modules from ``tests/fixtures/sixth_vendor/``: the vendor
(``bridge/vendors/acme.py``) and its sandbox stand-in (``bridge/tools/sandbox/acme.py``). No
other file of the copy changes. Run from the copy in subprocesses, both registries find Acme,
`sandbox_settings` gives its settings block, ``bridge sandbox`` serves its stand-in, and
``bridge run`` delivers an order stream from the broker to it and commits to the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from bridge.events import EventType
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sample import SampleEvents
from bridge.tools.sandbox import VENDORS
from tests.support.kafka import committed, config_dict, encoder, produce, unique, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sixth_vendor"
DROPPED = {
    "acme_vendor.py": Path("bridge/vendors/acme.py"),
    "acme_stand_in.py": Path("bridge/tools/sandbox/acme.py"),
}
PARTITIONS, ORDERS = 2, 20

# What the copy's registries say, and Acme's settings block with its secret in a file.
REGISTRIES = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import bridge
    from bridge.tools.sandbox import VENDORS
    from bridge.tools.sandbox_settings import sandbox_settings
    from bridge.vendors import vendor_classes
    print(json.dumps({
        "package": bridge.__file__,
        "vendors": list(vendor_classes()),
        "stand_ins": list(VENDORS),
        "acme": sandbox_settings()["acme"].block(Path(sys.argv[1])),
    }))
    """
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the package with Acme's two modules dropped in; the folder to put on the path."""
    root = tmp_path / "src"
    shutil.copytree(REPO / "bridge", root / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    for fixture, target in DROPPED.items():
        assert not (root / target).exists()
        shutil.copy(FIXTURES / fixture, root / target)
    return root


def environment(package: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "BRIDGE__"))}
    return {**env, "PYTHONPATH": str(package)}


@pytest.fixture
def sandbox_url(package: Path, tmp_path: Path) -> Iterator[str]:
    """``python -m bridge.cli sandbox`` from the copy, on a free port; its base URL."""
    with open(tmp_path / "sandbox.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "sandbox", "--port", "0"],
            cwd=package,
            env=environment(package),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    with process.stdout:
        try:
            url = _listening_url(process.stdout)
            # Then one line per stand-in: those of this checkout and Acme.
            listed = {process.stdout.readline().split()[0] for _ in range(len(VENDORS) + 1)}
            assert listed == {*VENDORS, "acme"}
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0


def _listening_url(stdout: IO[str]) -> str:
    first = stdout.readline()  # EOF (an empty line) if the sandbox died before listening
    prefix = "sandbox listening on "
    assert first.startswith(prefix), first
    return first[len(prefix) :].strip()


@pytest.fixture
def registries(package: Path, tmp_path: Path) -> dict[str, Any]:
    """What the copy's registries find, and Acme's settings block (its secret in a file)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    found = subprocess.run(
        [sys.executable, "-c", REGISTRIES, str(secrets)],
        cwd=package,
        env=environment(package),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(found.stdout)
    assert Path(result["package"]).is_relative_to(package)
    assert result["acme"] == {
        "store": "acme-store",
        "api_key": {"file": str(secrets / "acme-api_key")},
    }
    return result


def start_bridge(package: Path, config: dict[str, Any], workdir: Path) -> subprocess.Popen[bytes]:
    """``python -m bridge.cli run --config FILE`` from the copy, its output in bridge.log."""
    config_path = workdir / "bridge.yaml"
    config_path.write_text(yaml.safe_dump(config))
    with open(workdir / "bridge.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--config", str(config_path)],
            cwd=package,
            env=environment(package),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def accepted_order_ids(sandbox_url: str) -> list[str]:
    return sorted(
        item["order_id"] for request in received(sandbox_url) for item in request["accepted"]
    )


def received(sandbox_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sandbox_url}/_received/acme", timeout=5) as reply:
        requests: list[dict[str, Any]] = json.load(reply)["requests"]
        return requests


def orders(count: int) -> list[dict[str, Any]]:
    samples = SampleEvents(seed=6)
    made = []
    for n in range(count):
        order = samples.order()
        order["customer"] = {**order["customer"], "email": f"buyer{n}@example.com"}
        made.append(order)
    return made


async def test_a_dropped_in_vendor_runs_end_to_end_against_its_dropped_in_stand_in(
    broker: LocalBroker,
    package: Path,
    registries: dict[str, Any],
    sandbox_url: str,
    tmp_path: Path,
) -> None:
    assert "acme" in registries["vendors"]
    assert sorted(registries["vendors"]) == sorted(registries["stand_ins"])

    topic, views, dlq = unique("orders"), unique("views"), unique("dlq")
    broker.create_topics({topic: PARTITIONS, views: 1, dlq: 1})
    stream = orders(ORDERS)
    order_encoder = encoder(EventType.ORDER)
    produced = produce(
        broker,
        topic,
        [
            (n % PARTITIONS, o["order_id"].encode(), order_encoder.encode(o))
            for n, o in enumerate(stream)
        ],
    )
    acme = {
        "base_url": f"{sandbox_url}/acme",
        "settings": registries["acme"],
        "retry": {"initial_backoff_s": 0.05, "max_backoff_s": 1},
    }
    config = config_dict(
        broker, {"acme": acme}, orders=topic, views=views, dead_letter=dlq, log={"format": "text"}
    )
    group = f"{config['kafka']['group_prefix']}.acme"

    bridge = start_bridge(package, config, tmp_path)
    try:
        expected = sorted(o["order_id"] for o in stream)
        await wait_for(
            lambda: accepted_order_ids(sandbox_url) == expected,
            30,
            "every order accepted by the Acme stand-in",
        )
        await wait_for(
            lambda: committed(broker, group, topic, PARTITIONS) == produced,
            20,
            "the acme group committed at the end offsets",
            interval_s=0.5,
        )
    finally:
        bridge.send_signal(signal.SIGTERM)
        exit_code = bridge.wait(40)
    assert exit_code == 0, (tmp_path / "bridge.log").read_text()
    requests = received(sandbox_url)
    assert all(request["status"] == 200 and not request["rejected"] for request in requests)
    assert requests[0]["headers"]["X-Api-Key"] == "***"
