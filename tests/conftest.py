"""Shared fixtures: one local Kafka-protocol broker (Tansu) and one Apache Kafka per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.tools.localbroker import LocalBroker
from tests.support.apache_kafka import ApacheKafka


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    log = Path(tmp_path_factory.mktemp("broker")) / "tansu.log"
    with LocalBroker(log_path=log) as running:
        yield running


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    """A real Apache Kafka 4.x broker (KRaft, one node): for groups, rebalances and restarts."""
    with ApacheKafka(workdir=Path(tmp_path_factory.mktemp("apache-kafka"))) as running:
        yield running
