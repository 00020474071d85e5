"""When to send again: backoff with full jitter, the circuit, and the rate limit.

- `Backoff`: exponential with full jitter (AWS architecture blog, "Exponential Backoff and
  Jitter"): the n-th wait is uniform in [0, min(cap, base * 2**(n-1))], never shorter than the
  vendor's Retry-After, never longer than the cap.
- `Circuit`: closed -> open after `failure_threshold` consecutive transient failures, or at once
  on refused credentials (for the credentials probe interval); open for `open_s`, then
  half-open: exactly one probe request goes out, and its success closes the circuit, its failure
  opens it again (a probe whose records are taken away before it goes out lets the next
  request probe). The move to half-open runs on a timer of its own, not only when a request
  asks: a circuit opened by the last batch in flight must still let the next record probe.
  While the circuit is open the pipeline stops fetching, so a vendor outage piles records up
  in Kafka, not memory; half-open, fetching resumes so that a probe has something to send.
- `RateLimiter`: a token bucket (requests per second, burst).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from enum import StrEnum

from bridge.config import RetrySettings


class Backoff:
    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self._base = settings.initial_backoff_s
        self._cap = settings.max_backoff_s
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based)."""
        ceiling = min(self._cap, self._base * 2 ** min(attempt - 1, 32))
        wait = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self._cap)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Circuit:
    def __init__(
        self,
        failure_threshold: int,
        open_s: float,
        on_change: Callable[[CircuitState], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self._open_s = open_s
        self._on_change = on_change
        self._clock = clock
        self.state = CircuitState.CLOSED
        self.refused = False
        """True from refused credentials until a request succeeds again."""
        self._failures = 0
        self._reopen_at = 0.0
        self._changed = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._probe_out = False

    async def admit(self) -> bool:
        """Wait until a request may go out: the circuit is closed, or this one is the probe
        (True). A probe admitted but not sent must be given back (`probe_not_sent`)."""
        while True:
            if self.state is CircuitState.CLOSED:
                return False
            if self.state is CircuitState.OPEN:
                remaining = self._reopen_at - self._clock()
                if remaining > 0:
                    await self._changed_or(remaining)
                    continue
                self._set(CircuitState.HALF_OPEN)
            if not self._probe_out:
                self._probe_out = True
                return True
            await self._changed_or(None)

    def probe_not_sent(self) -> None:
        """The probe's records were taken away before it went out (their partition was lost
        or handed over): the next request probes instead. Kept out, the probe would hold
        every request of the vendor for good, since only its answer moves the circuit on."""
        if self.state is CircuitState.HALF_OPEN and self._probe_out:
            self._probe_out = False
            self._wake()

    def success(self) -> None:
        self._failures = 0
        was_refused, self.refused = self.refused, False
        if self.state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)
        elif was_refused:
            self._on_change(self.state)

    def failure(self) -> None:
        self._failures += 1
        if self.state is CircuitState.HALF_OPEN or self._failures >= self._threshold:
            self.trip(self._open_s)

    def refuse(self, probe_s: float) -> None:
        """The vendor refused our credentials: open for `probe_s`, then probe again."""
        self.refused = True
        self.trip(probe_s)

    def trip(self, open_s: float) -> None:
        """Open the circuit for `open_s` seconds; a timer moves it to half-open after that."""
        self._reopen_at = self._clock() + open_s
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(open_s, self._half_open_when_due)
        self._set(CircuitState.OPEN)

    def close(self) -> None:
        """Cancel the timer (the pipeline is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _half_open_when_due(self) -> None:
        self._timer = None
        if self.state is not CircuitState.OPEN:
            return
        remaining = self._reopen_at - self._clock()
        if remaining > 0:  # a test clock, or a timer that fired early
            self._timer = asyncio.get_running_loop().call_later(remaining, self._half_open_when_due)
            return
        self._set(CircuitState.HALF_OPEN)

    def _set(self, state: CircuitState) -> None:
        changed = state is not self.state
        self.state = state
        self._probe_out = False
        # Wake every waiter: a new deadline or a closed circuit changes what they wait for.
        self._wake()
        if changed:
            self._on_change(state)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _changed_or(self, seconds: float | None) -> None:
        """Return when the state changes, or after `seconds` (None: no limit)."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


class RateLimiter:
    """Token bucket; `acquire()` returns the seconds it waited."""

    def __init__(
        self, rate: float, burst: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = float(burst or max(1, round(rate)))
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        waited = 0.0
        async with self._lock:  # first come, first served
            while True:
                now = self._clock()
                self._tokens = min(
                    self._capacity, self._tokens + (now - self._updated) * self._rate
                )
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                wait = (1 - self._tokens) / self._rate
                waited += wait
                await asyncio.sleep(wait)
