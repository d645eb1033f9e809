from __future__ import annotations

from tgfleet.pool.stats import PoolCounters


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
    stats = counters.as_dict(max_total=10)
    assert stats["current_pool_size"] == 6 and stats["utilization"] == 0.3
