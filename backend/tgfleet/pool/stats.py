"""Counters kept as things happen, so reading the stats never scans the fleet."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

# Upper bounds, in seconds, of the acquire-wait histogram's buckets (Prometheus ``le``). A
# wait above the last one counts only in ``count``: that is the implied ``+Inf`` bucket, left
# out of the list because JSON has no infinity.
ACQUIRE_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
WAIT_FOLD_AT = 256


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass(slots=True)
class PoolCounters:
    """Global counts. Gauges (idle, active, ...) move with every state change of a connection;
    totals only grow."""

    window: int
    idle: int = 0
    active: int = 0
    connecting: int = 0
    closing: int = 0  # closed but the client's disconnect() has not finished
    total_created: int = 0
    total_reused: int = 0
    total_closed: int = 0
    total_errors: int = 0
    total_timeouts: int = 0
    total_leaks: int = 0
    evictions: Counter[str] = field(default_factory=Counter)
    last_sweep: dict[str, float] = field(default_factory=dict)
    _waits: deque[float] = field(init=False)
    _sorted: list[float] | None = None
    # Acquires per bucket of ACQUIRE_BUCKETS, not cumulative; the last slot is the +Inf
    # overflow. Unlike the window above, these count since start.
    _bucket_counts: list[int] = field(init=False)
    _wait_sum: float = 0.0
    # Waits recorded but not yet folded into the window and the histogram. Recording is one
    # append on every acquire (the hot path); the bucketing runs in batches, on reads or
    # every WAIT_FOLD_AT waits.
    pending_waits: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._waits = deque(maxlen=self.window)
        self._bucket_counts = [0] * (len(ACQUIRE_BUCKETS) + 1)

    @property
    def size(self) -> int:
        """Connections that hold a slot: idle + active + connecting."""
        return self.idle + self.active + self.connecting

    def record_wait(self, seconds: float) -> None:
        """One acquire completed after waiting ``seconds`` (timeouts count in total_timeouts)."""
        pending = self.pending_waits
        pending.append(seconds)
        if len(pending) >= WAIT_FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Move the waits recorded since the last fold into the window and the histogram."""
        pending = self.pending_waits
        if not pending:
            return
        self.pending_waits = []
        self._waits.extend(pending)
        self._sorted = None
        # Sorted (in C), a batch is bucketed by one bisection per bucket bound, not one per
        # wait: this runs for every acquire, a few hundred at a time.
        pending.sort()
        counts = self._bucket_counts
        below = 0
        for index, le in enumerate(ACQUIRE_BUCKETS):
            upto = bisect_right(pending, le, below)
            counts[index] += upto - below
            below = upto
        counts[-1] += len(pending) - below
        self._wait_sum += sum(pending)

    def acquire_histogram(self) -> dict[str, Any]:
        """``{"buckets": [[le, cumulative count], ...], "sum": s, "count": n}``."""
        self.fold()
        buckets: list[list[float]] = []
        cumulative = 0
        for le, n in zip(ACQUIRE_BUCKETS, self._bucket_counts, strict=False):
            cumulative += n
            buckets.append([le, cumulative])
        return {
            "buckets": buckets,
            "sum": self._wait_sum,
            "count": cumulative + self._bucket_counts[-1],
        }

    def wait_percentiles(self) -> dict[str, float]:
        self.fold()
        if self._sorted is None:
            self._sorted = sorted(self._waits)
        ordered = self._sorted
        return {
            "p50": _percentile(ordered, 0.50),
            "p95": _percentile(ordered, 0.95),
            "p99": _percentile(ordered, 0.99),
        }

    def as_dict(self, max_total: int, waiting: int) -> dict[str, Any]:
        size = self.size
        return {
            "total_connections_created": self.total_created,
            "total_connections_reused": self.total_reused,
            "total_connections_closed": self.total_closed,
            "current_pool_size": size,
            "current_active_connections": self.active,
            "idle_connections": self.idle,
            "connecting": self.connecting,
            "closing": self.closing,
            "waiting": waiting,
            "errors": self.total_errors,
            "timeouts": self.total_timeouts,
            "leaks_suspected": self.total_leaks,
            "evictions": dict(self.evictions),
            "last_sweep": dict(self.last_sweep),
            "max_total_connections": max_total,
            "utilization": self.active / max_total,
            "acquire_wait_seconds": self.wait_percentiles(),
            "acquire_seconds": self.acquire_histogram(),
        }
