from __future__ import annotations

import asyncio
import random

from bridge.config import RetrySettings
from bridge.delivery.retry import Backoff, Circuit, CircuitState, RateLimiter


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    backoff = Backoff(RetrySettings(initial_backoff_s=1, max_backoff_s=30), random.Random(1))
    for attempt in range(1, 12):
        delays = [backoff.delay(attempt) for _ in range(200)]
        ceiling = min(30, 2 ** (attempt - 1))
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spans the range


def test_backoff_honours_retry_after_but_caps_it() -> None:
    backoff = Backoff(RetrySettings(initial_backoff_s=0.1, max_backoff_s=30), random.Random(1))
    assert backoff.delay(1, retry_after=12) == 12
    assert backoff.delay(1, retry_after=300) == 30


def state(circuit: Circuit) -> CircuitState:
    """The circuit's state now, read afresh: after an assert on `circuit.state` the type checker
    keeps the attribute narrowed and cannot see that `failure()` or `admit()` changed it since."""
    return circuit.state


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_opens_after_threshold_then_lets_one_probe_through() -> None:
    clock = Clock()
    states: list[CircuitState] = []
    circuit = Circuit(3, open_s=10, on_change=states.append, clock=clock)
    for _ in range(3):
        circuit.failure()
    assert state(circuit) is CircuitState.OPEN
    waiter = asyncio.create_task(circuit.admit())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    clock.now = 11
    circuit.trip(0)  # re-arm the deadline so the waiter re-checks the clock now
    await asyncio.wait_for(waiter, 1)
    assert state(circuit) is CircuitState.HALF_OPEN
    second = asyncio.create_task(circuit.admit())
    await asyncio.sleep(0.01)
    assert not second.done()  # only one probe while half-open
    circuit.success()
    await asyncio.wait_for(second, 1)
    assert state(circuit) is CircuitState.CLOSED
    assert states == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


async def test_failed_probe_opens_the_circuit_again() -> None:
    clock = Clock()
    circuit = Circuit(1, open_s=5, on_change=lambda s: None, clock=clock)
    circuit.failure()
    clock.now = 6
    await circuit.admit()
    assert state(circuit) is CircuitState.HALF_OPEN
    circuit.failure()
    assert state(circuit) is CircuitState.OPEN


async def test_success_resets_the_failure_count() -> None:
    circuit = Circuit(3, open_s=5, on_change=lambda s: None)
    circuit.failure()
    circuit.failure()
    circuit.success()
    circuit.failure()
    circuit.failure()
    assert circuit.state is CircuitState.CLOSED


async def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(rate=50, burst=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waits = [await limiter.acquire() for _ in range(6)]
    elapsed = loop.time() - started
    assert waits[0] == 0
    assert elapsed >= 5 / 50 * 0.9
    assert sum(waits) > 0


async def test_an_open_circuit_goes_half_open_on_its_own_timer_with_nothing_waiting() -> None:
    states: list[CircuitState] = []
    circuit = Circuit(1, open_s=0.05, on_change=states.append)
    circuit.failure()
    assert circuit.state is CircuitState.OPEN
    await asyncio.sleep(0.2)  # nobody calls admit(): the last batch in flight has left
    assert states == [CircuitState.OPEN, CircuitState.HALF_OPEN]
    await asyncio.wait_for(circuit.admit(), 0.1)  # the next record is the probe
    circuit.close()


async def test_refused_credentials_hold_until_a_request_succeeds() -> None:
    states: list[CircuitState] = []
    circuit = Circuit(5, open_s=5, on_change=states.append)
    circuit.refuse(0.05)
    assert circuit.refused
    await asyncio.sleep(0.2)
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.refused  # half-open is a probe, not proof
    await circuit.admit()
    circuit.success()
    assert not circuit.refused
    assert circuit.state is CircuitState.CLOSED
