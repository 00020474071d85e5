"""Flow control, alone: pause at the limits, resume below the low-water mark, and the circuit."""

from __future__ import annotations

from typing import Any

from bridge.config import VendorConfig
from bridge.delivery.retry import CircuitState
from bridge.pipeline.flow import FlowControl

from .fakes import Switch


def flow(**limits: Any) -> tuple[FlowControl, Switch]:
    switch = Switch()
    return FlowControl(VendorConfig(**limits), switch), switch


def test_pauses_at_the_record_limit_and_resumes_below_the_ratio() -> None:
    control, switch = flow(max_in_flight_records=10, resume_ratio=0.5)
    control.taken(9, 90, 10)
    assert switch.calls == []
    assert control.room() == 1
    control.taken(1, 10, 10)
    assert switch.calls == [False]
    assert control.room() == 0
    control.released(4, 40)  # 6 left: above 5, still paused
    assert switch.calls == [False]
    control.released(1, 10)
    assert switch.calls == [False, True]


def test_pauses_at_the_byte_limit() -> None:
    control, switch = flow(max_in_flight_records=1000, max_in_flight_bytes=2048, resume_ratio=0.5)
    control.taken(2, 2048, 1024)
    assert switch.calls == [False]
    control.released(1, 1024)
    assert switch.calls == [False, True]


def test_an_open_circuit_pauses_and_half_open_fetches_again_for_the_probe() -> None:
    control, switch = flow()
    control.set_circuit(CircuitState.OPEN)
    control.set_circuit(CircuitState.HALF_OPEN)
    control.set_circuit(CircuitState.CLOSED)
    assert switch.calls == [False, True]


def test_draining_stops_fetching_for_good() -> None:
    control, switch = flow(max_in_flight_records=2)
    control.drain()
    control.taken(0, 0, 0)
    control.released(0, 0)
    assert switch.calls == [False]


def test_the_first_fetch_takes_one_record_then_the_room_is_sized_by_the_largest() -> None:
    control, _ = flow(max_in_flight_records=1000, max_in_flight_bytes=10_000)
    assert control.room() == 1
    control.taken(1, 100, 100)
    assert control.room() == 99  # (10,000 - 100) // 100
    control.taken(2, 600, 500)
    assert control.room() == (10_000 - 700) // 500
