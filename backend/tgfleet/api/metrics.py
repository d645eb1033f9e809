"""Prometheus metrics, named like HikariCP's pool metrics, from the pool's own counters.

Nothing here scans the fleet: the pool keeps its gauges and totals as events happen
(``tgfleet.pool.stats``), and a scrape reads that snapshot plus one GROUP BY over accounts.
Per-account labels are left out on purpose: a fleet of thousands would make thousands of
series, and phone numbers do not belong in a metrics system.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = (
    # (stats key, metric name without _total, help)
    ("total_connections_created", "tgfleet_pool_connections_created", "Connections created"),
    ("total_connections_reused", "tgfleet_pool_connections_reused", "Borrows served by reuse"),
    ("total_connections_closed", "tgfleet_pool_connections_closed", "Connections closed"),
    ("errors", "tgfleet_pool_connection_errors", "Connection errors"),
    ("timeouts", "tgfleet_pool_timeouts", "Acquires that timed out"),
    ("leaks_suspected", "tgfleet_pool_leaks_suspected", "Borrows held past the leak threshold"),
)


class SnapshotCollector(Collector):
    """Turns one pool-stats snapshot and the account status counts into metric families."""

    def __init__(self, stats: Mapping[str, Any], account_counts: Mapping[str, int]) -> None:
        self._stats = stats
        self._accounts = account_counts

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        connections = GaugeMetricFamily(
            "tgfleet_pool_connections", "Pool connections by state", labels=["state"]
        )
        for state, key in (
            ("idle", "idle_connections"),
            ("active", "current_active_connections"),
            ("connecting", "connecting"),
            ("closing", "closing"),
        ):
            connections.add_metric([state], float(s.get(key, 0)))
        yield connections
        yield GaugeMetricFamily(
            "tgfleet_pool_waiting", "Borrowers waiting for a connection", value=s.get("waiting", 0)
        )
        yield GaugeMetricFamily(
            "tgfleet_pool_max_connections",
            "max_total_connections",
            value=s.get("max_total_connections", 0),
        )
        yield GaugeMetricFamily(
            "tgfleet_pool_accounts", "Accounts known to the pool", value=s.get("accounts", 0)
        )
        for key, name, text in _COUNTERS:
            yield CounterMetricFamily(name, text, value=float(s.get(key, 0)))
        evictions = CounterMetricFamily(
            "tgfleet_pool_evictions", "Connections retired, by reason", labels=["reason"]
        )
        for reason, count in sorted(dict(s.get("evictions", {})).items()):
            evictions.add_metric([str(reason)], float(count))
        yield evictions
        waits = GaugeMetricFamily(
            "tgfleet_pool_acquire_wait_seconds",
            "Acquire wait over the recent window, by quantile",
            labels=["quantile"],
        )
        for label, key in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
            waits.add_metric([label], float(dict(s.get("acquire_wait_seconds", {})).get(key, 0)))
        yield waits
        accounts = GaugeMetricFamily("tgfleet_accounts", "Accounts by status", labels=["status"])
        for status, count in sorted(self._accounts.items()):
            accounts.add_metric([status], float(count))
        yield accounts


def render(stats: Mapping[str, Any], account_counts: Mapping[str, int]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(stats, account_counts))
    return generate_latest(registry)
