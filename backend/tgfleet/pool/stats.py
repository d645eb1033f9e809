"""Counters kept as things happen, so reading the stats never scans the fleet."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


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
    waiting: int = 0
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

    def __post_init__(self) -> None:
        self._waits = deque(maxlen=self.window)

    @property
    def size(self) -> int:
        """Connections that hold a slot: idle + active + connecting."""
        return self.idle + self.active + self.connecting

    def record_wait(self, seconds: float) -> None:
        self._waits.append(seconds)
        self._sorted = None

    def wait_percentiles(self) -> dict[str, float]:
        if self._sorted is None:
            self._sorted = sorted(self._waits)
        ordered = self._sorted
        return {
            "p50": _percentile(ordered, 0.50),
            "p95": _percentile(ordered, 0.95),
            "p99": _percentile(ordered, 0.99),
        }

    def as_dict(self, max_total: int) -> dict[str, Any]:
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
            "waiting": self.waiting,
            "errors": self.total_errors,
            "timeouts": self.total_timeouts,
            "leaks_suspected": self.total_leaks,
            "evictions": dict(self.evictions),
            "last_sweep": dict(self.last_sweep),
            "max_total_connections": max_total,
            "utilization": self.active / max_total,
            "acquire_wait_seconds": self.wait_percentiles(),
        }
