"""Prometheus metrics, named like HikariCP's pool metrics, from the pool's own counters.

Nothing here scans the fleet: the pool keeps its gauges and totals as events happen
(``tgfleet.pool.stats``), the call meter (``services.meter``) and the HTTP middleware
(``api.http_metrics``) keep theirs, and a scrape reads those snapshots plus one GROUP BY over
accounts and the accounts flooded now (the fleet's flood gate, a dict of the flooded ones).
Per-account labels are left out on purpose: a fleet of thousands would make thousands of
series, and phone numbers do not belong in a metrics system.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tgfleet.api.http_metrics import HttpTotals
from tgfleet.services.meter import CallTotals, HistogramSnapshot

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

    def __init__(
        self,
        stats: Mapping[str, Any],
        account_counts: Mapping[str, int],
        *,
        calls: CallTotals | None = None,
        http: HttpTotals | None = None,
        floods_active: int | None = None,
    ) -> None:
        self._stats = stats
        self._accounts = account_counts
        self._calls = calls
        self._http = http
        self._floods_active = floods_active

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
        acquire = s.get("acquire_seconds")
        if acquire is not None:
            yield _histogram(
                "tgfleet_pool_acquire_seconds",
                "Time to borrow a connection (waiting and connecting included)",
                _pool_histogram(acquire),
            )
        accounts = GaugeMetricFamily("tgfleet_accounts", "Accounts by status", labels=["status"])
        for status, count in sorted(self._accounts.items()):
            accounts.add_metric([status], float(count))
        yield accounts
        if self._floods_active is not None:
            yield GaugeMetricFamily(
                "tgfleet_floods_active",
                "Accounts waiting out a FLOOD_WAIT now",
                value=self._floods_active,
            )
        if self._calls is not None:
            yield from _call_metrics(self._calls)
        if self._http is not None:
            yield from _http_metrics(self._http)


def _call_metrics(calls: CallTotals) -> Iterator[Metric]:
    floods = CounterMetricFamily(
        "tgfleet_flood_waits", "FLOOD_WAIT answers from Telegram, by method", labels=["method"]
    )
    for method, count in sorted(calls.floods_by_method.items()):
        floods.add_metric([method], float(count))
    yield floods
    requests = CounterMetricFamily(
        "tgfleet_telegram_requests", "Telegram calls through the pool", labels=["result"]
    )
    requests.add_metric(["ok"], float(calls.ok))
    requests.add_metric(["error"], float(calls.errors))
    yield requests
    errors = CounterMetricFamily(
        "tgfleet_telegram_errors",
        "Failed Telegram calls through the pool, by Telegram's error name or tgfleet's error",
        labels=["error"],
    )
    for name, count in sorted(calls.errors_by_name.items()):
        errors.add_metric([name], float(count))
    yield errors
    yield _histogram(
        "tgfleet_telegram_request_seconds",
        "Telegram calls through the pool, from acquire to answer",
        calls.seconds,
    )


def _http_metrics(http: HttpTotals) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "tgfleet_http_requests",
        "HTTP requests by method, route template and status code",
        labels=["method", "route", "status"],
    )
    for (method, route, status), count in sorted(http.requests.items()):
        requests.add_metric([method, route, status], float(count))
    yield requests
    yield _histogram(
        "tgfleet_http_request_seconds",
        "HTTP request durations (event streams left out: they stay open)",
        http.seconds,
    )


def _pool_histogram(raw: Mapping[str, Any]) -> HistogramSnapshot:
    """The pool's ``acquire_seconds`` dict: buckets ``[[le, cumulative], ...]``, sum, count."""
    buckets: Sequence[Sequence[float]] = raw.get("buckets", ())
    return HistogramSnapshot(
        tuple((float(le), int(n)) for le, n in buckets),
        float(raw.get("sum", 0.0)),
        int(raw.get("count", 0)),
    )


def _histogram(name: str, text: str, snap: HistogramSnapshot) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = [(_le(le), float(n)) for le, n in snap.buckets]
    buckets.append(("+Inf", float(snap.count)))
    return HistogramMetricFamily(name, text, buckets=buckets, sum_value=snap.sum)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def render(
    stats: Mapping[str, Any],
    account_counts: Mapping[str, int],
    *,
    calls: CallTotals | None = None,
    http: HttpTotals | None = None,
    floods_active: int | None = None,
) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        SnapshotCollector(
            stats, account_counts, calls=calls, http=http, floods_active=floods_active
        )
    )
    return generate_latest(registry)
