from __future__ import annotations

import pytest

from tgfleet.pool.stats import ACQUIRE_BUCKETS, PoolCounters


def test_wait_percentiles_over_a_bounded_window() -> None:
    counters = PoolCounters(window=100)
    for i in range(1000):  # only the last 100 count: 900..999 ms
        counters.record_wait(i / 1000)
    p = counters.wait_percentiles()
    assert p["p50"] == 0.95 or abs(p["p50"] - 0.9495) < 0.001
    assert 0.990 <= p["p99"] <= 0.999 and p["p95"] < p["p99"]
    for _ in range(10):  # the recent slow waits push the oldest ones out
        counters.record_wait(5.0)
    assert counters.wait_percentiles()["p95"] == 5.0


def test_empty_window_reads_zero_and_size_adds_gauges() -> None:
    counters = PoolCounters(window=10)
    assert counters.wait_percentiles() == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    counters.idle, counters.active, counters.connecting, counters.closing = 2, 3, 1, 4
    stats = counters.as_dict(max_total=10, waiting=0)
    assert stats["current_pool_size"] == 6 and stats["utilization"] == 0.3


def test_acquire_histogram_buckets_are_cumulative_and_le_inclusive() -> None:
    counters = PoolCounters(window=4)  # the histogram is not bounded by the window
    counters.record_wait(0.0)
    counters.record_wait(0.0005)  # on a bound: counts in that bucket (le, "less or equal")
    counters.record_wait(0.00051)
    counters.record_wait(0.2)
    counters.record_wait(31.0)  # above the last bound: only in count (the +Inf bucket)
    hist = counters.as_dict(max_total=10, waiting=0)["acquire_seconds"]
    assert [le for le, _ in hist["buckets"]] == list(ACQUIRE_BUCKETS)
    cumulative = dict((le, n) for le, n in hist["buckets"])
    assert cumulative[0.0005] == 2
    assert cumulative[0.001] == 3
    assert cumulative[0.1] == 3 and cumulative[0.5] == 4
    assert cumulative[30.0] == 4 and hist["count"] == 5
    assert hist["sum"] == pytest.approx(0.0005 + 0.00051 + 0.2 + 31.0)


def test_an_empty_histogram_reads_zero() -> None:
    hist = PoolCounters(window=4).acquire_histogram()
    assert hist == {"buckets": [[le, 0] for le in ACQUIRE_BUCKETS], "sum": 0.0, "count": 0}
