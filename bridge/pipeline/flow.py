"""Flow control: how much is in flight, and whether the consumer may fetch more.

Fetching pauses while in-flight records or bytes are at their limits, while the circuit is
open (a vendor outage or refused credentials: records wait in Kafka, not in memory), and while
draining for shutdown; it resumes once in-flight work falls below `resume_ratio` of the limits.
A half-open circuit fetches again, so that its probe has a record to send.

The record limit holds exactly: each fetch may take at most the room left under it
(`room()`), and the consumer hands over one fetch at a time. The room is also sized by the
largest record seen so far (the first fetch takes one record, to learn), so the byte limit can
be passed by one fetch only, by at most its records' growth over that size. It counts the records'
Kafka values, not what they hold once decoded and mapped (a decoded event and its share of a
request body take several times its Avro bytes): size `max_in_flight_bytes` for that.

`progress` is set whenever a record leaves; waiters (shutdown drain, revocation) use
`wait_for_progress`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.config import VendorConfig
from bridge.delivery.retry import CircuitState


class FlowControl:
    def __init__(self, limits: VendorConfig, set_fetching: Callable[[bool], None]) -> None:
        self._limits = limits
        self._set_fetching = set_fetching
        self.in_flight = 0
        self.in_flight_bytes = 0
        self.fetching = True
        self.draining = False
        self.circuit = CircuitState.CLOSED
        self._full = False
        self._largest = 0
        self.progress = asyncio.Event()

    def room(self) -> int:
        """Records the next fetch may take without passing the limits (0 when full)."""
        limits = self._limits
        if not self._largest:
            return 1  # learn what a record weighs before taking a batch of them
        room = min(
            limits.max_in_flight_records - self.in_flight,
            (limits.max_in_flight_bytes - self.in_flight_bytes) // self._largest,
        )
        return max(0, room)

    def taken(self, records: int, size: int, largest: int) -> None:
        """`records` of `size` bytes in all, the largest of them `largest` bytes."""
        self.in_flight += records
        self.in_flight_bytes += size
        self._largest = max(self._largest, largest)
        self.update()

    def released(self, records: int, size: int) -> None:
        self.in_flight -= records
        self.in_flight_bytes -= size
        self.progress.set()
        self.update()

    def set_circuit(self, state: CircuitState) -> None:
        self.circuit = state
        self.update()

    def drain(self) -> None:
        self.draining = True
        self.update()

    def update(self) -> None:
        """Pause or resume fetching when in-flight work or the vendor's state asks for it."""
        limits = self._limits
        if self._full:
            self._full = not (
                self.in_flight <= limits.max_in_flight_records * limits.resume_ratio
                and self.in_flight_bytes <= limits.max_in_flight_bytes * limits.resume_ratio
            )
        else:
            self._full = (
                self.in_flight >= limits.max_in_flight_records
                or self.in_flight_bytes >= limits.max_in_flight_bytes
            )
        fetching = not (self._full or self.draining or self.circuit is CircuitState.OPEN)
        if fetching is not self.fetching:
            self.fetching = fetching
            self._set_fetching(fetching)

    async def wait_for_progress(self, pending: Callable[[], bool], deadline: float) -> None:
        """Wait while `pending()` holds, re-checking whenever a record leaves, until `deadline`
        (the loop's clock)."""
        loop = asyncio.get_running_loop()
        while pending() and loop.time() < deadline:
            self.progress.clear()
            try:
                await asyncio.wait_for(self.progress.wait(), deadline - loop.time())
            except TimeoutError:
                return
