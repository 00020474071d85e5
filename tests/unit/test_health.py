from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bridge import app
from bridge.app import Health, StatusServer
from bridge.metrics import Metrics


class FakePipeline:
    def __init__(self, name: str, ready: bool = True, consumer_alive: bool = True) -> None:
        self.name = name
        self.ready = ready
        self.consumer_alive = consumer_alive


async def running_task() -> asyncio.Task[None]:
    return asyncio.create_task(asyncio.sleep(60))


def get(port: int, path: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, response.read().decode(), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.perf_counter() - started


@pytest.fixture
async def served() -> Any:
    health = Health()
    task = await running_task()
    health.pipelines = [FakePipeline("qubit")]  # type: ignore[list-item]
    health.tasks = [task]
    server = StatusServer("127.0.0.1", 0, Metrics(CollectorRegistry()).registry, health)
    server.start()
    yield health, server
    server.stop()
    task.cancel()


async def test_healthy_and_ready_answer_200_fast(served: Any) -> None:
    _, server = served
    assert (await asyncio.to_thread(get, server.port, "/healthz"))[:2] == (200, "ok\n")
    status, body, seconds = await asyncio.to_thread(get, server.port, "/readyz")
    assert (status, body) == (200, "ok\n")
    assert seconds < 0.1


async def test_not_ready_until_every_pipeline_is(served: Any) -> None:
    health, server = served
    health.pipelines[0].ready = False
    status, body, _ = await asyncio.to_thread(get, server.port, "/readyz")
    assert status == 503
    assert "qubit" in body
    assert (await asyncio.to_thread(get, server.port, "/healthz"))[0] == 200


async def test_stuck_event_loop_fails_liveness_within_100ms(served: Any) -> None:
    health, server = served
    health.heartbeat = time.monotonic() - app.STUCK_AFTER_S - 1
    status, body, seconds = await asyncio.to_thread(get, server.port, "/healthz")
    assert (status, body) == (503, "event loop stuck\n")
    assert seconds < 0.1


async def test_dead_consumer_thread_or_task_fails_liveness(served: Any) -> None:
    health, server = served
    health.pipelines[0].consumer_alive = False
    status, body, _ = await asyncio.to_thread(get, server.port, "/healthz")
    assert (status, body) == (503, "pipeline qubit is not running\n")


async def test_metrics_endpoint_serves_the_registry(served: Any) -> None:
    _, server = served
    status, body, _ = await asyncio.to_thread(get, server.port, "/metrics")
    assert status == 200
    assert 'bridge_build_info{version="' in body
    assert (await asyncio.to_thread(get, server.port, "/nope"))[0] == 404
