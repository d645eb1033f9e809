"""CallMeter on a clock the test moves: the window forgets, rates and percentiles add up."""

from __future__ import annotations

import asyncio

import pytest

from tgfleet.errors import FloodWait, PoolTimeout
from tgfleet.services.meter import MAX_NAMES, OTHER, CallMeter, Histogram, error_name


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_empty_window_says_no_data_rather_than_zero_percent() -> None:
    meter = CallMeter(clock=Clock())
    assert meter.snapshot() == {
        "rps": 0.0,
        "error_rate": None,
        "success_rate": None,
        "p50": None,
        "p95": None,
        "total": 0,
        "errors": 0,
    }


def test_rates_and_percentiles_over_the_window() -> None:
    clock = Clock()
    meter = CallMeter(clock=clock)
    clock.now += 60.5  # a minute old: the window is 59 whole seconds and half of this one
    for i in range(90):
        meter.record(0.010 + i * 0.0001)  # 10..19 ms
    for _ in range(6):
        meter.record(2.0, error="FLOOD_WAIT")
    for _ in range(4):
        meter.record(0.5, error="PEER_ID_INVALID")
    snap = meter.snapshot()
    assert snap["total"] == 100
    assert snap["errors"] == 10
    assert snap["error_rate"] == pytest.approx(0.10)
    assert snap["success_rate"] == pytest.approx(0.90)
    assert snap["rps"] == pytest.approx(100 / 59.5)
    # p50: the 50th of 100, the middle of the 10..19 ms calls
    assert snap["p50"] == pytest.approx(0.0149, rel=0.08)
    # p95: the 95th is among the six 2 s calls (the slowest ones clamp to the window's max)
    assert snap["p95"] == pytest.approx(2.0, rel=0.08)


def test_old_seconds_fall_out_of_the_window() -> None:
    clock = Clock()
    meter = CallMeter(clock=clock)
    for _ in range(5):
        meter.record(3.0, error="ConnectFailed")
    clock.now += 30
    for _ in range(5):
        meter.record(0.02)
    assert meter.snapshot()["total"] == 10
    assert meter.snapshot()["error_rate"] == pytest.approx(0.5)
    clock.now += 30.5  # the first five are now 60.5 s old
    snap = meter.snapshot()
    assert (snap["total"], snap["errors"], snap["error_rate"]) == (5, 0, 0.0)
    assert snap["p95"] == pytest.approx(0.02)
    clock.now += 60
    assert meter.snapshot()["total"] == 0
    # the ring slot of an old second is reused, not added to
    meter.record(0.1)
    assert meter.snapshot()["total"] == 1
    # totals since start keep everything
    totals = meter.totals()
    assert (totals.ok, totals.errors) == (6, 5)
    assert totals.errors_by_name == {"ConnectFailed": 5}
    assert totals.seconds.count == 11
    assert totals.seconds.sum == pytest.approx(5 * 3.0 + 5 * 0.02 + 0.1)


def test_young_meter_divides_by_its_age() -> None:
    clock = Clock()
    meter = CallMeter(clock=clock)
    clock.now += 4
    for _ in range(20):
        meter.record(0.01)
    assert meter.snapshot()["rps"] == pytest.approx(5.0)


def test_memory_is_bounded_by_the_window() -> None:
    clock = Clock()
    meter = CallMeter(clock=clock, window_seconds=10)
    for i in range(1000):  # ten calls a second for 100 s
        clock.now = 1000 + i / 10
        meter.record(0.01)
    assert len(meter._ring) == 10
    snap = meter.snapshot()
    assert snap["total"] == 100  # 10 s × 10 calls a second
    assert snap["rps"] == pytest.approx(10.0, rel=0.05)


def test_measure_names_the_error_and_reraises() -> None:
    clock = Clock()
    meter = CallMeter(clock=clock)
    with meter.measure():
        clock.now += 0.25
    with pytest.raises(FloodWait), meter.measure():
        clock.now += 0.5
        raise FloodWait(30, phone="+15550001", method="messages.sendMessage")
    with pytest.raises(PoolTimeout), meter.measure():
        raise PoolTimeout("all busy")
    with pytest.raises(asyncio.CancelledError), meter.measure():
        raise asyncio.CancelledError
    totals = meter.totals()
    assert totals.ok == 1
    assert totals.errors_by_name == {"FLOOD_WAIT": 1, "PoolTimeout": 1, "CANCELLED": 1}
    assert totals.seconds.sum == pytest.approx(0.75)
    assert error_name(ValueError("x")) == "ValueError"


def test_distinct_names_are_capped() -> None:
    meter = CallMeter(clock=Clock())
    for i in range(MAX_NAMES + 10):
        meter.record(0.01, error=f"E{i}")
        meter.record_flood(f"method{i}")
    totals = meter.totals()
    assert len(totals.errors_by_name) == MAX_NAMES + 1
    assert totals.errors_by_name[OTHER] == 10
    assert totals.floods_by_method[OTHER] == 10


def test_histogram_buckets_are_cumulative_with_le_semantics() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        hist.observe(value)
    snap = hist.snapshot()
    assert snap.buckets == ((0.1, 2), (1.0, 4))
    assert snap.count == 5
    assert snap.as_dict() == {"buckets": [[0.1, 2], [1.0, 4]], "sum": 8.65, "count": 5}
    with pytest.raises(ValueError, match="ascending"):
        Histogram((1.0, 0.5))
