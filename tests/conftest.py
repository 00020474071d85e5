"""Shared fixtures: one local Kafka-protocol broker per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.tools.localbroker import LocalBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    log = Path(tmp_path_factory.mktemp("broker")) / "tansu.log"
    with LocalBroker(log_path=log) as running:
        yield running
