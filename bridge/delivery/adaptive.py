"""Adaptive request concurrency: how many requests a vendor may have in flight, found at run time.

In the spirit of Vector's Adaptive Request Concurrency (AIMD), for ``concurrency: adaptive``:

- The limit starts at 1. A request is sent only after `acquire()` found it below the limit;
  each reply (or failure) is reported with `release()`.
- Time is cut into periods one round trip long, or `MIN_PERIOD_S` if that is longer. At the
  end of each period:
  - if a request was answered 429 or 503, or failed without an answer (a timeout, a reset),
    the limit is multiplied by `DECREASE_RATIO` (never below 1);
  - else if the period's mean round-trip time rose past the moving baseline (an EWMA of past
    periods' means) by more than `DEVIATION_SCALE` standard errors of that mean (and at least
    `MIN_RISE` of the baseline), and the one before rose too (`RISING_PERIODS`), the limit
    decreases the same way: the vendor is queueing our requests. A first rising period only
    holds the limit, and does not move the baseline;
  - else, if the limit was reached during the period (it was what held requests back), it grows
    by one per round trip the period lasted, up to `max_concurrency`.
- A ``Retry-After`` is honoured by the retry of the request that got it (`bridge.delivery.retry`),
  not by holding every request: the decrease already slows the vendor's traffic, and a vendor
  that throttles a share of requests (one busy node behind its balancer) would otherwise stop
  all of them. Measured on the sandbox (10 % of requests answered 429 with ``Retry-After: 1``,
  20 ms, one request per event): holding every request delivered 11 records/s, against 121
  for a fixed 16; Vector's ARC and GitLab Runner's adaptive concurrency do the same.

Why the standard error of the period's own round trips, rather than Vector's deviation of the
baseline: a vendor whose latency grows a little with every request in flight past its capacity
raises the round trip a step at a time as the limit grows, and an EWMA's deviation follows
such a ramp as closely as its mean does, so the rise never stands out and the limit climbs
until the vendor throttles. The spread of one period's replies measures only the noise, so
each step past the capacity is seen.

Only replies feed the baseline: a round trip cut short by an error says nothing of the
vendor's queue.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

from bridge.config import VendorConfig

DECREASE_RATIO = 0.9
EWMA_ALPHA = 0.4
"""Weight of the newest period in the round-trip baseline."""
DEVIATION_SCALE = 2.5
"""How many standard errors of its mean a period may rise past the baseline before it counts
as rising."""
MIN_RISE = 0.05
"""A rise smaller than this share of the baseline never counts (loopback's jitter is tiny)."""
MIN_PERIOD_S = 0.05
"""A period lasts at least this long, so that a fast vendor's period holds enough replies to
judge; the limit still grows by one per round trip the period lasted."""
RISING_PERIODS = 2
"""Periods in a row that must rise before the limit decreases: a stall of this shared machine
(or of the vendor) for one period is not a queue."""
BACKPRESSURE_STATUSES = frozenset({429, 503})


class Ewma:
    """An exponentially weighted mean."""

    __slots__ = ("_alpha", "_seen", "mean")

    def __init__(self, alpha: float) -> None:
        self._alpha = alpha
        self._seen = False
        self.mean = 0.0

    def update(self, value: float) -> None:
        if not self._seen:
            self._seen = True
            self.mean = value
            return
        self.mean += self._alpha * (value - self.mean)

    @property
    def seen(self) -> bool:
        return self._seen


class AdaptiveConcurrency:
    """The in-flight limit of one vendor's requests; workers `acquire()` before each request."""

    def __init__(
        self,
        max_concurrency: int,
        on_limit: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_concurrency
        self._on_limit = on_limit
        self._clock = clock
        self.limit = 1
        self.in_flight = 0
        self._acquirers: deque[asyncio.Future[None]] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._baseline = Ewma(EWMA_ALPHA)
        self._period_start = clock()
        self._period_rtt = 0.0
        self._period_squares = 0.0
        self._period_replies = 0
        self._period_backpressure = False
        self._period_reached = False
        self._rising_periods = 0
        if on_limit is not None:
            on_limit(self.limit)

    async def acquire(self) -> None:
        """Wait for a place under the limit, then take it."""
        await self._wait(self._acquirers)
        self.in_flight += 1
        if self.in_flight >= self.limit:
            self._period_reached = True

    async def wait_for_room(self) -> None:
        """Wait until `acquire()` would not wait, without taking the place: a worker of a
        batching vendor calls it before it takes a batch, so that batches fill while the limit
        holds requests back. Those who `acquire()` are woken first."""
        await self._wait(self._idle)

    async def _wait(self, queue: deque[asyncio.Future[None]]) -> None:
        while self.in_flight >= self.limit:
            self._period_reached = True
            waiter = asyncio.get_running_loop().create_future()
            queue.append(waiter)
            await waiter

    def release(self, rtt: float | None, status: int | None = None) -> None:
        """A request ended: `rtt` when a reply came (its `status`), None when it failed
        without one."""
        self.in_flight -= 1
        if rtt is None or status in BACKPRESSURE_STATUSES:
            self._period_backpressure = True
        else:
            self._period_rtt += rtt
            self._period_squares += rtt * rtt
            self._period_replies += 1
        self._end_period_if_due()
        self._wake()

    def abandon(self) -> None:
        """A place taken was not used, or its request was cancelled (a hand-over, a shutdown):
        it is free again, and says nothing of the vendor."""
        self.in_flight -= 1
        self._wake()

    def _end_period_if_due(self) -> None:
        now = self._clock()
        rtt = self._baseline.mean if self._baseline.seen else 0.0
        elapsed = now - self._period_start
        if not (self._period_backpressure or self._period_replies) or elapsed < max(
            rtt, MIN_PERIOD_S if rtt else 0.0
        ):
            return
        limit = self.limit
        if self._period_backpressure:
            limit = max(1, math.floor(limit * DECREASE_RATIO))
        else:
            replies = self._period_replies
            mean = self._period_rtt / replies
            spread = max(0.0, self._period_squares / replies - mean * mean)
            standard_error = math.sqrt(spread / (replies - 1)) if replies > 1 else 0.0
            baseline = self._baseline
            threshold = max(DEVIATION_SCALE * standard_error, MIN_RISE * baseline.mean)
            if baseline.seen and mean > baseline.mean + threshold:
                self._rising_periods += 1
                if self._rising_periods >= RISING_PERIODS:
                    self._rising_periods = 0
                    limit = max(1, math.floor(limit * DECREASE_RATIO))
                    baseline.update(mean)
            else:
                self._rising_periods = 0
                if self._period_reached:
                    # Counted within MIN_PERIOD_S: a period stretched by an idle spell (every
                    # worker in a backoff, say) held no more round trips at the limit.
                    round_trips = max(1, math.floor(min(elapsed, MIN_PERIOD_S) / rtt)) if rtt else 1
                    limit = min(self._max, limit + round_trips)
                baseline.update(mean)
        self._period_start = now
        self._period_rtt = 0.0
        self._period_squares = 0.0
        self._period_replies = 0
        self._period_backpressure = False
        self._period_reached = self.in_flight >= limit
        if limit != self.limit:
            self.limit = limit
            if self._on_limit is not None:
                self._on_limit(limit)

    def _wake(self) -> None:
        """Let waiters try again, as many as there are places (each checks again)."""
        places = self.limit - self.in_flight
        for queue in (self._acquirers, self._idle):
            while places > 0 and queue:
                waiter = queue.popleft()
                if not waiter.done():  # a cancelled waiter takes no place
                    waiter.set_result(None)
                    places -= 1


def workers_and_limiter(
    vc: VendorConfig, on_limit: Callable[[int], None]
) -> tuple[int, AdaptiveConcurrency | None]:
    """How many workers a vendor's pipeline runs, and the limiter deciding how many of them
    send: with ``adaptive``, a worker per place the limit may reach; else `concurrency`
    workers and no limiter. `on_limit` is told the limit (once, when fixed)."""
    if vc.concurrency == "adaptive":
        return vc.max_concurrency, AdaptiveConcurrency(vc.max_concurrency, on_limit)
    if vc.concurrency == "auto":
        raise ValueError("concurrency: auto is resolved before a pipeline starts (resolved())")
    on_limit(vc.concurrency)
    return vc.concurrency, None
