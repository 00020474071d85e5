"""The schema registry client is loaded only by a bridge that reads a confluent-format topic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_starting_the_bridge_does_not_load_the_schema_registry_client() -> None:
    # confluent_kafka.schema_registry brings httpx, authlib and cryptography: about 13 MB
    # resident per process (measured by bench/fleet.py) that an Avro-only bridge never uses.
    probe = "import sys, bridge.app; print('confluent_kafka.schema_registry' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
