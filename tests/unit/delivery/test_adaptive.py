from __future__ import annotations

import asyncio
import itertools

import pytest

from bridge.config import VendorConfig
from bridge.config.vendor import FIXED_CONCURRENCY
from bridge.delivery.adaptive import (
    DECREASE_RATIO,
    MIN_PERIOD_S,
    AdaptiveConcurrency,
    workers_and_limiter,
)


class Clock:
    """Round trips in the tests are binary fractions, so that the sums stay exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _round(
    limiter: AdaptiveConcurrency, clock: Clock, rtts: float | list[float], status: int = 200
) -> None:
    """Fill the limit and answer every request with these round trips (cycled through when
    the limit is larger). All but the last are answered at once and the last when the longest
    round trip has passed, so that a period holds exactly the replies of one round."""
    rtts = rtts if isinstance(rtts, list) else [rtts]
    taken = limiter.limit
    for _ in range(taken):
        await limiter.acquire()
    for i in range(taken - 1):
        limiter.release(rtts[i % len(rtts)], status)
    clock.now += max(rtts)
    limiter.release(rtts[(taken - 1) % len(rtts)], status)


async def test_starts_at_one_and_grows_by_one_per_round_trip_while_the_limit_holds() -> None:
    clock = Clock()
    limits: list[int] = []
    limiter = AdaptiveConcurrency(10, limits.append, clock)
    assert limiter.limit == 1
    for _ in range(5):
        await _round(limiter, clock, 0.0625)
    assert limiter.limit == 6
    assert limits == [1, 2, 3, 4, 5, 6]


async def test_a_fast_vendor_is_judged_over_longer_periods_but_grows_as_fast() -> None:
    """Round trips of 1/128 s: periods last MIN_PERIOD_S (enough replies to judge), and the
    limit still grows by about one per round trip."""
    clock = Clock()
    changes: list[tuple[float, int]] = []
    limiter = AdaptiveConcurrency(1000, lambda limit: changes.append((clock.now, limit)), clock)
    while clock.now < 0.5:
        await _round(limiter, clock, 0.0078125)
    assert 50 <= limiter.limit <= 70
    times = [at for at, _ in changes[1:]]
    assert min(b - a for a, b in itertools.pairwise(times)) >= MIN_PERIOD_S


async def test_never_grows_past_max_concurrency() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(3, clock=clock)
    for _ in range(10):
        await _round(limiter, clock, 0.0625)
    assert limiter.limit == 3


async def test_does_not_grow_when_the_limit_held_nothing_back() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(10, clock=clock)
    await _round(limiter, clock, 0.0625)
    assert limiter.limit == 2
    for _ in range(5):  # one request at a time, under a limit of 2
        await limiter.acquire()
        clock.now += 0.015625
        limiter.release(0.015625, 200)
    assert limiter.limit == 2


async def test_rising_round_trips_decrease_the_limit() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(50, clock=clock)
    for _ in range(20):
        await _round(limiter, clock, 0.0625)
    assert limiter.limit == 21
    await _round(limiter, clock, 0.125)  # twice the baseline: the vendor queues
    assert limiter.limit == 21, "one slow period may be a stall, not a queue"
    await _round(limiter, clock, 0.125)
    assert limiter.limit == int(21 * DECREASE_RATIO)


async def test_jitter_within_the_threshold_does_not_decrease() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(50, clock=clock)
    for _ in range(10):
        await _round(limiter, clock, 0.0625)
    before = limiter.limit
    await _round(limiter, clock, 0.0625 * 1.02)
    assert limiter.limit == before + 1


async def test_a_vendor_slowing_a_step_per_request_past_its_capacity_is_found() -> None:
    """Past 16 in flight each request adds 4 ms to 64 ms (about 6%, like the benchmark's hidden
    capacity): the rise comes a step at a time as the limit grows, and each step is seen, so
    the limit saws around 16 rather than climbing to where the vendor throttles."""
    clock = Clock()
    limiter = AdaptiveConcurrency(64, clock=clock)
    seen = []
    for _ in range(200):
        rtt = 0.064 + 0.004 * max(0, limiter.limit - 16)
        await _round(limiter, clock, [rtt - 0.001, rtt, rtt + 0.001])
        seen.append(limiter.limit)
    assert min(seen[50:]) >= 14
    assert max(seen) <= 20


async def test_a_rise_within_the_noise_of_a_period_does_not_decrease() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(50, clock=clock)
    for _ in range(10):
        await _round(limiter, clock, [0.0625])
    before = limiter.limit
    # 10% slower on average, but the replies spread from 1/4 to 3/2 of the baseline.
    await _round(limiter, clock, [0.015625, 0.125, 0.0625, 0.0625, 0.078125])
    assert limiter.limit == before + 1


async def test_the_same_rise_with_tight_replies_decreases() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(50, clock=clock)
    for _ in range(10):
        await _round(limiter, clock, [0.0625])
    before = limiter.limit
    for _ in range(2):
        await _round(limiter, clock, [0.0673828125, 0.0703125, 0.0712890625])
    assert limiter.limit == int(before * DECREASE_RATIO)


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_decreases_the_limit_but_does_not_hold_the_other_requests(
    status: int,
) -> None:
    # The throttled request's retry waits out its Retry-After (the sender's backoff); the
    # others go on under the lower limit.
    clock = Clock()
    limiter = AdaptiveConcurrency(50, clock=clock)
    for _ in range(10):
        await _round(limiter, clock, 0.0625)
    assert limiter.limit == 11
    await limiter.acquire()
    clock.now += 0.0625
    limiter.release(0.0625, status)
    assert limiter.limit == int(11 * DECREASE_RATIO)
    await asyncio.wait_for(limiter.acquire(), 0.1)


async def test_a_failure_without_a_reply_decreases_and_never_below_one() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(10, clock=clock)
    for _ in range(3):
        await limiter.acquire()
        clock.now += 1
        limiter.release(None)
    assert limiter.limit == 1


async def test_a_request_waits_for_a_place_and_gets_it_when_one_is_released() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency(10, clock=clock)
    await limiter.acquire()
    second = asyncio.ensure_future(limiter.acquire())
    room = asyncio.ensure_future(limiter.wait_for_room())
    await asyncio.sleep(0)
    assert not second.done()
    assert not room.done()
    limiter.release(0.0625, 200)  # first period: the limit grows to 2, both may go
    await asyncio.wait_for(second, 1)
    assert limiter.in_flight == 1
    limiter.abandon()
    await asyncio.wait_for(room, 1)
    assert limiter.in_flight == 0


def test_a_fixed_concurrency_runs_that_many_workers_without_a_limiter() -> None:
    told: list[int] = []

    workers, limiter = workers_and_limiter(VendorConfig(concurrency=12), told.append)

    assert (workers, limiter, told) == (12, None, [12])


def test_adaptive_runs_a_worker_per_place_the_limit_may_reach() -> None:
    told: list[int] = []

    workers, limiter = workers_and_limiter(
        VendorConfig(concurrency="adaptive", max_concurrency=40), told.append
    )

    assert workers == 40
    assert isinstance(limiter, AdaptiveConcurrency)
    assert told == [1]  # the limit starts at one, and the limiter reports it as it moves


@pytest.mark.parametrize(
    ("batches", "pipelines", "expected"),
    [
        (False, 1, "adaptive"),  # one event per request, its process to itself
        (False, 2, FIXED_CONCURRENCY),  # beside another pipeline on the same event loop
        (True, 1, FIXED_CONCURRENCY),  # a batching vendor
    ],
)
def test_auto_concurrency_is_adaptive_only_for_a_one_event_vendor_alone_in_its_process(
    batches: bool, pipelines: int, expected: int | str
) -> None:
    assert VendorConfig().resolved(batches, pipelines).concurrency == expected


@pytest.mark.parametrize("chosen", [8, "adaptive"])
def test_a_chosen_concurrency_is_kept(chosen: int | str) -> None:
    vc = VendorConfig.model_validate({"concurrency": chosen})
    assert vc.resolved(False, 1).concurrency == chosen
    assert vc.resolved(True, 5).concurrency == chosen


def test_an_unresolved_auto_concurrency_starts_no_pipeline() -> None:
    with pytest.raises(ValueError, match="auto"):
        workers_and_limiter(VendorConfig(), lambda _: None)
