"""Consumers on one half of the CPUs, everything that feeds them on the other.

On a 2-core machine the broker, the producer and the vendor stand-in share the cores with the
consumer being measured, so a consumer that uses more CPU slows the broker and the producer
too, and its records arrive late for reasons outside it (measured at 22,000 records/s: the
bridge's records reached its consumer thread 70 ms after their produce time at p50 and 438 ms
at p99; with the cores split, 32 ms and 130 ms). In production the broker and the producers run
elsewhere. Splitting the cores gives the bridge and the plain consumer the same share, and
leaves the rest to what feeds them alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` (threads it starts later inherit it)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(thread), cpus)


@contextlib.contextmanager
def consumers_apart(feeders: list[int]) -> Iterator[set[int]]:
    """This process (and the processes it starts) on the second half of the CPUs, `feeders`
    on the first; yields the first half, for feeders started meanwhile. Undone on exit; with
    a single CPU, nothing is split."""
    every = sorted(os.sched_getaffinity(0))
    half = len(every) // 2
    if not half:
        yield set(every)
        return
    others, consumers = set(every[:half]), set(every[half:])
    for pid in feeders:
        pin(pid, others)
    pin(os.getpid(), consumers)
    try:
        yield others
    finally:
        pin(os.getpid(), set(every))
        for pid in feeders:
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                pin(pid, set(every))
